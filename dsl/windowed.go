package dsl

import (
	"fmt"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// Windowed is a key with its window (window.Windowed, store.Windowed):
// the key type of windowed tables.
type Windowed[K any] = window.Windowed[K]

// windowDef is what a windowed table carries of its window definition.
type windowDef struct {
	kind  string // "time windows", "sliding windows", "session windows"
	grace int64
	// closeAt is a func(Windowed[K]) (int64, bool): the stream time at
	// which a key's window has closed (false: never).
	closeAt any
}

// closesAt returns the close time of a window ending at end: end +
// offset, where offset is grace for end-exclusive time windows and grace
// + 1 for windows inclusive at their end (sliding, session).
func closesAt[K any](offset int64) func(Windowed[K]) (int64, bool) {
	return func(k Windowed[K]) (int64, bool) { return window.CloseTime(k.End, offset) }
}

// Retention lengthens the retention of a windowed aggregation's store
// (Kafka Streams' Materialized.withRetention), for interactive queries of
// windows that have closed. It is never shorter than the windows need
// (size + grace; gap + grace for sessions): a shorter one is a Build error.
func Retention(d time.Duration) Option { return optionFunc(func(o *options) { o.retention = d }) }

// EmitFinal makes a windowed aggregation (CountWindows, ReduceWindows,
// AggregateWindows; CountSliding, ReduceSliding, AggregateSliding;
// CountSessions, ReduceSessions, AggregateSessions) forward each window or
// session once, when it closes (stream time >= window end + grace for
// time windows, > end + grace for sliding and session windows, whose ends
// are inclusive), and nothing before, not even the deletes of merged-away
// sessions: Kafka Streams' EmitStrategy.onWindowClose (KIP-825). It is
// cheaper than Suppress(UntilWindowCloses): there is no suppression
// buffer, the finals are read back from the window or session store (see
// window.AggregateFinal, window.AggregateSlidingFinal and
// window.AggregateSessionsFinal). The watermark of emitted windows is kept in a changelogged store named
// <store>-emit-watermark (on the window store's backend), so a restart
// neither repeats nor skips a final.
func EmitFinal() Option { return optionFunc(func(o *options) { o.emitFinal = true }) }

// TimeWindowedStream is a grouped stream with tumbling or hopping windows
// (Kafka Streams' TimeWindowedKStream), made by WindowedBy and
// aggregated by CountWindows, ReduceWindows and AggregateWindows.
type TimeWindowedStream[K, V any] struct {
	g GroupedStream[K, V]
	w window.TimeWindows
}

// WindowedBy windows a grouped stream by time windows (window.Tumbling,
// window.Hopping). The window definition, with its grace, is given here
// only: the aggregation's store, its retention and a later
// Suppress(UntilWindowCloses) all derive from it.
func WindowedBy[K, V any](g GroupedStream[K, V], w window.TimeWindows) TimeWindowedStream[K, V] {
	return TimeWindowedStream[K, V]{g: g, w: w}
}

// SlidingWindowedStream is a grouped stream with sliding windows (Kafka
// Streams' SlidingWindowedKStream), made by SlidingWindowedBy.
type SlidingWindowedStream[K, V any] struct {
	g GroupedStream[K, V]
	w window.SlidingWindows
}

// SlidingWindowedBy windows a grouped stream by sliding windows
// (window.Sliding); see WindowedBy.
func SlidingWindowedBy[K, V any](g GroupedStream[K, V], w window.SlidingWindows) SlidingWindowedStream[K, V] {
	return SlidingWindowedStream[K, V]{g: g, w: w}
}

// SessionWindowedStream is a grouped stream with session windows (Kafka
// Streams' SessionWindowedKStream), made by SessionWindowedBy.
type SessionWindowedStream[K, V any] struct {
	g GroupedStream[K, V]
	w window.SessionWindows
}

// SessionWindowedBy windows a grouped stream by session windows
// (window.Sessions); see WindowedBy.
func SessionWindowedBy[K, V any](g GroupedStream[K, V], w window.SessionWindows) SessionWindowedStream[K, V] {
	return SessionWindowedStream[K, V]{g: g, w: w}
}

// CountWindows counts the records of each key and time window. The result
// is a table keyed by Windowed[K], whose node forwards each window's
// Change (new and old count), timestamped with the window's latest record:
// once per window per commit with the store's cache on (the default),
// every update with WithoutCaching, only closed windows with EmitFinal.
// Records with a null key or value are dropped and counted (DropNullKey,
// DropNullValue), and so are records for closed windows (window end +
// grace <= stream time: window.DropLate), as in Kafka Streams.
//
// The store is a window store derived from the windows (window size,
// retention size + grace, or longer with Retention), RocksDB unless
// InMemory, cached unless WithoutCaching, changelogged unless
// WithoutLogging, queryable under its As name (streams.WindowStore).
// The table's key serde is window.TimeWindowedSerde (Kafka Streams'
// TimeWindowedSerializer layout), so ToStream then To needs none.
//
// Options: As, Named, InMemory, WithoutCaching, WithoutLogging,
// Retention, EmitFinal.
func CountWindows[K, V any](ws TimeWindowedStream[K, V], opts ...Option) Table[Windowed[K], int64] {
	return timeAggregate(ws, "CountWindows", record.Int64(), append(opts, ValueSerde(record.Int64())),
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[int64]] {
			if final {
				return window.CountFinal[K, V](ws.w, store, marks)
			}
			return window.Count[K, V](ws.w, store)
		})
}

