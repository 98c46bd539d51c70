package window

import (
	"fmt"
	"slices"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// AggregateFinal is Aggregate with Kafka Streams' emit strategy
// onWindowClose (KIP-825): nothing is forwarded while a window is open;
// when the stream time seen by the processor passes a window's end +
// grace, its final aggregate is forwarded once, as a Change without an old
// value, timestamped with the window's latest record. It is cheaper than
// an Aggregate followed by a suppression: there is no second buffer, only
// the window store (see TimeWindowStore) and a watermark.
//
// The watermark is the start of the last window emitted, kept under the
// processor's node name in the key-value store named watermarkStore (see
// EmitWatermarkStore), changelogged with the window store: after a
// restart, no window is emitted twice, none is skipped, and a record that
// falls into an emitted window is dropped as late even if the restored
// stream time is older than the watermark.
//
// Closed windows are looked up when the stream time crosses a window
// boundary (a multiple of the advance), not per record: one FetchAll of
// the window store per advance of stream time. Finals of one step go out
// in window-start order, then in the store's key order.
func AggregateFinal[K, V, VA any](w TimeWindows, storeName, watermarkStore string, agg Aggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	fold, missing := aggregatorFold(agg, "AggregateFinal")
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		return &timeAggregate[K, V, VA]{w: w, storeName: storeName, fold: fold, missing: missing, observed: minTime,
			final: &finalEmitter[VA]{storeName: watermarkStore}}
	}
}

// CountFinal is Count with only closed windows' counts forwarded; see
// AggregateFinal.
func CountFinal[K, V any](w TimeWindows, storeName, watermarkStore string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return AggregateFinal(w, storeName, watermarkStore, Aggregator[K, V, int64]{Init: func() int64 { return 0 },
		Add: func(_ K, _ V, n int64) int64 { return n + 1 }})
}

// ReduceFinal is Reduce with only closed windows' results forwarded; see
// AggregateFinal.
func ReduceFinal[K, V any](w TimeWindows, storeName, watermarkStore string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	missing := missingReducer(reduce, "ReduceFinal")
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		return &timeAggregate[K, V, V]{w: w, storeName: storeName, fold: reducer[K](reduce), missing: missing, observed: minTime,
			final: &finalEmitter[V]{storeName: watermarkStore}}
	}
}

// AggregateSlidingFinal is AggregateSliding with Kafka Streams' emit
// strategy onWindowClose: nothing is forwarded while a window is open;
// once the stream time seen by the processor passes a window's end +
// grace (sliding windows are inclusive at both ends, so a window [s, s+d]
// closes at stream time s + d + grace + 1), its final aggregate is
// forwarded once, as a Change without an old value, timestamped with the
// window's latest record. Windows a record creates or updates are the
// ones AggregateSliding makes.
//
// The watermark (see AggregateFinal and EmitWatermarkStore) is the
// largest window start the emitted windows cover: after a restart no
// window is emitted twice, none is skipped, and a record that would
// update or create a window behind the watermark is dropped as late for
// it. Closed windows are looked up with one FetchAll of the window store
// each time the stream time advances; finals of one step go out in
// window-start order, then in the store's key order.
func AggregateSlidingFinal[K, V, VA any](w SlidingWindows, storeName, watermarkStore string, agg Aggregator[K, V, VA]) processor.Supplier[K, V, Windowed[K], Change[VA]] {
	fold, missing := aggregatorFold(agg, "AggregateSlidingFinal")
	return func() processor.Processor[K, V, Windowed[K], Change[VA]] {
		return &slidingAggregate[K, V, VA]{w: w, storeName: storeName, fold: fold, missing: missing, observed: minTime,
			final: &finalEmitter[VA]{storeName: watermarkStore}}
	}
}

// CountSlidingFinal is CountSliding with only closed windows' counts
// forwarded; see AggregateSlidingFinal.
func CountSlidingFinal[K, V any](w SlidingWindows, storeName, watermarkStore string) processor.Supplier[K, V, Windowed[K], Change[int64]] {
	return AggregateSlidingFinal(w, storeName, watermarkStore, Aggregator[K, V, int64]{Init: func() int64 { return 0 },
		Add: func(_ K, _ V, n int64) int64 { return n + 1 }})
}

