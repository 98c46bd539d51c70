package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// To writes the stream to topic, serialized with the stream's serdes (or
// the KeySerde / ValueSerde options, or the types' registered serdes).
// Options: Named, KeySerde, ValueSerde, WithPartitioner. A null key lets
// the producer pick the partition.
func To[K, V any](s Stream[K, V], topic string, opts ...Option) {
	if s.b == nil {
		return
	}
	if topic == "" {
		s.b.problem(fmt.Errorf("%w: To: empty topic", ErrInvalidOperator))
		return
	}
	o := collect(opts)
	name := s.b.nodeName(o, "KSTREAM-SINK-")
	ks, vs := sinkSerdes(s, o, fmt.Sprintf("To %q", topic))
	sink := processor.AddSink(s.b.pb, name, topic, serializer(ks), serializer(vs), s.node)
	setPartitioner(s, o, sink, fmt.Sprintf("To %q", topic))
}

// ToFunc writes each record to the topic fn picks for it (an empty topic
// is an error of that record). Options as for To.
func ToFunc[K, V any](s Stream[K, V], fn func(key K, value V) string, opts ...Option) {
	if s.b == nil || isNil(s.b, "ToFunc", fn) {
		return
	}
	o := collect(opts)
	name := s.b.nodeName(o, "KSTREAM-SINK-")
	ks, vs := sinkSerdes(s, o, "ToFunc")
	sink := processor.AddSinkFunc(s.b.pb, name, func(r record.Record[K, V]) string { return fn(r.Key(), r.Value()) },
		serializer(ks), serializer(vs), s.node)
	setPartitioner(s, o, sink, "ToFunc")
}

func sinkSerdes[K, V any](s Stream[K, V], o *options, op string) (record.Serde[K], record.Serde[V]) {
	return serdeFor[K](s.b, o.keySerde, s.keys, op, "keys"), serdeFor[V](s.b, o.valueSerde, s.values, op, "values")
}

func setPartitioner[K, V any](s Stream[K, V], o *options, sink *processor.SinkNode[K, V], op string) {
	if o.partitioner == nil {
		return
	}
	p, ok := o.partitioner.(func(string, record.Record[K, V], int32) (int32, bool))
	if !ok {
		s.b.problem(fmt.Errorf("%w: %s: the partitioner is a %T, the records are (%s, %s)", ErrSerdeType, op, o.partitioner, typeName[K](), typeName[V]()))
		return
	}
	sink.WithPartitioner(p)
}
