package window

import (
	"fmt"
	"math"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Drop reasons counted through Context.Dropped.
const (
	DropNullKey   = "null-key"
	DropNullValue = "null-value"
	DropLate      = "late"
	// DropTimestampOutOfRange counts records no window can hold: a record
	// at math.MaxInt64 in time windows, whose every window would end past
	// the largest timestamp (see the package doc).
	DropTimestampOutOfRange = "window-timestamp-out-of-range"
	// DropSuppressionDueOutOfRange counts updates a suppression cannot
	// buffer because the time they would be due at is past math.MaxInt64:
	// stream time never gets there, so no final result could be emitted.
	DropSuppressionDueOutOfRange = "suppression-due-out-of-range"
)

// Aggregator folds records into an aggregate: Init makes the empty
// aggregate, Add adds one record's value. A nil Init makes the zero VA; a
// nil Add makes the processor's Init fail with ErrNilFunction.
type Aggregator[K, V, VA any] struct {
	Init func() VA
	Add  func(key K, value V, agg VA) VA
}

// skip drops a record with a null key or value, counting and logging it.
// It reports whether the record was dropped.
func skip[KO, VO, K, V any](ctx processor.Context[KO, VO], r record.Record[K, V]) bool {
	reason := ""
	switch {
	case r.KeyIsNull():
		reason = DropNullKey
	case r.ValueIsNull():
		reason = DropNullValue
	default:
		return false
	}
	ctx.Dropped(reason)
	md, _ := ctx.RecordMetadata()
	ctx.Logger().Debug("dropping record", zap.String("reason", reason), zap.Stringer("record", md))
	return true
}

// dropOutOfRange drops a record whose time no window (or suppression due
// time) can hold, counting it and logging it at warn level: unlike a late
// record it points at a producer or extractor bug (an event time some 292
// million years ahead).
func dropOutOfRange[KO, VO any](ctx processor.Context[KO, VO], reason string, ts int64) {
	ctx.Dropped(reason)
	md, _ := ctx.RecordMetadata()
	ctx.Logger().Warn("dropping record: its time is out of range", zap.String("reason", reason),
		zap.Int64("timestamp", ts), zap.Stringer("record", md))
}

func dropLate[KO, VO any](ctx processor.Context[KO, VO], ts, windowEnd, closeTime int64) {
	ctx.Dropped(DropLate)
	md, _ := ctx.RecordMetadata()
	ctx.Logger().Debug("dropping record for a closed window", zap.Int64("timestamp", ts),
		zap.Int64("window_end", windowEnd), zap.Int64("close_time", closeTime), zap.Stringer("record", md))
}

// Aggregate returns a supplier of processors that aggregate each record
// into the time windows of w containing it, in the window store named
// storeName (see TimeWindowStore), and forward every update as a Change
// keyed by the windowed key, timestamped with the window's latest record.
func Aggregate[K, V, VA any](w TimeWindows, storeName string, agg Aggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	fold, missing := aggregatorFold(agg, "Aggregate")
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		return &timeAggregate[K, V, VA]{w: w, storeName: storeName, fold: fold, missing: missing, observed: math.MinInt64}
	}
}

// aggregatorFold makes the fold of agg, and the error its processors' Init
// returns when agg cannot fold (nil Add); checked once, not per record.
func aggregatorFold[K, V, VA any](agg Aggregator[K, V, VA], op string) (func(K, V, VA, bool) VA, error) {
	if agg.Add == nil {
		return nil, nilFunc(op + ": Aggregator.Add")
	}
	initial := agg.Init
	if initial == nil {
		initial = zeroInit[VA]
	}
	return func(k K, v V, old VA, found bool) VA {
		if !found {
			old = initial()
		}
		return agg.Add(k, v, old)
	}, nil
}

// Count returns a supplier of processors counting records per key and
// window.
func Count[K, V any](w TimeWindows, storeName string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return Aggregate(w, storeName, Aggregator[K, V, int64]{Init: func() int64 { return 0 },
		Add: func(_ K, _ V, n int64) int64 { return n + 1 }})
}

// Reduce returns a supplier of processors combining the values of each key
// and window with reduce; a window's first value is its own aggregate. A
// nil reduce makes the processor's Init fail with ErrNilFunction.
func Reduce[K, V any](w TimeWindows, storeName string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	missing := missingReducer(reduce, "Reduce")
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		return &timeAggregate[K, V, V]{w: w, storeName: storeName, fold: reducer[K](reduce), missing: missing, observed: math.MinInt64}
	}
}

func missingReducer[V any](reduce func(agg, value V) V, op string) error {
	if reduce == nil {
		return nilFunc(op + ": reduce")
	}
	return nil
}

