package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// OtherValueSerde sets the serde of the right stream's values in a
// stream-stream join (Kafka Streams' StreamJoined.otherValueSerde): for
// the right side's buffer and its repartition topic. Its type must be the
// right stream's value type (checked by Build).
func OtherValueSerde[V any](s record.Serde[V]) Option {
	return optionFunc(func(o *options) {
		if s != nil {
			o.otherValue = s
		}
	})
}

// Join joins two streams within join windows (Kafka Streams'
// KStream.join(KStream, ValueJoiner, JoinWindows, StreamJoined)): a left
// record at t pairs with every right record of its key whose timestamp is
// in [t - w.Before(), t + w.After()], and a right record with every such
// left record, whichever comes first. Each pair yields joiner(left, right)
// with the key, the later of the two timestamps and the headers of the
// record that completed the pair. A record arriving after its window
// closed (its timestamp + the window's reach + grace behind stream time)
// still pairs with what the other side's buffer holds (retention: before
// + after + grace), as in Kafka Streams.
//
// Records with a null key or a null value are dropped and counted
// (DropNullKey, DropNullValue), as KIP-962 specifies for inner joins.
//
// A stream whose key may have changed is first repartitioned through
// <name>-left-repartition / <name>-right-repartition (Named), else, as in
// Kafka Streams, <node>-repartition after the stream's node name. Both
// inputs must be co-partitioned: Build fails with ErrNotCoPartitioned when
// their topics have declared partition counts (Partitions) that differ;
// the App checks the actual counts at start.
//
// Each side is buffered in a window store keeping duplicates for the
// join's retention (RocksDB and changelogged unless InMemory /
// WithoutLogging), read through an in-memory index of its last retention
// period and written once per commit (see window.JoinStores). The stores are named as Kafka Streams names them: with
// As(base), <base>-this-join-store and <base>-other-join-store; else after
// the generated processor names, KSTREAM-JOINTHIS-0000000004-store and
// KSTREAM-JOINOTHER-0000000005-store (listed by Builder.Unnamed). Named
// names the processors (<name>-this-join, <name>-other-join, and the
// <name>-merge node the output comes from) but not the stores, as in
// Kafka Streams.
//
// Options: Named, As, InMemory, WithoutLogging, KeySerde (keys of the
// stores and repartition topics), ValueSerde (the left values'),
// OtherValueSerde (the right values'), Partitions (of the repartition
// topics).
func Join[K, VL, VR, VO any](left Stream[K, VL], right Stream[K, VR], joiner func(l VL, r VR) VO, w window.JoinWindows, opts ...Option) Stream[K, VO] {
	if left.b == nil || isNil(left.b, "Join", joiner) {
		return Stream[K, VO]{}
	}
	return joinStreams(left, right, "Join", window.InnerJoin, func(_ K, l *VL, r *VR) VO { return joiner(*l, *r) }, w, opts)
}

// LeftJoin is Join keeping every left record (Kafka Streams'
// KStream.leftJoin(KStream, ...)): a left record that found no right record
// by the time its window closed (t + w.After() + grace < stream time)
// yields joiner(left, nil) once, with its own timestamp; it is never
// emitted early and never after a pair (no spurious results). The
// unmatched left records wait in a third store, <base>-left-shared-join-store
// with As, else KSTREAM-OUTERSHARED-<n>-store. r points at the right value
// only during the call: copy the value, not the pointer.
//
// Null keys follow KIP-962 (Kafka Streams 3.7 and later): a left record
// with a null key cannot pair, so it yields joiner(left, nil) at once, with
// its null key, timestamp and headers; a right record with a null key is
// dropped and counted (DropNullKey). Records with a null value are dropped
// and counted (DropNullValue). A repartition before the join drops null
// keys (counted under DropNullKeyBeforeRepartition).
func LeftJoin[K, VL, VR, VO any](left Stream[K, VL], right Stream[K, VR], joiner func(l VL, r *VR) VO, w window.JoinWindows, opts ...Option) Stream[K, VO] {
	if left.b == nil || isNil(left.b, "LeftJoin", joiner) {
		return Stream[K, VO]{}
	}
	return joinStreams(left, right, "LeftJoin", window.LeftJoin, func(_ K, l *VL, r *VR) VO { return joiner(*l, r) }, w, opts)
}

