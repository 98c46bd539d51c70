package dsl

import "github.com/millrace/millrace/record"

// GroupedStream is a stream grouped by key, ready to aggregate (Count,
// Reduce, Aggregate). Grouping itself adds nothing to the topology; the
// aggregation repartitions first if the key may have changed.
type GroupedStream[K, V any] struct {
	s Stream[K, V]
	o *options
	// named is the stream read back from a named grouping's repartition
	// topic, made by its first aggregation; the others reuse it (as Kafka
	// Streams does), rather than declare the same topic and nodes again.
	named *Stream[K, V]
}

// GroupByKey groups the stream by its current key. Options: Named (names
// the repartition topic, if one is needed), KeySerde, ValueSerde (for the
// repartition topic), Partitions (its partition count).
func GroupByKey[K, V any](s Stream[K, V], opts ...Option) GroupedStream[K, V] {
	return GroupedStream[K, V]{s: s, o: collect(opts), named: new(Stream[K, V])}
}

// GroupBy groups the stream by fn(key, value), a new key: the aggregation
// repartitions by it. Options as for GroupByKey.
func GroupBy[K, V, KR any](s Stream[K, V], fn func(key K, value V) KR, opts ...Option) GroupedStream[KR, V] {
	o := collect(opts)
	var sel Stream[KR, V]
	if s.b != nil && !isNil(s.b, "GroupBy", fn) {
		sel = SelectKey(s, fn)
		if k, ok := o.keySerde.(record.Serde[KR]); ok {
			sel.keys = k
		}
	}
	return GroupedStream[KR, V]{s: sel, o: o, named: new(Stream[KR, V])}
}
