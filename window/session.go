package window

import (
	"fmt"
	"math"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// SessionAggregator folds records into session aggregates; Merge combines
// the aggregates of two sessions a record bridges. Init may be nil: a new
// session then starts from the zero VA, and a bridged one from the first
// session's aggregate. A nil Add or Merge makes the processor's Init fail
// with ErrNilFunction.
type SessionAggregator[K, V, VA any] struct {
	Init  func() VA
	Add   func(key K, value V, agg VA) VA
	Merge func(key K, a, b VA) VA
}

// AggregateSessions returns a supplier of processors that aggregate records
// into session windows of w, in the session store named storeName (see
// SessionStore). A record joins every session it comes within the gap of,
// merging them; each merged-away session is forwarded as a tombstone
// (Change without New), and the merged session's aggregate as an update,
// timestamped with the session end.
func AggregateSessions[K, V, VA any](w SessionWindows, storeName string, agg SessionAggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	add := func(k K, v V, a VA, _ bool) VA { return agg.Add(k, v, a) }
	var missing error
	switch {
	case agg.Add == nil:
		missing = nilFunc("AggregateSessions: SessionAggregator.Add")
	case agg.Merge == nil:
		missing = nilFunc("AggregateSessions: SessionAggregator.Merge")
	}
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		return &sessionAggregate[K, V, VA]{w: w, storeName: storeName, init: agg.Init, add: add, merge: agg.Merge,
			missing: missing, observed: math.MinInt64}
	}
}

// CountSessions counts records per key and session.
func CountSessions[K, V any](w SessionWindows, storeName string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return AggregateSessions(w, storeName, SessionAggregator[K, V, int64]{
		Init:  func() int64 { return 0 },
		Add:   func(_ K, _ V, n int64) int64 { return n + 1 },
		Merge: func(_ K, a, b int64) int64 { return a + b },
	})
}

// ReduceSessions combines the values of each key and session with reduce
// (which also merges sessions). A nil reduce makes the processor's Init
// fail with ErrNilFunction.
func ReduceSessions[K, V any](w SessionWindows, storeName string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	missing := missingReducer(reduce, "ReduceSessions")
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		return &sessionAggregate[K, V, V]{w: w, storeName: storeName, observed: math.MinInt64, missing: missing,
			add: reducer[K](reduce), merge: func(_ K, a, b V) V { return reduce(a, b) }}
	}
}

type sessionAggregate[K, V, VA any] struct {
	w         SessionWindows
	storeName string
	// init starts an aggregate that sessions then merge into (Kafka
	// Streams' order); nil for reduce, where the first session or value
	// starts it. add folds a value in (found: there is an aggregate to
	// fold into); merge combines two aggregates.
	init     func() VA
	add      func(k K, v V, agg VA, empty bool) VA
	merge    func(k K, a, b VA) VA
	missing  error // a nil function given: Init fails with it
	ctx      processor.Context[Windowed[K], Change[VA]]
	store    store.SessionStore[K, VA]
	cached   bool
	observed int64
	merged   []store.KeyValue[Windowed[K], VA]
}

func (p *sessionAggregate[K, V, VA]) Init(ctx processor.Context[Windowed[K], Change[VA]]) error {
	p.ctx = ctx
	if p.missing != nil {
		return p.missing
	}
	s, err := processor.SessionStore[K, VA](ctx, p.storeName)
	if err != nil {
		return err
	}
	if need := p.w.Retention().Milliseconds(); s.RetentionPeriod() < need {
		return fmt.Errorf("%w: AggregateSessions: store %q retains sessions for %d ms, the sessions need %d ms (gap + grace); "+
			"build it with window.SessionStore from the same SessionWindows", ErrWindowMismatch, p.storeName, s.RetentionPeriod(), need)
	}
	p.store = s
	p.observed = max(p.observed, ctx.StreamTime())
	err = store.SetSessionFlushListener(s, true, func(k Windowed[K], nv, ov *VA, _ int64) error {
		return p.forward(k, nv, ov)
	})
	p.cached = err == nil
	return nil
}

// forward sends a session's change, timestamped with the session end.
func (p *sessionAggregate[K, V, VA]) forward(k Windowed[K], nv, ov *VA) error {
	var c Change[VA]
	if nv != nil {
		c.New, c.HasNew = *nv, true
	}
	if ov != nil {
		c.Old, c.HasOld = *ov, true
	}
	r, err := record.New(k, c, max(k.End, 0))
	if err != nil {
		return err
	}
	return p.ctx.Forward(r)
}

func (p *sessionAggregate[K, V, VA]) Process(r record.Record[K, V]) error {
	if skip(p.ctx, r) {
		return nil
	}
	ts, key := r.Timestamp(), r.Key()
	p.observed = max(p.observed, ts)
	closeTime := record.SaturatingSub(p.observed, p.w.grace)
	session := Windowed[K]{Key: key, Start: ts, End: ts}
	var agg VA
	empty := true
	if p.init != nil {
		agg, empty = p.init(), false
	}
	// Sessions are inclusive at both ends, so one can end at MaxInt64; the
	// search bounds clamp (a latest start of MaxInt64 means any start).
	it, err := p.store.FindSessions(key, record.SaturatingSub(ts, p.w.gap), record.SaturatingAdd(ts, p.w.gap))
	if err != nil {
		return err
	}
	p.merged = p.merged[:0]
	for it.Next() {
		s := it.Key()
		p.merged = append(p.merged, store.KeyValue[Windowed[K], VA]{Key: s, Value: it.Value()})
		session.Start, session.End = min(session.Start, s.Start), max(session.End, s.End)
		if empty {
			agg, empty = it.Value(), false
		} else {
			agg = p.merge(key, agg, it.Value())
		}
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	if session.End < closeTime {
		dropLate(p.ctx, ts, session.End, closeTime)
		return nil
	}
	agg = p.add(key, r.Value(), agg, !empty)
	var old *VA
	for i := range p.merged {
		m := p.merged[i]
		if m.Key.Start == session.Start && m.Key.End == session.End {
			v := m.Value
			old = &v
			continue
		}
		if err := p.store.Remove(m.Key); err != nil {
			return err
		}
		if !p.cached {
			v := m.Value
			if err := p.forward(m.Key, nil, &v); err != nil {
				return err
			}
		}
	}
	if err := p.store.Put(session, agg); err != nil {
		return err
	}
	if !p.cached {
		return p.forward(session, &agg, old)
	}
	return nil
}

func (p *sessionAggregate[K, V, VA]) Close() error { return nil }
