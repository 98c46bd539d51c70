package dsl

import (
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Stream is a typed KStream: the records a node of the topology forwards.
// It is a small value; operators take it and return new ones. The zero
// Stream belongs to no builder, and operators on it declare nothing.
type Stream[K, V any] struct {
	b      *Builder
	node   string
	keys   record.Serde[K]
	values record.Serde[V]
	// keyChanged: an operator may have changed the key since the records
	// were last partitioned by it; the next key-dependent stateful operator
	// repartitions.
	keyChanged bool
	// topics are the source topics feeding the stream without a
	// repartition in between, for co-partitioning messages.
	topics []string
}

// NodeName returns the name of the node forwarding the stream's records,
// so nodes added through Builder.Processor can take it as a parent.
func (s Stream[K, V]) NodeName() string { return s.node }

// FromTopics reads topics as a stream, decoded with keys and values; a nil
// serde means the type's registered one. Options: Named (the source's
// name), WithTimestampExtractor, Partitions (declares the topics' count).
func FromTopics[K, V any](b *Builder, topics []string, keys record.Serde[K], values record.Serde[V], opts ...Option) Stream[K, V] {
	if b == nil {
		return Stream[K, V]{}
	}
	o := collect(opts)
	name := b.nodeName(o, "KSTREAM-SOURCE-")
	keys = serdeFor[K](b, nil, keys, fmt.Sprintf("source %q", name), "keys")
	values = serdeFor[V](b, nil, values, fmt.Sprintf("source %q", name), "values")
	src := processor.AddSource(b.pb, name, deserializer(keys), deserializer(values), topics...)
	if o.extractor != nil {
		src.WithTimestampExtractor(o.extractor)
	}
	setValueTimestamp(b, o, src, fmt.Sprintf("source %q", name))
	b.declarePartitions(topics, o.partitions)
	return Stream[K, V]{b: b, node: name, keys: keys, values: values, topics: append([]string(nil), topics...)}
}

// FromNode continues the DSL from a node added through Builder.Processor
// that forwards (K, V); keyChanged says whether it may have changed the key.
func FromNode[K, V any](b *Builder, node string, keys record.Serde[K], values record.Serde[V], keyChanged bool) Stream[K, V] {
	if b == nil {
		return Stream[K, V]{}
	}
	return Stream[K, V]{b: b, node: node, keys: keys, values: values, keyChanged: keyChanged}
}

// deserializer turns a nil serde into a nil Deserializer interface (not a
// non-nil interface holding nil), so the processor builder reports it.
func deserializer[T any](s record.Serde[T]) record.Deserializer[T] {
	if s == nil {
		return nil
	}
	return s
}

func serializer[T any](s record.Serde[T]) record.Serializer[T] {
	if s == nil {
		return nil
	}
	return s
}

func (b *Builder) declarePartitions(topics []string, n int32) {
	if n <= 0 {
		return
	}
	for _, t := range topics {
		b.partitions[t] = n
	}
}

// derive returns a stream of node, fed from s, with new types.
func derive[K2, V2, K, V any](s Stream[K, V], node string, keyChanged bool) Stream[K2, V2] {
	return Stream[K2, V2]{b: s.b, node: node, keys: keep[K2](s.b, s.keys), values: keep[V2](s.b, s.values),
		keyChanged: keyChanged, topics: s.topics}
}

// addFunc adds a stateless processor that calls fn per record.
func addFunc[KO, VO, K, V any](s Stream[K, V], prefix string, opts []Option, fn func(ctx processor.Context[KO, VO], r record.Record[K, V]) error) (string, *options) {
	o := collect(opts)
	name := s.b.nodeName(o, prefix)
	processor.AddProcessor(s.b.pb, name, processor.Func(fn), s.node)
	return name, o
}

// withSerdes applies the KeySerde and ValueSerde options to an operator's
// output stream.
func withSerdes[K, V any](s Stream[K, V], o *options, op string) Stream[K, V] {
	s.keys = serdeOption[K](s.b, o.keySerde, s.keys, op, "keys")
	s.values = serdeOption[V](s.b, o.valueSerde, s.values, op, "values")
	return s
}

// Filter keeps the records for which pred is true. pred sees a null key or
// value as the zero value; kept records pass unchanged.
func Filter[K, V any](s Stream[K, V], pred func(key K, value V) bool, opts ...Option) Stream[K, V] {
	if s.b == nil || isNil(s.b, "Filter", pred) {
		return Stream[K, V]{}
	}
	name, o := addProc(s, "KSTREAM-FILTER-", opts, filterSupplier(pred, true))
	return withSerdes(derive[K, V](s, name, s.keyChanged), o, "Filter")
}

// FilterNot keeps the records for which pred is false.
func FilterNot[K, V any](s Stream[K, V], pred func(key K, value V) bool, opts ...Option) Stream[K, V] {
	if s.b == nil || isNil(s.b, "FilterNot", pred) {
		return Stream[K, V]{}
	}
	name, o := addProc(s, "KSTREAM-FILTER-", opts, filterSupplier(pred, false))
	return withSerdes(derive[K, V](s, name, s.keyChanged), o, "FilterNot")
}

// MapValues replaces each value with fn(value); the key, timestamp and
// headers stay. A tombstone (null value) is not passed to fn: it stays a
// tombstone of the new type.
func MapValues[K, V, VR any](s Stream[K, V], fn func(value V) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "MapValues", fn) {
		return Stream[K, VR]{}
	}
	name, o := addProc(s, "KSTREAM-MAPVALUES-", opts, mapValuesSupplier[K](fn, nil))
	return withSerdes(derive[K, VR](s, name, s.keyChanged), o, "MapValues")
}

