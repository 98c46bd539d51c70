package dsl

import (
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// Change is what a table's node forwards for one key: the new value and
// the one it replaced (HasNew false: the key was deleted; HasOld false:
// the key is new). It is window.Change, so windowed and plain tables
// share it.
type Change[V any] = window.Change[V]

// Table is a typed KTable: a changelog stream of updates per key, with the
// current value of every key readable through its value getter. Its node
// forwards (K, Change[V]). Materialized tables (from a topic, an
// aggregation, or an operator given As) have a queryable store; the
// others read through their parent's store. The zero Table belongs to no
// builder.
type Table[K, V any] struct {
	b      *Builder
	node   string
	keys   record.Serde[K]
	values record.Serde[V]
	// get returns, in a processor connected to getStores, the table's
	// current value of a key (Kafka Streams' KTableValueGetter).
	get       getterSupplier[K, V]
	getStores []string
	// store is the table's own store ("" when not materialized).
	store  string
	topics []string
	// win is the window definition of a windowed table (a windowed
	// aggregation and the tables derived from it without a store of
	// their own): Suppress(UntilWindowCloses) takes its close time from it.
	win *windowDef
}

// StoreName returns the name of the table's queryable store; "" if the
// table is not materialized (give the operator As to materialize it).
func (t Table[K, V]) StoreName() string { return t.store }

// NodeName returns the name of the node forwarding the table's changes.
func (t Table[K, V]) NodeName() string { return t.node }

// valueGetter reads a table's current value of key: found is false when
// the table has no value for it.
type valueGetter[K, V any] func(key K) (value V, timestamp int64, found bool, err error)

// getterSupplier makes a valueGetter inside a processor's Init. With
// flushed set, the getter reads the table as its node has forwarded it:
// the state under every cache (store.FlushedView), which is what table-to-
// table operators (joins) must read, so that a write a cache compacts away
// before it is forwarded can never reach a result nothing would retract.
// Stream-table joins read the latest value, cache included, as Kafka
// Streams does.
type getterSupplier[K, V any] func(ctx processor.StoreProvider, flushed bool) (valueGetter[K, V], error)

// storeGetter reads a timestamped key-value store.
func storeGetter[K, V any](name string) getterSupplier[K, V] {
	return func(ctx processor.StoreProvider, flushed bool) (valueGetter[K, V], error) {
		s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[V]](ctx, name)
		if err != nil {
			return nil, err
		}
		var read store.ReadOnlyKeyValueStore[K, store.ValueAndTimestamp[V]] = s
		if flushed {
			read = store.FlushedView(s)
		}
		return func(key K) (V, int64, bool, error) {
			vt, ok, err := read.Get(key)
			return vt.Value, vt.Timestamp, ok, err
		}, nil
	}
}

// tableStore returns the builder of a table's timestamped key-value store:
// RocksDB unless InMemory, cached unless WithoutCaching, logged unless
// WithoutLogging. Nil when a serde is missing (already reported).
func tableStore[K, V any](name string, o *options, keys record.Serde[K], values record.Serde[V]) *store.KeyValueBuilder[K, store.ValueAndTimestamp[V]] {
	if keys == nil || values == nil {
		return nil
	}
	sb := store.NewTimestampedKeyValueBuilder(o.keyValueBackend()(name), keys, values)
	if !o.noCache {
		sb.WithCaching()
	}
	if o.noLogging {
		sb.WithLoggingDisabled()
	}
	return sb
}

// ToStream turns the table's changes into a stream of (key, new value): a
// deleted key becomes a tombstone. Options: Named.
func ToStream[K, V any](t Table[K, V], opts ...Option) Stream[K, V] {
	if t.b == nil {
		return Stream[K, V]{}
	}
	o := collect(opts)
	name := t.b.nodeName(o, "KTABLE-TOSTREAM-")
	processor.AddProcessor(t.b.pb, name, processor.Func(func(ctx processor.Context[K, V], r record.Record[K, Change[V]]) error {
		c := r.Value()
		if !c.HasNew {
			var zero V
			return ctx.Forward(record.WithValue(r, zero).WithNullValue())
		}
		return ctx.Forward(record.WithValue(r, c.New))
	}), t.node)
	return Stream[K, V]{b: t.b, node: name, keys: t.keys, values: t.values, topics: t.topics}
}
