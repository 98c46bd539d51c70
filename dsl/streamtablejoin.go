package dsl

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// JoinTable joins each stream record with the table's current value of its
// key (Kafka Streams' KStream.join(KTable)): a record whose key has a
// value yields joiner(value, tableValue) with the record's key, timestamp
// and headers; one whose key has none is dropped and counted
// (DropNoMatch). Only stream records trigger output: a table update
// produces nothing and affects only the stream records processed after
// it. A record with a null key or a null value is dropped and counted
// (DropNullKey, DropNullValue), as KIP-962 specifies for inner joins.
//
// A stream whose key may have changed is repartitioned first through
// <name>-repartition, name being Named's or, as in Kafka Streams, the
// stream's node name. Stream and table must be co-partitioned: Build fails
// with ErrNotCoPartitioned when their topics have declared partition counts
// (Partitions) that differ.
//
// Options: Named, KeySerde and ValueSerde (the repartition topic's: the
// stream's key and value types, as Kafka Streams' Joined), Partitions (the
// repartition topic's count; by default the runtime matches the table's).
func JoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(value V, tableValue VT) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "JoinTable", joiner) {
		return Stream[K, VR]{}
	}
	return joinStreamTable(s, t, "JoinTable", "KSTREAM-JOIN-", true, func(v V, tv *VT) VR { return joiner(v, *tv) }, opts)
}

// LeftJoinTable is JoinTable keeping every stream record: one whose key has
// no table value yields joiner(value, nil). A record with a null key is
// not looked up (KIP-962): it yields joiner(value, nil) and keeps its null
// key. A record with a null value is dropped and counted (DropNullValue).
// A repartition before the join drops null keys (counted under
// DropNullKeyBeforeRepartition).
func LeftJoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(value V, tableValue *VT) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "LeftJoinTable", joiner) {
		return Stream[K, VR]{}
	}
	return joinStreamTable(s, t, "LeftJoinTable", "KSTREAM-LEFTJOIN-", false, joiner, opts)
}

func joinStreamTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], op, prefix string, inner bool, joiner func(V, *VT) VR, opts []Option) Stream[K, VR] {
	b := s.b
	if !b.owns(op, t.b) {
		return Stream[K, VR]{}
	}
	if t.get == nil {
		b.problem(fmt.Errorf("%w: %s: a table handle without a value getter (the zero Table?)", ErrInvalidOperator, op))
		return Stream[K, VR]{}
	}
	o := collect(opts)
	base, generated := o.name, o.name == ""
	if generated {
		base = s.node
	}
	in := partitionedByKey(s, base, generated, o, op)
	if s.keyChanged && o.partitions > 0 {
		b.declarePartitions(in.topics, o.partitions)
	}
	b.checkCoPartitioned(op, in.topics, t.topics)
	name := b.nodeName(o, prefix)
	get := t.get
	processor.AddProcessor(b.pb, name, func() processor.Processor[K, V, K, VR] {
		return &streamTableJoin[K, V, VT, VR]{get: get, inner: inner, joiner: joiner}
	}, in.node).WithStores(t.getStores...)
	out := derive[K, VR](in, name, false)
	out.topics = in.topics
	return out
}

// streamTableJoin is Kafka Streams' KStreamKTableJoinProcessor.
type streamTableJoin[K, V, VT, VR any] struct {
	get    getterSupplier[K, VT]
	inner  bool
	joiner func(V, *VT) VR
	table  valueGetter[K, VT]
	ctx    processor.Context[K, VR]
}

func (p *streamTableJoin[K, V, VT, VR]) Init(ctx processor.Context[K, VR]) error {
	p.ctx = ctx
	g, err := p.get(ctx, false) // the latest value, as Kafka Streams' stream-table join reads
	if err != nil {
		return err
	}
	p.table = g
	return nil
}

func (p *streamTableJoin[K, V, VT, VR]) Process(r record.Record[K, V]) error {
	switch {
	case r.ValueIsNull():
		dropAs(p.ctx, DropNullValue)
		return nil
	case p.inner && r.KeyIsNull():
		dropAs(p.ctx, DropNullKey)
		return nil
	}
	var tv *VT
	if !r.KeyIsNull() {
		v, _, found, err := p.table(r.Key())
		if err != nil {
			return err
		}
		if found {
			tv = &v
		}
	}
	if tv == nil && p.inner {
		p.ctx.Dropped(DropNoMatch)
		return nil
	}
	return p.ctx.Forward(record.WithValue(r, p.joiner(r.Value(), tv)))
}

func (p *streamTableJoin[K, V, VT, VR]) Close() error { return nil }

// dropAs counts (and logs at debug) the record being processed as dropped
// for reason.
func dropAs[K, V any](ctx processor.Context[K, V], reason string) {
	ctx.Dropped(reason)
	md, _ := ctx.RecordMetadata()
	ctx.Logger().Debug("dropping record", zap.String("reason", reason), zap.Stringer("record", md))
}