// OuterJoin is Join keeping every record of both sides (Kafka Streams'
// KStream.outerJoin(KStream, ...)): a record that found no pair by the time
// its window closed yields joiner(left, nil) or joiner(nil, right) once,
// with its own timestamp. Exactly one of l and r may be nil; they point at
// the values only during the call. The store names are those of LeftJoin
// with -outer-this-join, -outer-other-join and -outer-shared-join (As), or
// KSTREAM-OUTERTHIS-, KSTREAM-OUTEROTHER- and KSTREAM-OUTERSHARED-
// (generated).
//
// Null keys follow KIP-962: a record of either side with a null key yields
// joiner(left, nil) or joiner(nil, right) at once, keeping its null key,
// timestamp and headers. Null values are dropped and counted.
func OuterJoin[K, VL, VR, VO any](left Stream[K, VL], right Stream[K, VR], joiner func(l *VL, r *VR) VO, w window.JoinWindows, opts ...Option) Stream[K, VO] {
	if left.b == nil || isNil(left.b, "OuterJoin", joiner) {
		return Stream[K, VO]{}
	}
	return joinStreams(left, right, "OuterJoin", window.OuterJoin, func(_ K, l *VL, r *VR) VO { return joiner(l, r) }, w, opts)
}

// joinStreams adds a stream-stream join of kind: the repartitions, the two
// side processors of window.Join (wrapped for KIP-962's null keys on outer
// sides), their stores and the merge node, named as Kafka Streams'
// KStreamImpl.doJoin and KStreamImplJoin.join name them.
func joinStreams[K, VL, VR, VO any](left Stream[K, VL], right Stream[K, VR], op string, kind window.JoinKind,
	joiner window.Joiner[K, VL, VR, VO], w window.JoinWindows, opts []Option) Stream[K, VO] {
	b := left.b
	if !b.owns(op, right.b) {
		return Stream[K, VO]{}
	}
	o := collect(opts)
	lin, rin := left, right
	if left.keyChanged {
		base, generated := o.name+"-left", false
		if o.name == "" {
			base, generated = left.node, true
		}
		lin = partitionedByKey(left, base, generated, o, op)
	}
	if right.keyChanged {
		base, generated := o.name+"-right", false
		if o.name == "" {
			base, generated = right.node, true
		}
		ro := *o
		ro.valueSerde = o.otherValue
		rin = partitionedByKey(right, base, generated, &ro, op)
	}
	if o.partitions > 0 {
		if left.keyChanged {
			b.declarePartitions(lin.topics, o.partitions)
		}
		if right.keyChanged {
			b.declarePartitions(rin.topics, o.partitions)
		}
	}
	b.checkCoPartitioned(op, lin.topics, rin.topics)

	// Kafka Streams' order of generated names: two KSTREAM-WINDOWED-
	// processors (here the join processors buffer their own side, so they
	// are not nodes, but the counter still counts them), the two join
	// processors, then the merge node.
	leftOuter, rightOuter := kind != window.InnerJoin, kind == window.OuterJoin
	thisPrefix, otherPrefix, thisSuffix, otherSuffix := "KSTREAM-JOINTHIS-", "KSTREAM-JOINOTHER-", "-this-join", "-other-join"
	if rightOuter {
		thisPrefix, thisSuffix = "KSTREAM-OUTERTHIS-", "-outer-this-join"
	}
	if leftOuter {
		otherPrefix, otherSuffix = "KSTREAM-OUTEROTHER-", "-outer-other-join"
	}
	if o.name == "" {
		b.newName("KSTREAM-WINDOWED-")
		b.newName("KSTREAM-WINDOWED-")
	}
	thisGen, otherGen := b.newName(thisPrefix), b.newName(otherPrefix)
	thisName, otherName, mergeName := thisGen, otherGen, o.name+"-merge"
	if o.name != "" {
		thisName, otherName = o.name+thisSuffix, o.name+otherSuffix
	} else {
		mergeName = b.newName("KSTREAM-MERGE-")
	}
	names := window.JoinStoreNames{Left: thisGen + "-store", Right: otherGen + "-store"}
	sharedSuffix := "-left-shared-join"
	if rightOuter {
		sharedSuffix = "-outer-shared-join"
	}
	if leftOuter {
		names.Unmatched = "KSTREAM-OUTERSHARED-" + thisGen[len(thisPrefix):] + "-store"
	}
	if o.store != "" {
		names.Left, names.Right = o.store+thisSuffix+"-store", o.store+otherSuffix+"-store"
		if leftOuter {
			names.Unmatched = o.store + sharedSuffix + "-store"
		}
	} else {
		for _, n := range []string{names.Left, names.Right, names.Unmatched} {
			if n != "" {
				b.unnamed = append(b.unnamed, "store "+n)
			}
		}
	}

	what := fmt.Sprintf("%s %q (stores)", op, thisName)
	keys := lin.keys
	if keys == nil {
		keys = rin.keys
	}
	ks := serdeFor[K](b, o.keySerde, keys, what, "keys")
	ls := serdeFor[VL](b, o.valueSerde, lin.values, what, "left values")
	rs := serdeFor[VR](b, o.otherValue, rin.values, what, "right values")

	lp, rp := window.Join(kind, w, names, joiner, ks, ls, rs)
	stores := []string{names.Left, names.Right}
	if names.Unmatched != "" {
		stores = append(stores, names.Unmatched)
	}
	processor.AddProcessor(b.pb, thisName, outerNullKeys(lp, leftOuter, func(l VL) VO { return joiner(*new(K), &l, nil) }), lin.node).
		WithStores(stores...)
	processor.AddProcessor(b.pb, otherName, outerNullKeys(rp, rightOuter, func(r VR) VO { return joiner(*new(K), nil, &r) }), rin.node).
		WithStores(stores...)
	processor.AddProcessor(b.pb, mergeName, processor.Func(func(ctx processor.Context[K, VO], r record.Record[K, VO]) error {
		return ctx.Forward(r)
	}), thisName, otherName)
	if ks != nil && ls != nil && rs != nil {
		for _, sb := range window.JoinStores(o.windowBackend(), o.keyValueBackend(), names, w, ks, ls, rs) {
			if o.noLogging {
				withoutLogging[K, VL, VR](sb)
			}
			b.pb.AddStore(sb)
		}
	}
	topics := append(append([]string(nil), lin.topics...), rin.topics...)
	return Stream[K, VO]{b: b, node: mergeName, keys: ks, values: registered[VO](b), topics: topics}
}

