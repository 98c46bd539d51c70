package window

import (
	"fmt"
	"math"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// AggregateSliding returns a supplier of processors that aggregate records
// into sliding windows of w, in the window store named storeName (see
// SlidingWindowStore), with Kafka Streams' rules for which windows a record
// creates and updates: each record gets a window ending at its time (its
// "left" window, [t - d, t]) and, when later records fall within d of it, a
// window starting just after it ([t+1, t+1+d], its "right" window); a record
// updates every existing window containing it. Windows are inclusive at both
// ends; an update is forwarded as a Change timestamped with the window's
// latest record.
func AggregateSliding[K, V, VA any](w SlidingWindows, storeName string, agg Aggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	fold, missing := aggregatorFold(agg, "AggregateSliding")
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		return &slidingAggregate[K, V, VA]{w: w, storeName: storeName, fold: fold, missing: missing, observed: math.MinInt64}
	}
}

// ReduceSliding combines the values of each key and sliding window with
// reduce; a window's first value is its own aggregate. A nil reduce makes
// the processor's Init fail with ErrNilFunction.
func ReduceSliding[K, V any](w SlidingWindows, storeName string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	missing := missingReducer(reduce, "ReduceSliding")
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		return &slidingAggregate[K, V, V]{w: w, storeName: storeName, fold: reducer[K](reduce), missing: missing, observed: math.MinInt64}
	}
}

// CountSliding counts records per key and sliding window.
func CountSliding[K, V any](w SlidingWindows, storeName string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return AggregateSliding(w, storeName, Aggregator[K, V, int64]{Init: func() int64 { return 0 },
		Add: func(_ K, _ V, n int64) int64 { return n + 1 }})
}

type vat[VA any] = store.ValueAndTimestamp[VA]

type slidingAggregate[K, V, VA any] struct {
	w         SlidingWindows
	storeName string
	fold      func(key K, value V, old VA, found bool) VA
	missing   error // a nil function given: Init fails with it
	ctx       processor.Context[Windowed[K], Change[VA]]
	store     store.WindowStore[K, vat[VA]]
	cached    bool
	observed  int64
	starts    map[int64]bool
	// final is set for emit-final (AggregateSlidingFinal): updates are not
	// forwarded, closed windows are.
	final *finalEmitter[VA]
}

func (p *slidingAggregate[K, V, VA]) Init(ctx processor.Context[Windowed[K], Change[VA]]) error {
	p.ctx = ctx
	if p.missing != nil {
		return p.missing
	}
	if p.w.diff < 1 {
		return fmt.Errorf("%w: sliding windows with a time difference of %d ms; make them with Sliding", ErrInvalidWindow, p.w.diff)
	}
	s, err := processor.WindowStore[K, vat[VA]](ctx, p.storeName)
	if err != nil {
		return err
	}
	if err := checkWindowStore("AggregateSliding", p.storeName, s.WindowSize(), s.RetentionPeriod(), p.w.diff, p.w.Retention().Milliseconds()); err != nil {
		return err
	}
	p.store = s
	p.starts = map[int64]bool{}
	p.observed = max(p.observed, ctx.StreamTime())
	if p.final != nil {
		p.cached = true // never forward updates
		return initEmitter(ctx, p.final, "AggregateSlidingFinal")
	}
	err = store.SetWindowFlushListener(s, true, func(k Windowed[K], nv, ov *vat[VA], _ int64) error {
		return forwardChange(p.ctx, k, nv, ov)
	})
	p.cached = err == nil
	return nil
}