// ReduceWindows folds the values of each key and time window with
// fn(aggregate, value); a window's first value is its first aggregate.
// See CountWindows; ValueSerde sets the store's values (default: the
// grouping's, else the stream's).
func ReduceWindows[K, V any](ws TimeWindowedStream[K, V], fn func(agg, value V) V, opts ...Option) Table[Windowed[K], V] {
	if ws.g.s.b == nil || isNil(ws.g.s.b, "ReduceWindows", fn) {
		return Table[Windowed[K], V]{}
	}
	return timeAggregate(ws, "ReduceWindows", reduceSerde(ws.g, "ReduceWindows"), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[V]] {
			if final {
				return window.ReduceFinal[K, V](ws.w, store, marks, fn)
			}
			return window.Reduce[K, V](ws.w, store, fn)
		})
}

// AggregateWindows folds the values of each key and time window into an
// aggregate: init makes a window's first one, add adds a value. See
// CountWindows; ValueSerde sets the aggregate's serde (or register one
// for VA).
func AggregateWindows[K, V, VA any](ws TimeWindowedStream[K, V], init func() VA, add func(key K, value V, agg VA) VA, opts ...Option) Table[Windowed[K], VA] {
	b := ws.g.s.b
	if b == nil || isNil(b, "AggregateWindows", init) || isNil(b, "AggregateWindows", add) {
		return Table[Windowed[K], VA]{}
	}
	agg := window.Aggregator[K, V, VA]{Init: init, Add: add}
	return timeAggregate(ws, "AggregateWindows", registered[VA](b), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]] {
			if final {
				return window.AggregateFinal(ws.w, store, marks, agg)
			}
			return window.Aggregate(ws.w, store, agg)
		})
}

// reduceSerde is the store serde of a reduction: the grouping's value
// serde (as Kafka Streams' Grouped), else the stream's.
func reduceSerde[K, V any](g GroupedStream[K, V], op string) record.Serde[V] {
	vs := g.s.values
	if g.o.valueSerde != nil {
		if s, ok := g.o.valueSerde.(record.Serde[V]); ok {
			vs = s
		} else if !g.s.keyChanged { // else the repartition reports it
			serdeOption[V](g.s.b, g.o.valueSerde, nil, op, "values")
		}
	}
	return vs
}

// windowedStore is the part of a windowed aggregation that differs by
// window kind.
type windowedStore[K, VA any] struct {
	kind       string
	valid      bool          // the definition was made by its constructor
	retention  time.Duration // what the windows need
	closeAfter int64         // grace, +1 for windows inclusive at the end
	grace      int64
	keys       func(record.Serde[K]) record.Serde[Windowed[K]]
	// store builds the store (serdes non-nil) with the retention.
	store func(name string, o *options, retention time.Duration, ks record.Serde[K], vas record.Serde[VA]) store.Builder
	get   func(name string) getterSupplier[Windowed[K], VA]
}

