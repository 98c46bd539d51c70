package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// GlobalTable is a typed GlobalKTable: every application instance holds
// all of the table's topic (every partition) in a read-only key-value store
// and keeps it current from its own goroutine, so streams join it by any
// key derived from their records, without repartitioning or
// co-partitioning. The zero GlobalTable belongs to no builder.
type GlobalTable[K, V any] struct {
	b      *Builder
	store  string
	topic  string
	keys   record.Serde[K]
	values record.Serde[V]
}

// StoreName returns the name of the global table's store (queryable on
// every instance).
func (g GlobalTable[K, V]) StoreName() string { return g.store }

// GlobalTableFrom reads topic as a global table (Kafka Streams'
// builder.globalTable): each record upserts its key, a tombstone deletes
// it, a record with a null key or bytes that do not deserialize is skipped
// and counted by the runtime. The store (As names it, else
// <topic>-STATE-STORE-0000000NNN) is RocksDB unless InMemory; the topic is
// its changelog. Options: As, InMemory.
func GlobalTableFrom[K, V any](b *Builder, topic string, keys record.Serde[K], values record.Serde[V], opts ...Option) GlobalTable[K, V] {
	if b == nil {
		return GlobalTable[K, V]{}
	}
	if topic == "" {
		b.problem(fmt.Errorf("%w: GlobalTableFrom: empty topic", ErrInvalidOperator))
		return GlobalTable[K, V]{}
	}
	o := collect(opts)
	name := b.storeName(o, topic+"-STATE-STORE-")
	op := fmt.Sprintf("GlobalTableFrom %q", topic)
	keys = serdeFor[K](b, nil, keys, op, "keys")
	values = serdeFor[V](b, nil, values, op, "values")
	if keys != nil && values != nil {
		processor.AddGlobalStore(b.pb, store.NewKeyValueBuilder(o.keyValueBackend()(name), keys, values), topic, keys, values)
	}
	return GlobalTable[K, V]{b: b, store: name, topic: topic, keys: keys, values: values}
}

// JoinGlobal joins each stream record with the global table's value under
// keyOf(key, value) (Kafka Streams' KStream.join(GlobalKTable)): a match
// yields joiner(value, tableValue) with the record's key, timestamp and
// headers; no match drops the record, counted (DropNoMatch). A record with
// a null value is dropped and counted (DropNullValue); one with a null key
// is joined (KIP-962: keyOf derives the table key, and sees the null key
// as the zero K) and keeps its null key. Nothing is repartitioned and the
// output's key is the input's (a later grouping still repartitions if the
// input's key had changed). Options: Named.
func JoinGlobal[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], keyOf func(key K, value V) KG, joiner func(value V, tableValue VG) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "JoinGlobal", keyOf) || isNil(s.b, "JoinGlobal", joiner) {
		return Stream[K, VR]{}
	}
	return joinGlobal(s, g, "JoinGlobal", "KSTREAM-JOIN-", true, keyOf, func(v V, gv *VG) VR { return joiner(v, *gv) }, opts)
}

// LeftJoinGlobal is JoinGlobal keeping every record: no match yields
// joiner(value, nil).
func LeftJoinGlobal[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], keyOf func(key K, value V) KG, joiner func(value V, tableValue *VG) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "LeftJoinGlobal", keyOf) || isNil(s.b, "LeftJoinGlobal", joiner) {
		return Stream[K, VR]{}
	}
	return joinGlobal(s, g, "LeftJoinGlobal", "KSTREAM-LEFTJOIN-", false, keyOf, joiner, opts)
}

func joinGlobal[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], op, prefix string, inner bool, keyOf func(K, V) KG, joiner func(V, *VG) VR, opts []Option) Stream[K, VR] {
	b := s.b
	if !b.owns(op, g.b) {
		return Stream[K, VR]{}
	}
	o := collect(opts)
	name := b.nodeName(o, prefix)
	storeName := g.store
	// The global store is read by name: connecting it would tie the
	// stream's sub-topology to nothing, and processors may not write it.
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, V, K, VR] {
		return &globalJoin[K, V, KG, VG, VR]{storeName: storeName, inner: inner, keyOf: keyOf, joiner: joiner}
	}, s.node)
	return derive[K, VR](s, name, s.keyChanged)
}

// globalJoin is Kafka Streams' KStreamGlobalKTableJoin processor.
type globalJoin[K, V, KG, VG, VR any] struct {
	storeName string
	inner     bool
	keyOf     func(K, V) KG
	joiner    func(V, *VG) VR
	ctx       processor.Context[K, VR]
	table     store.ReadOnlyKeyValueStore[KG, VG]
}

func (p *globalJoin[K, V, KG, VG, VR]) Init(ctx processor.Context[K, VR]) error {
	p.ctx = ctx
	s, err := processor.KeyValueStore[KG, VG](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.table = s
	return nil
}

func (p *globalJoin[K, V, KG, VG, VR]) Process(r record.Record[K, V]) error {
	if r.ValueIsNull() {
		dropAs(p.ctx, DropNullValue)
		return nil
	}
	var gv *VG
	v, found, err := p.table.Get(p.keyOf(r.Key(), r.Value()))
	if err != nil {
		return err
	}
	if found {
		gv = &v
	}
	if gv == nil && p.inner {
		p.ctx.Dropped(DropNoMatch)
		return nil
	}
	return p.ctx.Forward(record.WithValue(r, p.joiner(r.Value(), gv)))
}

func (p *globalJoin[K, V, KG, VG, VR]) Close() error { return nil }
