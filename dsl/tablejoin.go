package dsl

import (
	"fmt"
	"slices"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// JoinTables joins two tables on their key (Kafka Streams' KTable.join): a
// key has a result while both sides have a value, joiner(left, right).
// The tables must be co-partitioned (same key, same partition count and
// partitioner); no repartition is inserted. The result updates whenever
// either side changes: the change carries the new result and the result it
// replaces, so a side's delete retracts the key's result. A result's
// timestamp is the larger of the two sides'. The result's value getter
// joins the sides' getters, unless As materializes it into its own
// queryable store (cached unless WithoutCaching).
//
// Build fails with ErrNotCoPartitioned when both sides' source topics have
// declared partition counts (Partitions) that differ; otherwise the App
// checks the counts at start.
//
// Options: Named (the merge node; the side processors are
// <name>-join-this and <name>-join-other), As, InMemory, WithoutCaching,
// WithoutLogging, ValueSerde (the store's, or register one for VO).
func JoinTables[K, VL, VR, VO any](left Table[K, VL], right Table[K, VR], joiner func(l VL, r VR) VO, opts ...Option) Table[K, VO] {
	if left.b == nil || isNil(left.b, "JoinTables", joiner) {
		return Table[K, VO]{}
	}
	return joinTables(left, right, "JoinTables", "KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-", func(l *VL, r *VR) (VO, bool) {
		if l == nil || r == nil {
			var zero VO
			return zero, false
		}
		return joiner(*l, *r), true
	}, opts)
}

// LeftJoinTables is JoinTables keeping every key of left: a key has a
// result while left has a value, joiner(left, right), with right nil when
// right has no value for the key. A right-side delete turns the result
// into joiner(left, nil); a left-side delete retracts it.
func LeftJoinTables[K, VL, VR, VO any](left Table[K, VL], right Table[K, VR], joiner func(l VL, r *VR) VO, opts ...Option) Table[K, VO] {
	if left.b == nil || isNil(left.b, "LeftJoinTables", joiner) {
		return Table[K, VO]{}
	}
	return joinTables(left, right, "LeftJoinTables", "KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-", func(l *VL, r *VR) (VO, bool) {
		if l == nil {
			var zero VO
			return zero, false
		}
		return joiner(*l, r), true
	}, opts)
}

// OuterJoinTables is JoinTables keeping every key of either side: a key
// has a result while either side has a value, joiner(left, right), with
// nil for the side that has none; the result is retracted once both are
// deleted.
func OuterJoinTables[K, VL, VR, VO any](left Table[K, VL], right Table[K, VR], joiner func(l *VL, r *VR) VO, opts ...Option) Table[K, VO] {
	if left.b == nil || isNil(left.b, "OuterJoinTables", joiner) {
		return Table[K, VO]{}
	}
	return joinTables(left, right, "OuterJoinTables", "KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-", func(l *VL, r *VR) (VO, bool) {
		if l == nil && r == nil {
			var zero VO
			return zero, false
		}
		return joiner(l, r), true
	}, opts)
}

// tableJoiner joins a key's two sides (nil: absent) into a result, or
// reports that the key has none.
type tableJoiner[VL, VR, VO any] func(l *VL, r *VR) (VO, bool)

// joinTables adds the two side processors (each joins its side's changes
// with the other side's current value, read through the other's getter,
// whose stores it is connected to) and the merge node.
func joinTables[K, VL, VR, VO any](left Table[K, VL], right Table[K, VR], op, thisPrefix, otherPrefix string, join tableJoiner[VL, VR, VO], opts []Option) Table[K, VO] {
	b := left.b
	if !b.owns(op, right.b) {
		return Table[K, VO]{}
	}
	if missingGetter(b, op, left.get, right.get) {
		return Table[K, VO]{}
	}
	o := collect(opts)
	b.checkCoPartitioned(op, left.topics, right.topics)
	mergeName, thisName, otherName := o.name, o.name+"-join-this", o.name+"-join-other"
	if o.name == "" {
		mergeName = b.newName("KTABLE-MERGE-")
		thisName, otherName = b.newName(thisPrefix), b.newName(otherPrefix)
	}
	processor.AddProcessor(b.pb, thisName, func() processor.Processor[K, Change[VL], K, Change[VO]] {
		return &tableJoinSide[K, VL, VR, VO]{other: right.get, join: join}
	}, left.node).WithStores(right.getStores...)
	processor.AddProcessor(b.pb, otherName, func() processor.Processor[K, Change[VR], K, Change[VO]] {
		return &tableJoinSide[K, VR, VL, VO]{other: left.get, join: func(r *VR, l *VL) (VO, bool) { return join(l, r) }}
	}, right.node).WithStores(left.getStores...)

	out := Table[K, VO]{b: b, node: mergeName, keys: left.keys, values: serdeOption[VO](b, o.valueSerde, registered[VO](b), op, "values"),
		topics: append(slices.Clone(left.topics), right.topics...)}
	if o.store != "" {
		sop := fmt.Sprintf("%s %q (store)", op, o.store)
		ks := serdeFor[K](b, o.keySerde, left.keys, sop, "keys")
		out.values = serdeFor[VO](b, o.valueSerde, registered[VO](b), sop, "values")
		if sb := tableStore(o.store, o, ks, out.values); sb != nil {
			b.pb.AddStore(sb, mergeName)
		}
		out.store, out.get, out.getStores = o.store, storeGetter[K, VO](o.store), []string{o.store}
	} else {
		lget, rget := left.get, right.get
		out.get = func(ctx processor.StoreProvider, flushed bool) (valueGetter[K, VO], error) {
			gl, err := lget(ctx, flushed)
			if err != nil {
				return nil, err
			}
			gr, err := rget(ctx, flushed)
			if err != nil {
				return nil, err
			}
			return func(key K) (VO, int64, bool, error) {
				var zero VO
				l, lts, lok, err := gl(key)
				if err != nil {
					return zero, 0, false, err
				}
				r, rts, rok, err := gr(key)
				if err != nil {
					return zero, 0, false, err
				}
				var lp *VL
				var rp *VR
				ts := record.UnknownTime
				if lok {
					lp, ts = &l, lts
				}
				if rok {
					rp, ts = &r, max(ts, rts)
				}
				v, ok := join(lp, rp)
				return v, ts, ok, nil
			}, nil
		}
		out.getStores = uniq(append(slices.Clone(left.getStores), right.getStores...))
	}
	storeName := out.store
	processor.AddProcessor(b.pb, mergeName, func() processor.Processor[K, Change[VO], K, Change[VO]] {
		return &tableJoinMerge[K, VO]{storeName: storeName}
	}, thisName, otherName)
	return out
}

// missingGetter reports a table handle that cannot be read (the zero
// Table, or one built outside the DSL).
func missingGetter[K, VL, VR any](b *Builder, op string, l getterSupplier[K, VL], r getterSupplier[K, VR]) bool {
	if l == nil || r == nil {
		b.problem(fmt.Errorf("%w: %s: a table handle without a value getter (the zero Table?)", ErrInvalidOperator, op))
		return true
	}
	return false
}

func uniq(names []string) []string {
	out := names[:0]
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkCoPartitioned reports, for a join of inputs read from topics a and
// b, every pair whose declared partition counts differ.
func (b *Builder) checkCoPartitioned(op string, as, bs []string) {
	for _, ta := range as {
		na, ok := b.partitions[ta]
		if !ok {
			continue
		}
		for _, tb := range bs {
			if nb, ok := b.partitions[tb]; ok && na != nb {
				b.problem(fmt.Errorf("%w: %s: topic %q has %d partitions, topic %q has %d", ErrNotCoPartitioned, op, ta, na, tb, nb))
			}
		}
	}
}

// tableJoinSide joins one side's changes with the other side's current
// value (Kafka Streams' KTableKTableJoin / LeftJoin / RightJoin /
// OuterJoin processors, old values always sent): the new result from the
// side's new value, the old result from its old value (an absent value
// joins as nil), either absent when the join has none; nothing is
// forwarded when both are absent.
type tableJoinSide[K, VA, VB, VO any] struct {
	other getterSupplier[K, VB]
	join  func(a *VA, b *VB) (VO, bool)
	get   valueGetter[K, VB]
	ctx   processor.Context[K, Change[VO]]
}

func (p *tableJoinSide[K, VA, VB, VO]) Init(ctx processor.Context[K, Change[VO]]) error {
	p.ctx = ctx
	get, err := p.other(ctx, true) // as forwarded: see getterSupplier
	if err != nil {
		return err
	}
	p.get = get
	return nil
}

func (p *tableJoinSide[K, VA, VB, VO]) Process(r record.Record[K, Change[VA]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	otherValue, ots, found, err := p.get(r.Key())
	if err != nil {
		return err
	}
	var other *VB
	ts := r.Timestamp()
	if found {
		other, ts = &otherValue, max(ts, ots)
	}
	// The side's absent value joins too: for the right side of a left join
	// (or either side of an outer join), "no value" still has a result.
	c := r.Value()
	var nv, ov *VA
	if c.HasNew {
		nv = &c.New
	}
	if c.HasOld {
		ov = &c.Old
	}
	var out Change[VO]
	out.New, out.HasNew = p.join(nv, other)
	out.Old, out.HasOld = p.join(ov, other)
	if !out.HasNew && !out.HasOld {
		return nil
	}
	res, err := record.WithValue(r, out).WithTimestamp(ts)
	if err != nil {
		return err
	}
	return p.ctx.Forward(res)
}

func (p *tableJoinSide[K, VA, VB, VO]) Close() error { return nil }

// tableJoinMerge forwards both sides' results (Kafka Streams'
// KTableKTableJoinMerger), writing them to the join's store when it is
// materialized: then, with the cache on, it forwards on the cache's flush.
type tableJoinMerge[K, VO any] struct {
	storeName string
	ctx       processor.Context[K, Change[VO]]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[VO]]
	cached    bool
}

func (m *tableJoinMerge[K, VO]) Init(ctx processor.Context[K, Change[VO]]) error {
	m.ctx = ctx
	if m.storeName == "" {
		return nil
	}
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[VO]](ctx, m.storeName)
	if err != nil {
		return err
	}
	m.s = s
	return listenForChanges(ctx, s, &m.cached)
}

func (m *tableJoinMerge[K, VO]) Process(r record.Record[K, Change[VO]]) error {
	if m.s != nil {
		if err := putChange(m.s, r.Key(), r.Value(), r.Timestamp()); err != nil {
			return err
		}
		if m.cached {
			return nil
		}
	}
	return m.ctx.Forward(r)
}

func (m *tableJoinMerge[K, VO]) Close() error { return nil }
