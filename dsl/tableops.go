package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// FilterTable keeps the entries of t for which pred is true (Kafka Streams'
// KTable.filter). pred is applied to both sides of each change, so a value
// that stops passing is retracted (forwarded as a delete of the key) and
// one that starts passing appears as an insert; a change in which neither
// side passes forwards nothing. The table's value getter applies pred
// over t's, unless As materializes the result into its own queryable store
// (cached unless WithoutCaching, then it forwards on the cache's flush).
// Options: Named, As, InMemory, WithoutCaching, WithoutLogging.
func FilterTable[K, V any](t Table[K, V], pred func(key K, value V) bool, opts ...Option) Table[K, V] {
	if t.b == nil || isNil(t.b, "FilterTable", pred) {
		return Table[K, V]{}
	}
	return transformTable(t, "FilterTable", "KTABLE-FILTER-", func(k K, v V) (V, bool) { return v, pred(k, v) }, t.values, opts)
}

// FilterNotTable keeps the entries of t for which pred is false; see
// FilterTable.
func FilterNotTable[K, V any](t Table[K, V], pred func(key K, value V) bool, opts ...Option) Table[K, V] {
	if t.b == nil || isNil(t.b, "FilterNotTable", pred) {
		return Table[K, V]{}
	}
	return transformTable(t, "FilterNotTable", "KTABLE-FILTER-", func(k K, v V) (V, bool) { return v, !pred(k, v) }, t.values, opts)
}

// MapTableValues replaces every value of t with fn(value) (Kafka Streams'
// KTable.mapValues): fn is applied to the new and the old value of each
// change (a delete stays a delete; fn never sees an absent value). The
// value getter maps t's values on read, unless As materializes the result
// into its own queryable store. Options: Named, As, InMemory,
// WithoutCaching, WithoutLogging, ValueSerde (the store's, or register one
// for VR).
func MapTableValues[K, V, VR any](t Table[K, V], fn func(value V) VR, opts ...Option) Table[K, VR] {
	if t.b == nil || isNil(t.b, "MapTableValues", fn) {
		return Table[K, VR]{}
	}
	return transformTable(t, "MapTableValues", "KTABLE-MAPVALUES-", func(_ K, v V) (VR, bool) { return fn(v), true },
		keep[VR](t.b, t.values), opts)
}

// MapTableValuesWithKey is MapTableValues with the (read-only) key passed
// to fn.
func MapTableValuesWithKey[K, V, VR any](t Table[K, V], fn func(key K, value V) VR, opts ...Option) Table[K, VR] {
	if t.b == nil || isNil(t.b, "MapTableValuesWithKey", fn) {
		return Table[K, VR]{}
	}
	return transformTable(t, "MapTableValuesWithKey", "KTABLE-MAPVALUES-", func(k K, v V) (VR, bool) { return fn(k, v), true },
		keep[VR](t.b, t.values), opts)
}

// transformTable adds a processor applying fn (a value, or false: absent)
// to both sides of t's changes, with a getter doing the same over t's,
// or reading its own store when As is given.
func transformTable[K, V, VR any](t Table[K, V], op, prefix string, fn func(K, V) (VR, bool), vrSerde record.Serde[VR], opts []Option) Table[K, VR] {
	b := t.b
	o := collect(opts)
	name := b.nodeName(o, prefix)
	out := Table[K, VR]{b: b, node: name, keys: t.keys, values: serdeOption[VR](b, o.valueSerde, vrSerde, op, "values"), topics: t.topics,
		win: t.win}
	if o.store != "" {
		out.store = o.store
		op := fmt.Sprintf("%s %q (store)", op, o.store)
		ks := serdeFor[K](b, o.keySerde, t.keys, op, "keys")
		out.values = serdeFor[VR](b, o.valueSerde, vrSerde, op, "values")
		if sb := tableStore(o.store, o, ks, out.values); sb != nil {
			b.pb.AddStore(sb, name)
		}
		out.get, out.getStores = storeGetter[K, VR](o.store), []string{o.store}
	} else {
		parent := t.get
		out.get = func(ctx processor.StoreProvider, flushed bool) (valueGetter[K, VR], error) {
			get, err := parent(ctx, flushed)
			if err != nil {
				return nil, err
			}
			return func(key K) (VR, int64, bool, error) {
				var zero VR
				v, ts, found, err := get(key)
				if err != nil || !found {
					return zero, ts, false, err
				}
				vr, ok := fn(key, v)
				if !ok {
					return zero, ts, false, nil
				}
				return vr, ts, true, nil
			}, nil
		}
		out.getStores = t.getStores
	}
	storeName := out.store
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, Change[V], K, Change[VR]] {
		return &tableTransform[K, V, VR]{storeName: storeName, fn: fn}
	}, t.node)
	return out
}

// tableTransform is Kafka Streams' KTableFilter / KTableMapValues with old
// values always sent.
type tableTransform[K, V, VR any] struct {
	storeName string // "" when not materialized
	fn        func(K, V) (VR, bool)
	ctx       processor.Context[K, Change[VR]]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[VR]]
	cached    bool
}

func (p *tableTransform[K, V, VR]) Init(ctx processor.Context[K, Change[VR]]) error {
	p.ctx = ctx
	if p.storeName == "" {
		return nil
	}
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[VR]](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.s = s
	return listenForChanges(ctx, s, &p.cached)
}

func (p *tableTransform[K, V, VR]) Process(r record.Record[K, Change[V]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		dropNulls(p.ctx, r)
		return nil
	}
	c := r.Value()
	var out Change[VR]
	if c.HasNew {
		out.New, out.HasNew = p.fn(r.Key(), c.New)
	}
	if c.HasOld {
		out.Old, out.HasOld = p.fn(r.Key(), c.Old)
	}
	if p.s != nil {
		if err := putChange(p.s, r.Key(), out, r.Timestamp()); err != nil {
			return err
		}
		if p.cached {
			return nil
		}
	}
	if !out.HasNew && !out.HasOld {
		return nil
	}
	return p.ctx.Forward(record.WithValue(r, out))
}

func (p *tableTransform[K, V, VR]) Close() error { return nil }

// putChange writes c's new value (or its absence) into a table's store.
func putChange[K, V any](s store.KeyValueStore[K, store.ValueAndTimestamp[V]], key K, c Change[V], ts int64) error {
	if c.HasNew {
		return s.Put(key, store.ValueAndTimestamp[V]{Value: c.New, Timestamp: ts})
	}
	if !c.HasOld {
		return nil // nothing was there and nothing is: no write
	}
	_, _, err := s.Delete(key)
	return err
}