func timeAggregate[K, V, VA any](ws TimeWindowedStream[K, V], op string, vaSerde record.Serde[VA], opts []Option,
	sup func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]]) Table[Windowed[K], VA] {
	w := ws.w
	return windowedAggregate(ws.g, op, vaSerde, opts, windowedStore[K, VA]{
		kind: "time windows", valid: w.Size() > 0, retention: w.Retention(), closeAfter: w.Grace(), grace: w.Grace(),
		keys: func(ks record.Serde[K]) record.Serde[Windowed[K]] { return window.TimeWindowedSerde(ks, w.Size()) },
		store: func(name string, o *options, retention time.Duration, ks record.Serde[K], vas record.Serde[VA]) store.Builder {
			return windowStoreBuilder(name, o, retention, time.Duration(w.Size())*time.Millisecond, ks, vas)
		},
		get: windowGetter[K, VA],
	}, sup)
}

func windowStoreBuilder[K, VA any](name string, o *options, retention, size time.Duration, ks record.Serde[K], vas record.Serde[VA]) store.Builder {
	sb := store.NewWindowBuilder(o.windowBackend()(name, retention, size, false), ks, store.TimestampedSerde(vas))
	if !o.noCache {
		sb.WithCaching()
	}
	if o.noLogging {
		sb.WithLoggingDisabled()
	}
	return sb
}

// windowGetter reads a (time or sliding) windowed table's window store.
func windowGetter[K, VA any](name string) getterSupplier[Windowed[K], VA] {
	return func(ctx processor.StoreProvider, _ bool) (valueGetter[Windowed[K], VA], error) { // reads through the cache
		s, err := processor.WindowStore[K, store.ValueAndTimestamp[VA]](ctx, name)
		if err != nil {
			return nil, err
		}
		return func(k Windowed[K]) (VA, int64, bool, error) {
			vt, ok, err := s.Fetch(k.Key, k.Start)
			return vt.Value, vt.Timestamp, ok, err
		}, nil
	}
}

// windowedAggregate adds a windowed aggregation of g: the repartition if
// the key changed, the processor, its store (and emit-final watermark).
func windowedAggregate[K, V, VA any](g GroupedStream[K, V], op string, vaSerde record.Serde[VA], opts []Option,
	ws windowedStore[K, VA], sup func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]]) Table[Windowed[K], VA] {
	b := g.s.b
	if b == nil {
		return Table[Windowed[K], VA]{}
	}
	o := collect(opts)
	if !ws.valid {
		b.problem(fmt.Errorf("%w: %s: zero %s: make them with the window package's constructors", ErrInvalidOperator, op, ws.kind))
		return Table[Windowed[K], VA]{}
	}
	// As in Kafka Streams, the store's name is generated before the
	// processor's.
	storeName := b.storeName(o, "KSTREAM-AGGREGATE-STATE-STORE-")
	name := b.nodeName(o, "KSTREAM-AGGREGATE-")
	retention := ws.retention
	if o.retention != 0 {
		if o.retention < ws.retention {
			b.problem(fmt.Errorf("%w: %s %q: Retention %v is shorter than the %s need (%v: size + grace)",
				ErrInvalidOperator, op, storeName, o.retention, ws.kind, ws.retention))
		} else {
			retention = o.retention
		}
	}
	in := groupedInput(g, storeName, o, op)
	what := fmt.Sprintf("%s %q (store)", op, storeName)
	ks := serdeFor[K](b, g.o.keySerde, in.keys, what, "keys")
	vas := serdeFor[VA](b, o.valueSerde, vaSerde, what, "aggregates")
	marks := ""
	if o.emitFinal {
		marks = storeName + "-emit-watermark"
	}
	processor.AddProcessor(b.pb, name, sup(storeName, marks, o.emitFinal), in.node)
	if ks != nil && vas != nil {
		b.pb.AddStore(ws.store(storeName, o, retention, ks, vas), name)
	}
	if o.emitFinal {
		// The watermark lives where the windows do: a persistent window
		// store reopened without a restore must find its watermark too.
		mb := window.EmitWatermarkStore(o.keyValueBackend(), marks)
		if o.noLogging {
			mb.WithLoggingDisabled()
		}
		b.pb.AddStore(mb, name)
	}
	var keys record.Serde[Windowed[K]]
	if ks != nil {
		keys = ws.keys(ks)
	}
	return Table[Windowed[K], VA]{b: b, node: name, keys: keys, values: vas, get: ws.get(storeName),
		getStores: []string{storeName}, store: storeName, topics: in.topics,
		win: &windowDef{kind: ws.kind, grace: ws.grace, closeAt: closesAt[K](ws.closeAfter)}}
}

