package dsl

import (
	"bytes"
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// GroupedTable is a table re-keyed for aggregation (CountTable,
// ReduceTable, AggregateTable): a stream of (new key, Change) that the
// aggregation writes through a repartition topic, so each new key's
// changes reach one task. The zero GroupedTable belongs to no builder.
type GroupedTable[K, V any] struct {
	s      Stream[K, Change[V]]
	values record.Serde[V]
	o      *options
	// ok is false when a serde is missing (already reported): the
	// aggregation then declares nothing.
	ok bool
}

// GroupTableBy re-keys the table for aggregation with fn, which maps each
// entry to its group's key and the value the group aggregates (Kafka
// Streams' KTable.groupBy, KTableRepartitionMap). An entry's update is
// subtracted from the group of its old value and added to the group of its
// new one: when both map to the same group key, one record carries both;
// otherwise the subtraction is sent first. The aggregation always
// repartitions, through <name>-repartition (name: Named's, else the
// aggregation's store name).
//
// Options: Named (the selecting processor and the repartition topic),
// KeySerde and ValueSerde (for KR and VR; they are needed to write the
// repartition topic, so a type without one given or registered is a Build
// error), Partitions (the repartition topic's count).
func GroupTableBy[K, V, KR, VR any](t Table[K, V], fn func(key K, value V) (KR, VR), opts ...Option) GroupedTable[KR, VR] {
	if t.b == nil || isNil(t.b, "GroupTableBy", fn) {
		return GroupedTable[KR, VR]{}
	}
	b := t.b
	o := collect(opts)
	ks := serdeFor[KR](b, o.keySerde, keep[KR](b, t.keys), "GroupTableBy (repartition)", "keys")
	vs := serdeFor[VR](b, o.valueSerde, keep[VR](b, t.values), "GroupTableBy (repartition)", "values")
	name := b.nodeName(o, "KTABLE-SELECT-")
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, Change[V], KR, Change[VR]] {
		return &tableRepartitionMap[K, V, KR, VR]{fn: fn, keys: ks}
	}, t.node)
	s := Stream[KR, Change[VR]]{b: b, node: name, keys: ks, values: newChangeSerde(vs), keyChanged: true, topics: t.topics}
	return GroupedTable[KR, VR]{s: s, values: vs, o: o, ok: ks != nil && vs != nil}
}

// tableRepartitionMap is Kafka Streams' KTableRepartitionMap processor.
type tableRepartitionMap[K, V, KR, VR any] struct {
	fn         func(K, V) (KR, VR)
	keys       record.Serde[KR]
	ctx        processor.Context[KR, Change[VR]]
	bufA, bufB []byte
}

func (p *tableRepartitionMap[K, V, KR, VR]) Init(ctx processor.Context[KR, Change[VR]]) error {
	p.ctx = ctx
	return nil
}

