package dsl

import (
	"regexp"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// DropNullKeyBeforeRepartition is the reason a record with a null key is
// counted when dropped before a repartition topic: it cannot be
// partitioned by its key, so no downstream task could own it.
const DropNullKeyBeforeRepartition = "null-key-repartition"

// repartitionConfig is Kafka Streams' configuration of repartition
// topics: records are deleted by the App once committed (retention -1).
var repartitionConfig = map[string]string{
	"cleanup.policy":         "delete",
	"retention.ms":           "-1",
	"segment.bytes":          "52428800",
	"message.timestamp.type": "CreateTime",
}

// repartitionNodes names the filter, sink and source of a repartition.
type repartitionNodes struct{ sink, filter, source string }

// generatedBase matches the names Kafka Streams generates
// (KSTREAM-AGGREGATE-STATE-STORE-0000000002, ...).
var generatedBase = regexp.MustCompile(`^KSTREAM.*-[0-9]{10}$`)

// streamRepartitionNodes names the nodes of a stream's repartition through
// <base>-repartition as Kafka Streams does: it uses up three generated
// names (sink, filter, source) in every case, and names the nodes with
// them when base itself was generated, else <base>-repartition-sink, ...
func (b *Builder) streamRepartitionNodes(base string) repartitionNodes {
	n := repartitionNodes{sink: b.newName("KSTREAM-SINK-"), filter: b.newName("KSTREAM-FILTER-"), source: b.newName("KSTREAM-SOURCE-")}
	if !generatedBase.MatchString(base) {
		topic := base + "-repartition"
		n = repartitionNodes{sink: topic + "-sink", filter: topic + "-filter", source: topic + "-source"}
	}
	return n
}

// repartition writes s to the internal topic <base>-repartition and
// returns the stream read back from it, partitioned by the current key:
// a filter dropping null keys (counted), a sink, the topic and a source
// that takes each record's own timestamp.
func repartition[K, V any](s Stream[K, V], base string, nodes repartitionNodes, partitions int32, o *options, op string) Stream[K, V] {
	b := s.b
	ks := serdeFor[K](b, o.keySerde, s.keys, op+" (repartition)", "keys")
	vs := serdeFor[V](b, o.valueSerde, s.values, op+" (repartition)", "values")
	topic := base + "-repartition"
	sink, filter, source := nodes.sink, nodes.filter, nodes.source
	processor.AddProcessor(b.pb, filter, processor.Func(func(ctx processor.Context[K, V], r record.Record[K, V]) error {
		if r.KeyIsNull() {
			ctx.Dropped(DropNullKeyBeforeRepartition)
			return nil
		}
		return ctx.Forward(r)
	}), s.node)
	processor.AddSink(b.pb, sink, topic, serializer(ks), serializer(vs), filter)
	b.pb.AddInternalTopic(processor.InternalTopic{Name: topic, Partitions: partitions, Config: repartitionConfig, Purge: true})
	processor.AddSource(b.pb, source, deserializer(ks), deserializer(vs), topic).
		WithTimestampExtractor(record.FailOnInvalidTimestamp())
	return Stream[K, V]{b: b, node: source, keys: ks, values: vs, topics: []string{topic}}
}

// Repartition writes the stream through a new repartition topic,
// partitioned by the current key (Kafka Streams' repartition()). Options:
// Named (the topic is <application-id>-<name>-repartition), Partitions
// (default: the upstream's partition count), KeySerde, ValueSerde.
func Repartition[K, V any](s Stream[K, V], opts ...Option) Stream[K, V] {
	if s.b == nil {
		return Stream[K, V]{}
	}
	o := collect(opts)
	base := o.name
	if base == "" {
		base = s.b.newName("KSTREAM-REPARTITION-")
		s.b.unnamed = append(s.b.unnamed, "topic "+base+"-repartition")
	}
	return repartition(s, base, s.b.streamRepartitionNodes(base), o.partitions, o, "Repartition")
}

// partitionedByKey returns s as it is when its key is unchanged, else
// repartitioned through <base>-repartition.
func partitionedByKey[K, V any](s Stream[K, V], base string, generated bool, o *options, op string) Stream[K, V] {
	if !s.keyChanged {
		return s
	}
	if generated {
		s.b.unnamed = append(s.b.unnamed, "topic "+base+"-repartition")
	}
	return repartition(s, base, s.b.streamRepartitionNodes(base), o.partitions, o, op)
}
