package dsl

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// Reasons aggregations and joins count dropped records under.
const (
	DropNullKey   = window.DropNullKey
	DropNullValue = window.DropNullValue
	DropNoMatch   = window.DropNoMatch
)

// Count counts the records of each key (null keys and null values are
// dropped and counted, as in Kafka Streams). The result is a table whose
// store (As names it; RocksDB, cached and logged by default) is
// queryable. Options: As, Named, InMemory, WithoutCaching, WithoutLogging.
func Count[K, V any](g GroupedStream[K, V], opts ...Option) Table[K, int64] {
	return aggregate(g, "Count", func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 },
		append(opts, ValueSerde(record.Int64()))...)
}

// Reduce folds the values of each key with fn(aggregate, value); the
// first value is the first aggregate. Options as for Count, plus
// ValueSerde for the store.
func Reduce[K, V any](g GroupedStream[K, V], fn func(agg, value V) V, opts ...Option) Table[K, V] {
	if g.s.b == nil || isNil(g.s.b, "Reduce", fn) {
		return Table[K, V]{}
	}
	// The store's values are the stream's: the grouping's value serde (as
	// Kafka Streams' Grouped) serves the store too, else the stream's.
	vs := g.s.values
	if g.o.valueSerde != nil {
		if s, ok := g.o.valueSerde.(record.Serde[V]); ok {
			vs = s
		} else if !g.s.keyChanged { // else the repartition reports it
			serdeOption[V](g.s.b, g.o.valueSerde, nil, "Reduce", "values")
		}
	}
	return aggregateWith(g, "Reduce", "KSTREAM-REDUCE-", nil, func(_ K, v V, agg V) V { return fn(agg, v) }, vs, opts)
}

// Aggregate folds the values of each key into an aggregate: init makes the
// first one, add adds a value. Options as for Count, plus ValueSerde for
// the aggregate (or register one for VA).
func Aggregate[K, V, VA any](g GroupedStream[K, V], init func() VA, add func(key K, value V, agg VA) VA, opts ...Option) Table[K, VA] {
	if g.s.b == nil || isNil(g.s.b, "Aggregate", init) || isNil(g.s.b, "Aggregate", add) {
		return Table[K, VA]{}
	}
	return aggregate(g, "Aggregate", init, add, opts...)
}

func aggregate[K, V, VA any](g GroupedStream[K, V], op string, init func() VA, add func(K, V, VA) VA, opts ...Option) Table[K, VA] {
	if g.s.b == nil {
		return Table[K, VA]{}
	}
	return aggregateWith(g, op, "KSTREAM-AGGREGATE-", init, add, registered[VA](g.s.b), opts)
}

// aggregateWith adds the aggregation of a grouped stream: the repartition
// if the key changed, the processor and its store. A nil init means the
// first value starts the aggregate (Reduce). As in Kafka Streams, the
// store's name is generated before the processor's (then the repartition's).
func aggregateWith[K, V, VA any](g GroupedStream[K, V], op, prefix string, init func() VA, add func(K, V, VA) VA, vaSerde record.Serde[VA], opts []Option) Table[K, VA] {
	b := g.s.b
	o := collect(opts)
	storeName := b.storeName(o, prefix+"STATE-STORE-")
	name := b.nodeName(o, prefix)
	in := groupedInput(g, storeName, o, op)
	ks := serdeFor[K](b, g.o.keySerde, in.keys, fmt.Sprintf("%s %q (store)", op, storeName), "keys")
	vas := serdeFor[VA](b, o.valueSerde, vaSerde, fmt.Sprintf("%s %q (store)", op, storeName), "aggregates")
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, V, K, Change[VA]] {
		return &streamAggregate[K, V, VA]{storeName: storeName, init: init, add: add}
	}, in.node)
	if sb := tableStore(storeName, o, ks, vas); sb != nil {
		b.pb.AddStore(sb, name)
	}
	return Table[K, VA]{b: b, node: name, keys: ks, values: vas, get: storeGetter[K, VA](storeName),
		getStores: []string{storeName}, store: storeName, topics: in.topics}
}

// groupedInput returns the stream an aggregation of g reads: g's own
// when its key is unchanged, else the one read back from its repartition
// topic, named after the grouping (Named), else the store; a named
// grouping's topic is declared once and shared by its aggregations.
func groupedInput[K, V any](g GroupedStream[K, V], storeName string, o *options, op string) Stream[K, V] {
	if g.o.name != "" && g.named != nil && g.named.b != nil {
		return *g.named
	}
	base, generated := g.o.name, false
	if base == "" {
		base, generated = storeName, o.store == ""
	}
	in := partitionedByKey(g.s, base, generated, g.o, op)
	if g.o.name != "" && g.named != nil && g.s.keyChanged {
		*g.named = in
	}
	return in
}