// MapValuesWithKey is MapValues with the (read-only) key passed to fn.
func MapValuesWithKey[K, V, VR any](s Stream[K, V], fn func(key K, value V) VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "MapValuesWithKey", fn) {
		return Stream[K, VR]{}
	}
	name, o := addProc(s, "KSTREAM-MAPVALUES-", opts, mapValuesSupplier[K, V, VR](nil, fn))
	return withSerdes(derive[K, VR](s, name, s.keyChanged), o, "MapValuesWithKey")
}

// Map replaces each record's key and value with fn's; the timestamp and
// headers stay. fn sees a null key or value as the zero value; its results
// are never null. The key may change: a later grouping or join
// repartitions.
func Map[K, V, KR, VR any](s Stream[K, V], fn func(key K, value V) (KR, VR), opts ...Option) Stream[KR, VR] {
	if s.b == nil || isNil(s.b, "Map", fn) {
		return Stream[KR, VR]{}
	}
	name, o := addFunc(s, "KSTREAM-MAP-", opts, func(ctx processor.Context[KR, VR], r record.Record[K, V]) error {
		k, v := fn(r.Key(), r.Value())
		return ctx.Forward(record.WithValue(record.WithKey(r, k), v))
	})
	return withSerdes(derive[KR, VR](s, name, true), o, "Map")
}

// SelectKey replaces each record's key with fn(key, value); the value
// (null or not) stays. A later grouping or join repartitions.
func SelectKey[K, V, KR any](s Stream[K, V], fn func(key K, value V) KR, opts ...Option) Stream[KR, V] {
	if s.b == nil || isNil(s.b, "SelectKey", fn) {
		return Stream[KR, V]{}
	}
	name, o := addFunc(s, "KSTREAM-KEY-SELECT-", opts, func(ctx processor.Context[KR, V], r record.Record[K, V]) error {
		return ctx.Forward(record.WithKey(r, fn(r.Key(), r.Value())))
	})
	return withSerdes(derive[KR, V](s, name, true), o, "SelectKey")
}

// KeyValue is one output pair of FlatMap.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// Pair makes a KeyValue.
func Pair[K, V any](key K, value V) KeyValue[K, V] { return KeyValue[K, V]{Key: key, Value: value} }