// withoutLogging turns the changelog of a join store builder off.
func withoutLogging[K, VL, VR any](sb store.Builder) {
	switch sb := sb.(type) {
	case *window.JoinBufferBuilder[K, VL]:
		sb.WithLoggingDisabled()
	case *window.JoinBufferBuilder[K, VR]:
		sb.WithLoggingDisabled()
	case interface{ WithLoggingDisabled() }: // the unmatched buffer
		sb.WithLoggingDisabled()
	}
}

// outerNullKeys wraps the join processor of an outer side (the left of a
// left join, both of an outer join) so that a record with a null key and a
// value is joined with nothing and forwarded at once, as Kafka Streams'
// KStreamKStreamJoin does since KIP-962: no record of the other side can
// have its key. Inner sides are returned as they are.
func outerNullKeys[K, V, VO any](join processor.Supplier[K, V, K, VO], outer bool, alone func(V) VO) processor.Supplier[K, V, K, VO] {
	if !outer {
		return join
	}
	return func() processor.Processor[K, V, K, VO] {
		return &nullKeyOuter[K, V, VO]{inner: join(), alone: alone}
	}
}

type nullKeyOuter[K, V, VO any] struct {
	inner processor.Processor[K, V, K, VO]
	alone func(V) VO
	ctx   processor.Context[K, VO]
}

func (p *nullKeyOuter[K, V, VO]) Init(ctx processor.Context[K, VO]) error {
	p.ctx = ctx
	return p.inner.Init(ctx)
}

func (p *nullKeyOuter[K, V, VO]) Process(r record.Record[K, V]) error {
	if r.KeyIsNull() && !r.ValueIsNull() {
		return p.ctx.Forward(record.WithValue(r, p.alone(r.Value())))
	}
	return p.inner.Process(r)
}

func (p *nullKeyOuter[K, V, VO]) Close() error { return p.inner.Close() }