func (p *tableRepartitionMap[K, V, KR, VR]) Process(r record.Record[K, Change[V]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	c := r.Value()
	var newK, oldK KR
	var newV, oldV VR
	if c.HasNew {
		newK, newV = p.fn(r.Key(), c.New)
	}
	if c.HasOld {
		oldK, oldV = p.fn(r.Key(), c.Old)
	}
	if c.HasNew && c.HasOld && p.sameKey(newK, oldK) {
		return p.ctx.Forward(record.WithValue(record.WithKey(r, newK), Change[VR]{New: newV, Old: oldV, HasNew: true, HasOld: true}))
	}
	if c.HasOld {
		if err := p.ctx.Forward(record.WithValue(record.WithKey(r, oldK), Change[VR]{Old: oldV, HasOld: true})); err != nil {
			return err
		}
	}
	if c.HasNew {
		return p.ctx.Forward(record.WithValue(record.WithKey(r, newK), Change[VR]{New: newV, HasNew: true}))
	}
	return nil
}

// sameKey compares keys as the repartition topic does: by their bytes
// (KR need not be comparable). Keys that do not serialize count as
// different, so the sink reports the error.
func (p *tableRepartitionMap[K, V, KR, VR]) sameKey(a, b KR) bool {
	var err error
	if p.bufA, err = p.keys.Serialize(p.bufA[:0], a); err != nil || p.bufA == nil {
		return false
	}
	if p.bufB, err = p.keys.Serialize(p.bufB[:0], b); err != nil || p.bufB == nil {
		return false
	}
	return bytes.Equal(p.bufA, p.bufB)
}

func (p *tableRepartitionMap[K, V, KR, VR]) Close() error { return nil }

// CountTable counts the entries of each group (Kafka Streams'
// KGroupedTable.count): an entry moving to another group decrements the
// old group's count and increments the new one's; a deleted entry
// decrements its group's. A group whose count drops to 0 keeps the entry
// 0, as in Kafka Streams. The result is a table materialized in its own
// queryable store (As names it, else KTABLE-AGGREGATE-STATE-STORE-
// 0000000NNN), RocksDB, cached and logged by default; it forwards each
// group's Change once per commit while cached. Options: As, Named,
// InMemory, WithoutCaching, WithoutLogging.
func CountTable[K, V any](g GroupedTable[K, V], opts ...Option) Table[K, int64] {
	if g.s.b == nil {
		return Table[K, int64]{}
	}
	return aggregateTable(g, "CountTable", "KTABLE-AGGREGATE-", func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 }, func(_ K, _ V, n int64) int64 { return n - 1 },
		record.Int64(), opts)
}

// ReduceTable folds each group's values (Kafka Streams'
// KGroupedTable.reduce): a group's first value is its aggregate, later
// ones are added with adder(agg, value), and a value leaving the group
// (an entry's old value: the entry changed, moved or was deleted) is
// removed with subtractor(agg, value) before the new one is added. The
// result is as CountTable's (store KTABLE-REDUCE-STATE-STORE-0000000NNN
// unless As), plus ValueSerde for the store.
func ReduceTable[K, V any](g GroupedTable[K, V], adder, subtractor func(agg, value V) V, opts ...Option) Table[K, V] {
	if g.s.b == nil || isNil(g.s.b, "ReduceTable", adder) || isNil(g.s.b, "ReduceTable", subtractor) {
		return Table[K, V]{}
	}
	return aggregateTable(g, "ReduceTable", "KTABLE-REDUCE-", nil,
		func(_ K, v V, agg V) V { return adder(agg, v) }, func(_ K, v V, agg V) V { return subtractor(agg, v) },
		g.values, opts)
}

// AggregateTable folds each group's values into an aggregate (Kafka
// Streams' KGroupedTable.aggregate): init makes a group's first
// aggregate, adder adds a value joining the group, subtractor removes one
// leaving it (subtract first, then add, for an entry that changed within
// the group). The result is as CountTable's, plus ValueSerde for the
// aggregate (or register one for VA).
func AggregateTable[K, V, VA any](g GroupedTable[K, V], init func() VA, adder, subtractor func(key K, value V, agg VA) VA, opts ...Option) Table[K, VA] {
	if g.s.b == nil || isNil(g.s.b, "AggregateTable", init) || isNil(g.s.b, "AggregateTable", adder) ||
		isNil(g.s.b, "AggregateTable", subtractor) {
		return Table[K, VA]{}
	}
	return aggregateTable(g, "AggregateTable", "KTABLE-AGGREGATE-", init, adder, subtractor, registered[VA](g.s.b), opts)
}