func (p *slidingAggregate[K, V, VA]) Process(r record.Record[K, V]) error {
	if skip(p.ctx, r) {
		return nil
	}
	ts := r.Timestamp()
	p.observed = max(p.observed, ts)
	if p.final != nil {
		// Before the record's puts, which may expire the windows it closes.
		// The record cannot change them: it is late for them.
		if err := p.emitClosed(); err != nil {
			return err
		}
	}
	closeTime := record.SaturatingSub(p.observed, p.w.grace)
	// Window ends are start + d, which passes MaxInt64 for windows starting
	// in the last d ms; the rules below compare starts with ts - d instead
	// (exact: ts >= 0), so no end is ever computed past MaxInt64.
	if ts < record.SaturatingSub(closeTime, p.w.diff) { // ts + d < closeTime
		dropLate(p.ctx, ts, record.SaturatingAdd(ts, p.w.diff), closeTime)
		return nil
	}
	clear(p.starts)
	if ts < p.w.diff {
		return p.processEarly(r, closeTime)
	}
	leftStart := ts - p.w.diff // the start of the record's left window
	var leftAgg, rightAgg *vat[VA]
	leftCreated, rightCreated := false, false
	prevTS, hasPrev := int64(0), false
	// Up to the start of the record's right window, ts + 1 (clamped: a
	// record at MaxInt64 has no right window).
	it, err := p.store.FetchRange(r.Key(), max(0, ts-2*p.w.diff), record.SaturatingAdd(ts, 1))
	if err != nil {
		return err
	}
	type pending struct {
		start int64
		v     vat[VA]
	}
	var updates []pending
	for it.Next() {
		start, v := it.Key(), it.Value()
		p.starts[start] = true
		switch {
		case start < leftStart: // ends before ts
			vv := v
			leftAgg, prevTS, hasPrev = &vv, v.Timestamp, true
		case start == leftStart: // ends at ts: the record's left window
			leftCreated = true
			if v.Timestamp < ts {
				prevTS, hasPrev = v.Timestamp, true
			}
			updates = append(updates, pending{start, v})
		case start <= ts: // ends after ts and contains it
			vv := v
			rightAgg = &vv
			updates = append(updates, pending{start, v})
		case start == ts+1: // ts < MaxInt64 here
			rightCreated = true
		default:
			it.Close()
			return fmt.Errorf("window: sliding aggregate found window starting %d for a record at %d", start, ts)
		}
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, u := range updates {
		v := u.v
		if err := p.update(r, u.start, &v, closeTime); err != nil {
			return err
		}
	}
	// The previous record's right window, if missing and not empty (it
	// holds ts: it ends at or after ts).
	if hasPrev {
		prevRight := prevTS + 1 // prevTS < ts: no overflow
		if !p.starts[prevRight] && prevRight >= leftStart {
			if err := p.update(r, prevRight, nil, closeTime); err != nil {
				return err
			}
		}
	}
	// The record's left window.
	if !leftCreated {
		var base *vat[VA]
		if hasPrev && leftStart <= prevTS && leftAgg != nil {
			base = &vat[VA]{Value: leftAgg.Value, Timestamp: ts}
		}
		if err := p.update(r, leftStart, base, closeTime); err != nil {
			return err
		}
	}
	// The record's right window, if later records fall in it (then ts <
	// their time <= MaxInt64, so ts + 1 fits).
	if !rightCreated && rightAgg != nil && rightAgg.Timestamp > ts {
		return p.put(r.Key(), ts+1, *rightAgg, nil)
	}
	return nil
}

// processEarly handles records before the first full window: they share a
// window [0, d].
func (p *slidingAggregate[K, V, VA]) processEarly(r record.Record[K, V], closeTime int64) error {
	ts := r.Timestamp()
	var combined, rightAgg *vat[VA]
	rightCreated := false
	prevTS, hasPrev := int64(0), false
	it, err := p.store.FetchRange(r.Key(), 0, ts+1)
	if err != nil {
		return err
	}
	type pending struct {
		start int64
		v     vat[VA]
	}
	var updates []pending
	for it.Next() {
		start, v := it.Key(), it.Value()
		p.starts[start] = true
		switch {
		case start == 0:
			vv := v
			combined = &vv
			if v.Timestamp < ts {
				prevTS, hasPrev = v.Timestamp, true
			}
		case start <= ts:
			vv := v
			rightAgg = &vv
			updates = append(updates, pending{start, v})
		case start == ts+1:
			rightCreated = true
		default:
			it.Close()
			return fmt.Errorf("window: sliding aggregate found window starting %d for an early record at %d", start, ts)
		}
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, u := range updates {
		v := u.v
		if err := p.update(r, u.start, &v, closeTime); err != nil {
			return err
		}
	}
	if rightAgg == nil && combined != nil && combined.Timestamp > ts {
		rightAgg = combined
	}
	if !rightCreated && rightAgg != nil && rightAgg.Timestamp > ts {
		if err := p.put(r.Key(), ts+1, *rightAgg, nil); err != nil {
			return err
		}
	}
	if hasPrev && !p.starts[prevTS+1] {
		if err := p.update(r, prevTS+1, nil, closeTime); err != nil {
			return err
		}
	}
	return p.update(r, 0, combined, closeTime)
}

// update adds the record to the window starting at start, whose current
// aggregate is cur (nil: a new window), unless the window has closed.
func (p *slidingAggregate[K, V, VA]) update(r record.Record[K, V], start int64, cur *vat[VA], closeTime int64) error {
	// end < closeTime is exact with a clamped end: a true end past MaxInt64
	// is not below any closeTime, and neither is MaxInt64.
	if end := record.SaturatingAdd(start, p.w.diff); end < closeTime || (p.final != nil && start <= p.final.emitted) {
		dropLate(p.ctx, r.Timestamp(), end, closeTime)
		return nil
	}
	var next vat[VA]
	if cur == nil {
		var zero VA
		next = vat[VA]{Value: p.fold(r.Key(), r.Value(), zero, false), Timestamp: r.Timestamp()}
	} else {
		next = vat[VA]{Value: p.fold(r.Key(), r.Value(), cur.Value, true), Timestamp: max(r.Timestamp(), cur.Timestamp)}
	}
	return p.put(r.Key(), start, next, cur)
}

func (p *slidingAggregate[K, V, VA]) put(key K, start int64, v vat[VA], old *vat[VA]) error {
	if p.final != nil && start <= p.final.emitted {
		// A right window behind the watermark (the stream time restored
		// older than it): emitted windows are never written again.
		return nil
	}
	if err := p.store.Put(key, v, start); err != nil {
		return err
	}
	p.starts[start] = true
	if p.cached {
		return nil
	}
	return forwardChange(p.ctx, Windowed[K]{Key: key, Start: start, End: record.SaturatingAdd(start, p.w.diff)}, &v, old)
}

func (p *slidingAggregate[K, V, VA]) Close() error { return nil }

// emitClosed forwards the sliding windows that closed (end + grace <
// stream time) since the last emission, then moves the watermark past
// them.
func (p *slidingAggregate[K, V, VA]) emitClosed() error {
	closeTime := record.SaturatingSub(p.observed, p.w.grace)
	// start + d < closeTime, computed without passing MinInt64.
	bound := record.SaturatingSub(record.SaturatingSub(closeTime, p.w.diff), 1)
	if bound < 0 || bound <= p.final.emitted {
		return nil
	}
	return emitWindows(p.ctx, p.store, p.final, bound)
}
