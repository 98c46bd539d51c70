package window

import (
	"cmp"
	"fmt"
	"math"
	"slices"

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

// AggregateSessionsFinal is AggregateSessions with Kafka Streams' emit
// strategy onWindowClose: nothing is forwarded while a session is open,
// neither updates nor the deletes of merged-away sessions (a session
// merged into another is never emitted); once the stream time seen by the
// processor passes a session's end + grace (sessions are inclusive at
// both ends), its final aggregate is forwarded once, as a Change without
// an old value, timestamped with the session end. As in Kafka Streams, a
// record within the gap of a closed session still merges with it when it
// is not late itself (a gap longer than the grace): the merged session is
// then emitted when it closes, after the closed one was.
//
// The watermark (see AggregateFinal and EmitWatermarkStore) is the
// largest session end the emitted sessions cover: after a restart no
// session is emitted twice, none is skipped, and a record whose session
// would end at or before the watermark is dropped as late. Closed sessions
// are looked up with one FindSessionsByEnd (a scan of the session store)
// each time the stream time advances; finals of one step go out by
// session end, then in the store's key order.
func AggregateSessionsFinal[K, V, VA any](w SessionWindows, storeName, watermarkStore string, agg SessionAggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	sup := AggregateSessions(w, storeName, agg)
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		p := sup().(*sessionAggregate[K, V, VA])
		p.final = &finalEmitter[VA]{storeName: watermarkStore}
		return p
	}
}

// CountSessionsFinal is CountSessions with only closed sessions' counts
// forwarded; see AggregateSessionsFinal.
func CountSessionsFinal[K, V any](w SessionWindows, storeName, watermarkStore string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return AggregateSessionsFinal(w, storeName, watermarkStore, SessionAggregator[K, V, int64]{
		Init:  func() int64 { return 0 },
		Add:   func(_ K, _ V, n int64) int64 { return n + 1 },
		Merge: func(_ K, a, b int64) int64 { return a + b },
	})
}

// ReduceSessionsFinal is ReduceSessions with only closed sessions' results
// forwarded; see AggregateSessionsFinal.
func ReduceSessionsFinal[K, V any](w SessionWindows, storeName, watermarkStore string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	sup := ReduceSessions[K, V](w, storeName, reduce)
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		p := sup().(*sessionAggregate[K, V, V])
		p.final = &finalEmitter[V]{storeName: watermarkStore}
		return p
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
	// final is set for emit-final (AggregateSessionsFinal): updates and
	// merges are not forwarded, closed sessions are.
	final *finalEmitter[VA]
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
	if p.final != nil {
		p.cached = true // never forward updates
		return initEmitter(ctx, p.final, "AggregateSessionsFinal")
	}
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
	if p.final != nil {
		// Before the record's put, which may expire the sessions it closes.
		if err := p.emitClosed(); err != nil {
			return err
		}
	}
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
	if session.End < closeTime || (p.final != nil && session.End <= p.final.emitted) {
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

// emitClosed forwards the sessions that closed (end + grace < stream
// time) since the last emission, by end, then in the store's key order,
// each timestamped with its end, then moves the watermark (the largest
// session end emitted past) to them.
func (p *sessionAggregate[K, V, VA]) emitClosed() error {
	f := p.final
	bound := record.SaturatingSub(record.SaturatingSub(p.observed, p.w.grace), 1) // end < closeTime
	if bound < 0 || bound <= f.emitted {
		return nil
	}
	it, err := p.store.FindSessionsByEnd(f.emitted+1, bound)
	if err != nil {
		return err
	}
	var closed []store.KeyValue[Windowed[K], VA]
	for it.Next() {
		closed = append(closed, store.KeyValue[Windowed[K], VA]{Key: it.Key(), Value: it.Value()})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	slices.SortStableFunc(closed, func(a, b store.KeyValue[Windowed[K], VA]) int { return cmp.Compare(a.Key.End, b.Key.End) })
	for i := range closed {
		if err := p.forward(closed[i].Key, &closed[i].Value, nil); err != nil {
			return err
		}
	}
	// After the forwards: a failure before this line re-emits on retry
	// rather than lose a final.
	if err := f.marks.Put(f.key, bound); err != nil {
		return err
	}
	f.emitted = bound
	return nil
}