// FlatMap replaces each record with the pairs fn returns (none drops it),
// each with the record's timestamp and headers. The key may change.
func FlatMap[K, V, KR, VR any](s Stream[K, V], fn func(key K, value V) []KeyValue[KR, VR], opts ...Option) Stream[KR, VR] {
	if s.b == nil || isNil(s.b, "FlatMap", fn) {
		return Stream[KR, VR]{}
	}
	name, o := addFunc(s, "KSTREAM-FLATMAP-", opts, func(ctx processor.Context[KR, VR], r record.Record[K, V]) error {
		for _, kv := range fn(r.Key(), r.Value()) {
			if err := ctx.Forward(record.WithValue(record.WithKey(r, kv.Key), kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	return withSerdes(derive[KR, VR](s, name, true), o, "FlatMap")
}

// FlatMapValues replaces each record with one record per value fn returns,
// keeping key, timestamp and headers. A tombstone is not passed to fn: it
// is forwarded once, as a tombstone of the new type.
func FlatMapValues[K, V, VR any](s Stream[K, V], fn func(value V) []VR, opts ...Option) Stream[K, VR] {
	if s.b == nil || isNil(s.b, "FlatMapValues", fn) {
		return Stream[K, VR]{}
	}
	name, o := addFunc(s, "KSTREAM-FLATMAPVALUES-", opts, func(ctx processor.Context[K, VR], r record.Record[K, V]) error {
		if r.ValueIsNull() {
			var zero VR
			return ctx.Forward(record.WithValue(r, zero).WithNullValue())
		}
		for _, v := range fn(r.Value()) {
			if err := ctx.Forward(record.WithValue(r, v)); err != nil {
				return err
			}
		}
		return nil
	})
	return withSerdes(derive[K, VR](s, name, s.keyChanged), o, "FlatMapValues")
}

// Peek calls fn for each record and forwards it unchanged.
func Peek[K, V any](s Stream[K, V], fn func(key K, value V), opts ...Option) Stream[K, V] {
	if s.b == nil || isNil(s.b, "Peek", fn) {
		return Stream[K, V]{}
	}
	name, o := addFunc(s, "KSTREAM-PEEK-", opts, func(ctx processor.Context[K, V], r record.Record[K, V]) error {
		fn(r.Key(), r.Value())
		return ctx.Forward(r)
	})
	return withSerdes(derive[K, V](s, name, s.keyChanged), o, "Peek")
}

// Foreach calls fn for each record; the stream ends there.
func Foreach[K, V any](s Stream[K, V], fn func(key K, value V), opts ...Option) {
	if s.b == nil || isNil(s.b, "Foreach", fn) {
		return
	}
	_, _ = addFunc(s, "KSTREAM-FOREACH-", opts, func(_ processor.Context[K, V], r record.Record[K, V]) error {
		fn(r.Key(), r.Value())
		return nil
	})
}

// Merge forwards the records of every stream, each in its own order (no
// order across them). The key counts as changed if it may have changed in
// any of them.
func Merge[K, V any](s Stream[K, V], others ...Stream[K, V]) Stream[K, V] {
	return MergeNamed("", s, others...)
}

// MergeNamed is Merge with the merge node named name ("" generates one).
func MergeNamed[K, V any](name string, s Stream[K, V], others ...Stream[K, V]) Stream[K, V] {
	if s.b == nil {
		return Stream[K, V]{}
	}
	parents := []string{s.node}
	out := derive[K, V](s, "", s.keyChanged)
	for _, o := range others {
		if !s.b.owns("Merge", o.b) {
			return Stream[K, V]{}
		}
		parents = append(parents, o.node)
		out.keyChanged = out.keyChanged || o.keyChanged
		out.topics = append(append([]string(nil), out.topics...), o.topics...)
		if out.keys == nil {
			out.keys = o.keys
		}
		if out.values == nil {
			out.values = o.values
		}
	}
	if name == "" {
		name = s.b.newName("KSTREAM-MERGE-")
	}
	processor.AddProcessor(s.b.pb, name, processor.Func(func(ctx processor.Context[K, V], r record.Record[K, V]) error {
		return ctx.Forward(r)
	}), parents...)
	out.node = name
	return out
}

// isNil reports (and records) a nil function.
func isNil[F any](b *Builder, op string, fn F) bool {
	if any(fn) == nil || isNilFunc(fn) {
		b.problem(fmt.Errorf("%w: %s", ErrNilFunction, op))
		return true
	}
	return false
}