// reducer folds with reduce, a key's first value being its own aggregate.
func reducer[K, V any](reduce func(agg, value V) V) func(K, V, V, bool) V {
	return func(_ K, v V, old V, found bool) V {
		if !found {
			return v
		}
		return reduce(old, v)
	}
}

type timeAggregate[K, V, VA any] struct {
	w         TimeWindows
	storeName string
	fold      func(key K, value V, old VA, found bool) VA
	missing   error // a nil function given: Init fails with it
	ctx       processor.Context[Windowed[K], Change[VA]]
	store     store.WindowStore[K, store.ValueAndTimestamp[VA]]
	cached    bool
	observed  int64
	starts    []int64
	// final is set for emit-final (AggregateFinal): updates are not
	// forwarded, closed windows are.
	final *finalEmitter[VA]
}

func (p *timeAggregate[K, V, VA]) Init(ctx processor.Context[Windowed[K], Change[VA]]) error {
	p.ctx = ctx
	if p.missing != nil {
		return p.missing
	}
	if p.w.size < 1 || p.w.advance < 1 || p.w.advance > p.w.size {
		return fmt.Errorf("%w: time windows of size %d ms and advance %d ms; make them with Tumbling or Hopping",
			ErrInvalidWindow, p.w.size, p.w.advance)
	}
	s, err := processor.WindowStore[K, store.ValueAndTimestamp[VA]](ctx, p.storeName)
	if err != nil {
		return err
	}
	if err := checkWindowStore("Aggregate", p.storeName, s.WindowSize(), s.RetentionPeriod(), p.w.size, p.w.Retention().Milliseconds()); err != nil {
		return err
	}
	p.store = s
	p.observed = max(p.observed, ctx.StreamTime())
	if p.final != nil {
		p.cached = true // never forward updates
		return p.initFinal(ctx)
	}
	return p.forwardOnFlush()
}

// forwardOnFlush makes a cached store forward compacted updates when it
// flushes; without a cache, Process forwards every update itself.
func (p *timeAggregate[K, V, VA]) forwardOnFlush() error {
	err := store.SetWindowFlushListener(p.store, true, func(k Windowed[K], nv, ov *store.ValueAndTimestamp[VA], _ int64) error {
		return forwardChange(p.ctx, k, nv, ov)
	})
	p.cached = err == nil
	return nil
}

// forwardChange forwards old and new aggregate, timestamped with the new
// one's latest record (or the old one's, for a tombstone).
func forwardChange[K, VA any](ctx processor.Context[Windowed[K], Change[VA]], k Windowed[K], nv, ov *store.ValueAndTimestamp[VA]) error {
	var c Change[VA]
	ts := int64(0)
	if nv != nil {
		c.New, c.HasNew, ts = nv.Value, true, nv.Timestamp
	}
	if ov != nil {
		c.Old, c.HasOld = ov.Value, true
		if nv == nil {
			ts = ov.Timestamp
		}
	}
	r, err := record.New(k, c, max(ts, 0))
	if err != nil {
		return err
	}
	return ctx.Forward(r)
}

func (p *timeAggregate[K, V, VA]) Process(r record.Record[K, V]) error {
	if skip(p.ctx, r) {
		return nil
	}
	ts := r.Timestamp()
	p.observed = max(p.observed, ts)
	if p.final != nil {
		// Before the record's put, which may expire the windows it closes.
		// The record cannot change them: it is late for them.
		if err := p.emitClosed(); err != nil {
			return err
		}
	}
	closeTime := record.SaturatingSub(p.observed, p.w.grace)
	p.starts = p.w.StartsFor(p.starts[:0], ts)
	if len(p.starts) == 0 { // ts = MaxInt64: every window would end past it
		dropOutOfRange(p.ctx, DropTimestampOutOfRange, ts)
		return nil
	}
	for _, start := range p.starts {
		end := p.w.End(start) // clamped at MaxInt64: the window's end in time
		if end <= closeTime || (p.final != nil && start <= p.final.emitted) {
			dropLate(p.ctx, ts, end, closeTime)
			continue
		}
		old, found, err := p.store.Fetch(r.Key(), start)
		if err != nil {
			return err
		}
		nv := store.ValueAndTimestamp[VA]{Value: p.fold(r.Key(), r.Value(), old.Value, found), Timestamp: max(ts, old.Timestamp)}
		if err := p.store.Put(r.Key(), nv, start); err != nil {
			return err
		}
		if !p.cached {
			var ov *store.ValueAndTimestamp[VA]
			if found {
				ov = &old
			}
			if err := forwardChange(p.ctx, Windowed[K]{Key: r.Key(), Start: start, End: end}, &nv, ov); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *timeAggregate[K, V, VA]) Close() error { return nil }