// CountSliding counts the records of each key in sliding windows
// ([t - difference, t], inclusive at both ends; Kafka Streams'
// SlidingWindows). See CountWindows: the store is a window store of
// window size difference and retention difference + grace + 1 ms;
// a window closes once stream time passes its end + grace. With
// EmitFinal, only closed windows are forwarded, each once, when the
// stream time passes its end + grace (see window.AggregateSlidingFinal).
func CountSliding[K, V any](ws SlidingWindowedStream[K, V], opts ...Option) Table[Windowed[K], int64] {
	return slidingAggregate(ws, "CountSliding", record.Int64(), append(opts, ValueSerde(record.Int64())),
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[int64]] {
			if final {
				return window.CountSlidingFinal[K, V](ws.w, store, marks)
			}
			return window.CountSliding[K, V](ws.w, store)
		})
}

// ReduceSliding folds the values of each key and sliding window with fn;
// see CountSliding and ReduceWindows.
func ReduceSliding[K, V any](ws SlidingWindowedStream[K, V], fn func(agg, value V) V, opts ...Option) Table[Windowed[K], V] {
	if ws.g.s.b == nil || isNil(ws.g.s.b, "ReduceSliding", fn) {
		return Table[Windowed[K], V]{}
	}
	return slidingAggregate(ws, "ReduceSliding", reduceSerde(ws.g, "ReduceSliding"), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[V]] {
			if final {
				return window.ReduceSlidingFinal[K, V](ws.w, store, marks, fn)
			}
			return window.ReduceSliding[K, V](ws.w, store, fn)
		})
}

// AggregateSliding folds the values of each key and sliding window into
// an aggregate; see CountSliding and AggregateWindows.
func AggregateSliding[K, V, VA any](ws SlidingWindowedStream[K, V], init func() VA, add func(key K, value V, agg VA) VA, opts ...Option) Table[Windowed[K], VA] {
	b := ws.g.s.b
	if b == nil || isNil(b, "AggregateSliding", init) || isNil(b, "AggregateSliding", add) {
		return Table[Windowed[K], VA]{}
	}
	return slidingAggregate(ws, "AggregateSliding", registered[VA](b), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]] {
			agg := window.Aggregator[K, V, VA]{Init: init, Add: add}
			if final {
				return window.AggregateSlidingFinal(ws.w, store, marks, agg)
			}
			return window.AggregateSliding(ws.w, store, agg)
		})
}

func slidingAggregate[K, V, VA any](ws SlidingWindowedStream[K, V], op string, vaSerde record.Serde[VA], opts []Option,
	sup func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]]) Table[Windowed[K], VA] {
	w := ws.w
	return windowedAggregate(ws.g, op, vaSerde, opts, windowedStore[K, VA]{
		kind: "sliding windows", valid: w.TimeDifference() > 0, retention: w.Retention(), closeAfter: w.Grace() + 1, grace: w.Grace(),
		keys: func(ks record.Serde[K]) record.Serde[Windowed[K]] {
			return window.TimeWindowedSerde(ks, w.TimeDifference())
		},
		store: func(name string, o *options, retention time.Duration, ks record.Serde[K], vas record.Serde[VA]) store.Builder {
			return windowStoreBuilder(name, o, retention, time.Duration(w.TimeDifference())*time.Millisecond, ks, vas)
		},
		get: windowGetter[K, VA],
	}, sup)
}

// Unwindow rekeys a windowed stream by its plain keys (the window is
// dropped: keep it in the value if it matters), for the "rekey windowed
// results" step before a join or a sink keyed by the plain key. The key
// counts as changed: a later grouping or join repartitions. The key serde
// is the one the windowed serde was made with (else KeySerde, else the
// registered one). Options: Named, KeySerde.
func Unwindow[K, V any](s Stream[Windowed[K], V], opts ...Option) Stream[K, V] {
	if s.b == nil {
		return Stream[K, V]{}
	}
	name, o := addFunc(s, "KSTREAM-UNWINDOW-", opts, func(ctx processor.Context[K, V], r record.Record[Windowed[K], V]) error {
		return ctx.Forward(window.Unwindow(r))
	})
	out := derive[K, V](s, name, true)
	if ks := window.KeySerdeOf(s.keys); ks != nil {
		out.keys = ks
	}
	return withSerdes(out, o, "Unwindow")
}
