package dsl

import (
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Process embeds a custom processor: each task gets one from supplier, fed
// with the stream's records, and what it forwards is the new stream. It
// may change the key, so a later grouping or join repartitions. Options:
// Named, Stores (stores registered with Builder.AddStore), KeySerde and
// ValueSerde (the output's serdes).
func Process[K, V, KR, VR any](s Stream[K, V], supplier processor.Supplier[K, V, KR, VR], opts ...Option) Stream[KR, VR] {
	return embed(s, supplier, "Process", true, "KSTREAM-PROCESSOR-", opts)
}

// ProcessValues embeds a custom processor that keeps each record's key
// (it may change values, timestamps and headers): no repartition follows.
// Changing the key in it breaks the partitioning the DSL relies on.
func ProcessValues[K, V, VR any](s Stream[K, V], supplier processor.Supplier[K, V, K, VR], opts ...Option) Stream[K, VR] {
	return embed(s, supplier, "ProcessValues", false, "KSTREAM-PROCESSVALUES-", opts)
}

func embed[K, V, KR, VR any](s Stream[K, V], supplier processor.Supplier[K, V, KR, VR], op string, changesKey bool, prefix string, opts []Option) Stream[KR, VR] {
	if s.b == nil || isNil(s.b, op, supplier) {
		return Stream[KR, VR]{}
	}
	o := collect(opts)
	name := s.b.nodeName(o, prefix)
	processor.AddProcessor(s.b.pb, name, supplier, s.node).WithStores(o.stores...)
	out := derive[KR, VR](s, name, changesKey || s.keyChanged)
	out.keys = serdeOption[KR](s.b, o.keySerde, out.keys, op, "keys")
	out.values = serdeOption[VR](s.b, o.valueSerde, out.values, op, "values")
	return out
}

// serdeOption returns the option's serde if one was given (a problem if
// of the wrong type), else fallback.
func serdeOption[T any](b *Builder, option any, fallback record.Serde[T], op, what string) record.Serde[T] {
	if option == nil {
		return fallback
	}
	return serdeFor[T](b, option, nil, op, what)
}