// aggregateTable adds the repartition and the aggregation of a grouped
// table. A nil init means the first value starts the aggregate (Reduce).
func aggregateTable[K, V, VA any](g GroupedTable[K, V], op, prefix string, init func() VA, add, sub func(K, V, VA) VA,
	vaSerde record.Serde[VA], opts []Option) Table[K, VA] {
	b := g.s.b
	o := collect(opts)
	storeName := b.storeName(o, prefix+"STATE-STORE-")
	// Kafka Streams' order of generated names: store, repartition sink and
	// source (unless the aggregation is named), processor.
	var nodes repartitionNodes
	if o.name == "" {
		nodes.sink, nodes.source = b.newName("KSTREAM-SINK-"), b.newName("KSTREAM-SOURCE-")
	}
	name := b.nodeName(o, prefix)
	vas := serdeFor[VA](b, o.valueSerde, vaSerde, fmt.Sprintf("%s %q (store)", op, storeName), "aggregates")
	if !g.ok {
		return Table[K, VA]{}
	}
	base := g.o.name
	if base == "" {
		base = storeName
		if o.store == "" {
			b.unnamed = append(b.unnamed, "topic "+base+"-repartition")
		}
	}
	// The repartition topic's serdes are the grouping's (a KR serde and the
	// Change serde over its VR serde), never the aggregation's options.
	topic := base + "-repartition"
	if nodes.sink == "" {
		nodes.sink, nodes.source = topic+"-sink", topic+"-source"
	}
	nodes.filter = topic + "-filter"
	in := repartition(g.s, base, nodes, g.o.partitions, &options{}, op)
	if g.o.partitions > 0 {
		b.declarePartitions(in.topics, g.o.partitions)
	}
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, Change[V], K, Change[VA]] {
		return &tableAggregate[K, V, VA]{storeName: storeName, init: init, add: add, sub: sub}
	}, in.node)
	if sb := tableStore(storeName, o, in.keys, vas); sb != nil {
		b.pb.AddStore(sb, name)
	}
	return Table[K, VA]{b: b, node: name, keys: in.keys, values: vas, get: storeGetter[K, VA](storeName),
		getStores: []string{storeName}, store: storeName, topics: in.topics}
}

// tableAggregate is Kafka Streams' KTableAggregate / KTableReduce: the old
// value is subtracted (if the group has an aggregate), then the new one
// added.
type tableAggregate[K, V, VA any] struct {
	storeName string
	init      func() VA
	add, sub  func(K, V, VA) VA
	ctx       processor.Context[K, Change[VA]]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[VA]]
	cached    bool
}

func (a *tableAggregate[K, V, VA]) Init(ctx processor.Context[K, Change[VA]]) error {
	a.ctx = ctx
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[VA]](ctx, a.storeName)
	if err != nil {
		return err
	}
	a.s = s
	return listenForChanges(ctx, s, &a.cached)
}

func (a *tableAggregate[K, V, VA]) Process(r record.Record[K, Change[V]]) error {
	if dropNulls(a.ctx, r) {
		return nil
	}
	c := r.Value()
	old, found, err := a.s.Get(r.Key())
	if err != nil {
		return err
	}
	agg, has, ts := old.Value, found, r.Timestamp()
	if c.HasOld && found {
		agg, ts = a.sub(r.Key(), c.Old, agg), max(ts, old.Timestamp)
	}
	if c.HasNew {
		switch {
		case has:
			agg = a.add(r.Key(), c.New, agg)
		case a.init == nil: // Reduce: the first value is the aggregate
			if v, ok := any(c.New).(VA); ok {
				agg = v
			}
		default:
			agg = a.add(r.Key(), c.New, a.init())
		}
		has = true
		if found {
			ts = max(ts, old.Timestamp)
		}
	}
	if !has {
		return nil // an old value for a group without an aggregate: nothing to undo
	}
	nv := store.ValueAndTimestamp[VA]{Value: agg, Timestamp: ts}
	if err := a.s.Put(r.Key(), nv); err != nil {
		return err
	}
	if a.cached {
		return nil
	}
	var ov *store.ValueAndTimestamp[VA]
	if found {
		ov = &old
	}
	return forwardChangeOf(a.ctx, r, &nv, ov, ts)
}

func (a *tableAggregate[K, V, VA]) Close() error { return nil }