// ReduceSlidingFinal is ReduceSliding with only closed windows' results
// forwarded; see AggregateSlidingFinal.
func ReduceSlidingFinal[K, V any](w SlidingWindows, storeName, watermarkStore string, reduce func(agg, value V) V) processor.Supplier[K, V, Windowed[K], Change[V]] {
	missing := missingReducer(reduce, "ReduceSlidingFinal")
	return func() processor.Processor[K, V, Windowed[K], Change[V]] {
		return &slidingAggregate[K, V, V]{w: w, storeName: storeName, fold: reducer[K](reduce), missing: missing, observed: minTime,
			final: &finalEmitter[V]{storeName: watermarkStore}}
	}
}

// EmitWatermarkStore returns the builder of the store AggregateFinal (and
// AggregateSlidingFinal) keeps its watermark in: a changelogged key-value store of node name to the
// start of the last window emitted. It is tiny (one entry per processor),
// so the in-memory backend (nil) is the natural one.
func EmitWatermarkStore(backend KeyValueBackend, name string) *store.KeyValueBuilder[string, int64] {
	return store.NewKeyValueBuilder(backend.orInMemory()(name), record.String(), record.Int64())
}

const minTime = -1 << 63

// noneEmitted is the watermark before any window was emitted: window
// starts are never negative.
const noneEmitted = -1

// finalEmitter is the emit-final part of a timeAggregate.
type finalEmitter[VA any] struct {
	storeName string
	key       string
	marks     store.KeyValueStore[string, int64]
	emitted   int64 // start of the last window emitted; noneEmitted
}

func (p *timeAggregate[K, V, VA]) initFinal(ctx processor.Context[Windowed[K], Change[VA]]) error {
	return initEmitter(ctx, p.final, "AggregateFinal")
}

// initEmitter opens f's watermark store and reads f's watermark.
func initEmitter[K, VA any](ctx processor.Context[Windowed[K], Change[VA]], f *finalEmitter[VA], op string) error {
	s, err := processor.KeyValueStore[string, int64](ctx, f.storeName)
	if err != nil {
		return err
	}
	f.marks, f.key = s, ctx.NodeName()
	mark, ok, err := s.Get(f.key)
	if err != nil {
		return fmt.Errorf("%s: reading the watermark: %w", op, err)
	}
	f.emitted = noneEmitted
	if ok {
		f.emitted = mark
	}
	return nil
}

// emitClosed forwards the windows that closed since the last emission,
// then moves the watermark past them.
func (p *timeAggregate[K, V, VA]) emitClosed() error {
	f := p.final
	closeTime := record.SaturatingSub(p.observed, p.w.grace)
	lastStart := record.SaturatingSub(closeTime, p.w.size) // End(start) <= closeTime
	if lastStart < 0 {
		return nil
	}
	bound := lastStart / p.w.advance * p.w.advance
	if bound <= f.emitted {
		return nil
	}
	return emitWindows(p.ctx, p.store, f, bound)
}

// emitWindows forwards the windows of s starting in (f.emitted, bound], by
// start, then in the store's key order, and moves f's watermark to bound.
func emitWindows[K, VA any](ctx processor.Context[Windowed[K], Change[VA]], s store.WindowStore[K, store.ValueAndTimestamp[VA]], f *finalEmitter[VA], bound int64) error {
	it, err := s.FetchAll(f.emitted+1, bound)
	if err != nil {
		return err
	}
	type closed struct {
		k Windowed[K]
		v store.ValueAndTimestamp[VA]
	}
	var wins []closed
	for it.Next() {
		wins = append(wins, closed{it.Key(), it.Value()})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	slices.SortStableFunc(wins, func(a, b closed) int {
		switch {
		case a.k.Start < b.k.Start:
			return -1
		case a.k.Start > b.k.Start:
			return 1
		}
		return 0
	})
	for _, c := range wins {
		r, err := record.New(c.k, Change[VA]{New: c.v.Value, HasNew: true}, max(c.v.Timestamp, 0))
		if err != nil {
			return err
		}
		if err := ctx.Forward(r); err != nil {
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
