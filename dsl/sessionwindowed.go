package dsl

import (
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// CountSessions counts the records of each key and session (Kafka
// Streams' SessionWindowedKStream.count). A record within the gap of one
// or more sessions of its key merges them: each merged-away session is
// forwarded as a delete (a Change without a new value; ToStream makes it a
// tombstone), the merged session as an update, timestamped with the
// session's end. Late records (session end + grace < stream time) are
// dropped and counted (window.DropLate).
//
// The store is a session store derived from the windows (retention gap +
// grace, or longer with Retention), RocksDB unless InMemory, cached unless
// WithoutCaching, changelogged unless WithoutLogging, queryable with
// streams.SessionStore. The table's key serde is
// window.SessionWindowedSerde (Kafka Streams' SessionWindowedSerializer
// layout). With EmitFinal, neither updates nor the deletes of merged-away
// sessions are forwarded: each session once, when stream time passes its
// end + grace (see window.AggregateSessionsFinal). Options: As, Named,
// InMemory, WithoutCaching, WithoutLogging, Retention, EmitFinal.
func CountSessions[K, V any](ws SessionWindowedStream[K, V], opts ...Option) Table[Windowed[K], int64] {
	return sessionAggregate(ws, "CountSessions", record.Int64(), append(opts, ValueSerde(record.Int64())),
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[int64]] {
			if final {
				return window.CountSessionsFinal[K, V](ws.w, store, marks)
			}
			return window.CountSessions[K, V](ws.w, store)
		})
}

// ReduceSessions folds the values of each key and session with fn, which
// also combines the aggregates of merged sessions; see CountSessions and
// ReduceWindows.
func ReduceSessions[K, V any](ws SessionWindowedStream[K, V], fn func(agg, value V) V, opts ...Option) Table[Windowed[K], V] {
	if ws.g.s.b == nil || isNil(ws.g.s.b, "ReduceSessions", fn) {
		return Table[Windowed[K], V]{}
	}
	return sessionAggregate(ws, "ReduceSessions", reduceSerde(ws.g, "ReduceSessions"), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[V]] {
			if final {
				return window.ReduceSessionsFinal[K, V](ws.w, store, marks, fn)
			}
			return window.ReduceSessions[K, V](ws.w, store, fn)
		})
}

// AggregateSessions folds the values of each key and session into an
// aggregate: init makes a new session's, add adds a value, merge combines
// the aggregates of two sessions a record bridges. See CountSessions.
func AggregateSessions[K, V, VA any](ws SessionWindowedStream[K, V], init func() VA, add func(key K, value V, agg VA) VA,
	merge func(key K, a, b VA) VA, opts ...Option) Table[Windowed[K], VA] {
	b := ws.g.s.b
	if b == nil || isNil(b, "AggregateSessions", init) || isNil(b, "AggregateSessions", add) || isNil(b, "AggregateSessions", merge) {
		return Table[Windowed[K], VA]{}
	}
	agg := window.SessionAggregator[K, V, VA]{Init: init, Add: add, Merge: merge}
	return sessionAggregate(ws, "AggregateSessions", registered[VA](b), opts,
		func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]] {
			if final {
				return window.AggregateSessionsFinal(ws.w, store, marks, agg)
			}
			return window.AggregateSessions(ws.w, store, agg)
		})
}

func sessionAggregate[K, V, VA any](ws SessionWindowedStream[K, V], op string, vaSerde record.Serde[VA], opts []Option,
	sup func(store, marks string, final bool) processor.Supplier[K, V, Windowed[K], Change[VA]]) Table[Windowed[K], VA] {
	w := ws.w
	return windowedAggregate(ws.g, op, vaSerde, opts, windowedStore[K, VA]{
		kind: "session windows", valid: w.Gap() > 0, retention: w.Retention(), closeAfter: w.Grace() + 1, grace: w.Grace(),
		keys: window.SessionWindowedSerde[K],
		store: func(name string, o *options, retention time.Duration, ks record.Serde[K], vas record.Serde[VA]) store.Builder {
			sb := store.NewSessionBuilder(o.sessionBackend()(name, retention), ks, vas)
			if !o.noCache {
				sb.WithCaching()
			}
			if o.noLogging {
				sb.WithLoggingDisabled()
			}
			return sb
		},
		get: sessionGetter[K, VA],
	}, sup)
}

// sessionGetter reads a session table's store; a session's timestamp is
// its end.
func sessionGetter[K, VA any](name string) getterSupplier[Windowed[K], VA] {
	return func(ctx processor.StoreProvider, _ bool) (valueGetter[Windowed[K], VA], error) { // reads through the cache
		s, err := processor.SessionStore[K, VA](ctx, name)
		if err != nil {
			return nil, err
		}
		return func(k Windowed[K]) (VA, int64, bool, error) {
			v, ok, err := s.FetchSession(k.Key, k.Start, k.End)
			return v, k.End, ok, err
		}, nil
	}
}
