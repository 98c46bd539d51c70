package dsl

import (
	"fmt"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// Suppressed says when Suppress lets a key's latest value through (Kafka
// Streams' Suppressed): UntilWindowCloses or UntilTimeLimit.
type Suppressed struct {
	untilClose bool
	limit      time.Duration
	buf        window.BufferConfig
	set        bool
}

// UntilWindowCloses holds each window's updates and emits its final
// result once, when the window closes: when the stream time seen by the
// suppression (the largest timestamp of the updates reaching it) reaches
// the window's end + grace (time windows), or passes it (sliding and
// session windows, inclusive at their end). The grace is the windows'
// own, taken from the windowed table: it cannot disagree with them.
// buf bounds the buffer: window.Unbounded(), window.MaxRecords(n),
// window.MaxBytes(n), then EmitEarlyWhenFull() or ShutDownWhenFull() (the
// default: the App stops with an error wrapping window.ErrBufferFull).
func UntilWindowCloses(buf window.BufferConfig) Suppressed {
	return Suppressed{untilClose: true, buf: buf, set: true}
}

// UntilTimeLimit holds each key's updates and emits its latest value once
// limit of stream time has passed since the key's first buffered update
// (Kafka Streams' untilTimeLimit), on any table. buf as for
// UntilWindowCloses.
func UntilTimeLimit(limit time.Duration, buf window.BufferConfig) Suppressed {
	return Suppressed{limit: limit, buf: buf, set: true}
}

// Suppress holds back a table's intermediate updates (Kafka Streams'
// KTable.suppress). With UntilWindowCloses the table must be windowed (a
// windowed aggregation, or a table derived from one by FilterTable or
// MapTableValues): anything else is a Build error.
//
// The buffer is a key-value store, in memory as in Kafka Streams, and
// changelogged unless WithoutLogging, so a restart neither loses nor
// repeats a final result. Its name is As, else <Named>-store, else
// generated. The result forwards each emitted value as a Change without
// an old value (a delete as a Change without either: ToStream makes it a
// tombstone); its value getter reads the upstream table (the current, not
// the last emitted, value). Options: Named, As, WithoutLogging.
func Suppress[K, V any](t Table[K, V], s Suppressed, opts ...Option) Table[K, V] {
	b := t.b
	if b == nil {
		return Table[K, V]{}
	}
	o := collect(opts)
	switch {
	case !s.set:
		b.problem(fmt.Errorf("%w: Suppress: the zero Suppressed; use UntilWindowCloses or UntilTimeLimit", ErrInvalidOperator))
		return Table[K, V]{}
	case s.buf.MaxRecords < 0 || s.buf.MaxBytes < 0:
		b.problem(fmt.Errorf("%w: Suppress: negative buffer bounds (%d records, %d bytes)", ErrInvalidOperator, s.buf.MaxRecords, s.buf.MaxBytes))
		return Table[K, V]{}
	case !s.untilClose && s.limit < time.Millisecond:
		b.problem(fmt.Errorf("%w: Suppress: UntilTimeLimit of %v: the limit must be at least 1ms", ErrInvalidOperator, s.limit))
		return Table[K, V]{}
	}
	var closeAt func(K) (int64, bool)
	if s.untilClose {
		if t.win != nil {
			closeAt, _ = t.win.closeAt.(func(K) (int64, bool))
		}
		if closeAt == nil {
			b.problem(fmt.Errorf("%w: Suppress(UntilWindowCloses) on table %q, which is not windowed: "+
				"window close time is only defined for windowed aggregations (or use UntilTimeLimit)", ErrInvalidOperator, t.node))
			return Table[K, V]{}
		}
	}
	name := b.nodeName(o, "KTABLE-SUPPRESS-")
	storeName := o.store
	switch {
	case storeName != "":
	case o.name != "":
		storeName = o.name + "-store"
	default:
		storeName = b.storeName(o, "KTABLE-SUPPRESS-STATE-STORE-")
	}
	what := fmt.Sprintf("Suppress %q (buffer)", storeName)
	ks := serdeFor[K](b, o.keySerde, t.keys, what, "keys")
	vs := serdeFor[V](b, o.valueSerde, t.values, what, "values")
	var sup processor.Supplier[K, Change[V], K, V]
	if s.untilClose {
		sup = window.UntilClosed[K, V](storeName, ks, vs, s.buf, closeAt)
	} else {
		sup = window.UntilTimeLimit[K, V](s.limit, storeName, ks, vs, s.buf)
	}
	processor.AddProcessor(b.pb, name, sup, t.node)
	if ks != nil && vs != nil {
		sb := window.SuppressionStore(store.InMemoryKeyValue, storeName, ks, vs)
		if o.noLogging {
			sb.WithLoggingDisabled()
		}
		b.pb.AddStore(sb, name)
	}
	// The suppression forwards values; a table forwards Changes.
	changes := name + "-changes"
	processor.AddProcessor(b.pb, changes, processor.Func(func(ctx processor.Context[K, Change[V]], r record.Record[K, V]) error {
		if r.ValueIsNull() {
			return ctx.Forward(record.WithValue(r, Change[V]{}))
		}
		return ctx.Forward(record.WithValue(r, Change[V]{New: r.Value(), HasNew: true}))
	}), name)
	return Table[K, V]{b: b, node: changes, keys: t.keys, values: t.values, get: t.get, getStores: t.getStores,
		topics: t.topics, win: t.win}
}