// streamAggregate folds a grouped stream into a timestamped store and
// forwards each key's changes: on the cache's flush when the store is
// cached (one per key per commit), else per record.
type streamAggregate[K, V, VA any] struct {
	storeName string
	init      func() VA
	add       func(K, V, VA) VA
	ctx       processor.Context[K, Change[VA]]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[VA]]
	cached    bool
}

func (a *streamAggregate[K, V, VA]) Init(ctx processor.Context[K, Change[VA]]) error {
	a.ctx = ctx
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[VA]](ctx, a.storeName)
	if err != nil {
		return err
	}
	a.s = s
	return listenForChanges(ctx, s, &a.cached)
}

// listenForChanges forwards a cached store's flushed entries as Changes;
// cached reports whether the store has a cache (else the caller forwards).
func listenForChanges[K, VA any](ctx processor.Context[K, Change[VA]], s store.KeyValueStore[K, store.ValueAndTimestamp[VA]], cached *bool) error {
	err := store.SetFlushListener(s, true, func(key K, nv, ov *store.ValueAndTimestamp[VA], ts int64) error {
		return forwardChange(ctx, key, nv, ov, ts)
	})
	switch {
	case errors.Is(err, store.ErrNotCached):
		*cached = false
		return nil
	case err != nil:
		return err
	}
	*cached = true
	return nil
}

// changeOf is the change from ov to nv (nil: absent) and its timestamp:
// nv's, else ts. ok is false when both are absent.
func changeOf[VA any](nv, ov *store.ValueAndTimestamp[VA], ts int64) (c Change[VA], at int64, ok bool) {
	if nv != nil {
		c.New, c.HasNew, ts = nv.Value, true, nv.Timestamp
	}
	if ov != nil {
		c.Old, c.HasOld = ov.Value, true
	}
	return c, ts, c.HasNew || c.HasOld
}

// forwardChange forwards key's change from ov to nv, flushed from a cache
// (no record is being processed: the change gets a record of its own).
func forwardChange[K, VA any](ctx processor.Context[K, Change[VA]], key K, nv, ov *store.ValueAndTimestamp[VA], ts int64) error {
	c, ts, ok := changeOf(nv, ov, ts)
	if !ok {
		return nil
	}
	r, err := record.New(key, c, max(ts, 0))
	if err != nil {
		return err
	}
	return ctx.Forward(r)
}

// forwardChangeOf forwards the change r caused, from ov to nv, as r's
// successor: same key and headers, the change's timestamp.
func forwardChangeOf[K, V, VA any](ctx processor.Context[K, Change[VA]], r record.Record[K, V], nv, ov *store.ValueAndTimestamp[VA], ts int64) error {
	c, ts, ok := changeOf(nv, ov, ts)
	if !ok {
		return nil
	}
	out := record.WithValue(r, c)
	if ts != r.Timestamp() {
		var err error
		if out, err = out.WithTimestamp(max(ts, 0)); err != nil {
			return err
		}
	}
	return ctx.Forward(out)
}

func (a *streamAggregate[K, V, VA]) Process(r record.Record[K, V]) error {
	if dropNulls(a.ctx, r) {
		return nil
	}
	old, found, err := a.s.Get(r.Key())
	if err != nil {
		return err
	}
	var agg VA
	ts := r.Timestamp()
	switch {
	case found:
		agg, ts = a.add(r.Key(), r.Value(), old.Value), max(ts, old.Timestamp)
	case a.init == nil: // Reduce: the first value is the aggregate
		if v, ok := any(r.Value()).(VA); ok {
			agg = v
		}
	default:
		agg = a.add(r.Key(), r.Value(), a.init())
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

func (a *streamAggregate[K, V, VA]) Close() error { return nil }

// dropNulls drops (counts, logs at debug) a record with a null key or a
// null value, which aggregations and inner joins ignore.
func dropNulls[KO, VO, K, V any](ctx processor.Context[KO, VO], r record.Record[K, V]) bool {
	reason := ""
	switch {
	case r.KeyIsNull():
		reason = DropNullKey
	case r.ValueIsNull():
		reason = DropNullValue
	default:
		return false
	}
	ctx.Dropped(reason)
	md, _ := ctx.RecordMetadata()
	ctx.Logger().Debug("dropping record", zap.String("reason", reason), zap.Stringer("record", md))
	return true
}
