package store

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/record"
)

// Windowed is a key together with its window [Start, End) in milliseconds.
// End is clamped at math.MaxInt64 for windows that would end past it.
type Windowed[K any] struct {
	Key   K
	Start int64
	End   int64
}

// String formats the windowed key as [key@start/end].
func (w Windowed[K]) String() string { return fmt.Sprintf("[%v@%d/%d]", w.Key, w.Start, w.End) }

// ReadOnlyWindowStore is the read side of a WindowStore. Time bounds are
// window starts, both inclusive. Iteration is by serialized key, then window
// start (then insertion, for duplicates); the Backward variants reverse it.
// Windows older than the retention (start <= observed stream time -
// retention) are never returned.
type ReadOnlyWindowStore[K, V any] interface {
	// Fetch returns the value of key's window starting at windowStart.
	Fetch(key K, windowStart int64) (V, bool, error)
	// FetchRange iterates key's windows starting in [timeFrom, timeTo],
	// oldest first; the iterator's keys are window starts.
	FetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error)
	BackwardFetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error)
	// FetchKeyRange iterates the windows of keys in [keyFrom, keyTo]
	// starting in [timeFrom, timeTo].
	FetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error)
	BackwardFetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error)
	// FetchAll iterates every window starting in [timeFrom, timeTo].
	FetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error)
	BackwardFetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error)
	// All iterates every live window.
	All() (Iterator[Windowed[K], V], error)
	BackwardAll() (Iterator[Windowed[K], V], error)
}

// WindowStore keeps values per key and window, for a retention period,
// dropping expired segments whole.
type WindowStore[K, V any] interface {
	StateStore
	ReadOnlyWindowStore[K, V]
	// Put stores value for key's window starting at windowStart. A value
	// that serializes to null deletes the window (ignored when duplicates
	// are retained). A put whose window has expired (windowStart <=
	// observed stream time - retention) is dropped and counted.
	Put(key K, value V, windowStart int64) error
	// RetentionPeriod and WindowSize are in milliseconds.
	RetentionPeriod() int64
	WindowSize() int64
	// ExpiredDrops counts puts dropped because their window had expired.
	ExpiredDrops() int64
	// ObservedStreamTime is the largest window start put (or restored).
	ObservedStreamTime() int64
}

// WindowBytesSupplier describes the byte layer of window stores: name,
// retention, window size, duplicates and where segments live.
type WindowBytesSupplier struct {
	Name             string
	Retention        time.Duration
	WindowSize       time.Duration
	RetainDuplicates bool
	// SegmentInterval; zero means SegmentInterval(retention).
	SegmentInterval time.Duration
	Segments        SegmentSupplierFactory
}

// InMemoryWindow returns the supplier of in-memory window stores. Their
// segments are maps, cheap to create, so they are sized to the retention
// (half of it, at least 10 s) rather than to RocksDB's one-minute minimum:
// smaller maps make short join windows about 30% faster.
func InMemoryWindow(name string, retention, windowSize time.Duration, retainDuplicates bool) WindowBytesSupplier {
	return WindowBytesSupplier{Name: name, Retention: retention, WindowSize: windowSize,
		RetainDuplicates: retainDuplicates, Segments: InMemorySegments,
		SegmentInterval: max(retention/2, 10*time.Second)}
}

// Validate checks the durations.
func (s WindowBytesSupplier) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("window store needs a name"))
	}
	if s.WindowSize < time.Millisecond {
		errs = append(errs, fmt.Errorf("window store %q: window size %v is under 1ms", s.Name, s.WindowSize))
	}
	if s.Retention < s.WindowSize {
		errs = append(errs, fmt.Errorf("window store %q: retention %v is shorter than the window size %v", s.Name, s.Retention, s.WindowSize))
	}
	errs = append(errs, segmentProblems("window", s.Name, s.SegmentInterval, s.Segments)...)
	return errors.Join(errs...)
}

func (s WindowBytesSupplier) interval() int64 {
	return segmentIntervalOf(s.SegmentInterval, s.Retention)
}

// WindowBuilder builds typed window stores.
type WindowBuilder[K, V any] struct {
	timedBuilder[K, V]
	supplier WindowBytesSupplier
}

// NewWindowBuilder returns a builder of window stores over supplier.
func NewWindowBuilder[K, V any](supplier WindowBytesSupplier, keys record.Serde[K], values record.Serde[V]) *WindowBuilder[K, V] {
	return &WindowBuilder[K, V]{supplier: supplier, timedBuilder: timedBuilder[K, V]{kind: "window",
		name: supplier.Name, retention: supplier.Retention, ks: keys, vs: values}}
}

// WithLoggingDisabled builds stores without a changelog topic.
func (b *WindowBuilder[K, V]) WithLoggingDisabled() *WindowBuilder[K, V] {
	b.disabled = true
	return b
}

// WithCaching puts a write-back cache in front of the store.
func (b *WindowBuilder[K, V]) WithCaching() *WindowBuilder[K, V] {
	b.caching = true
	return b
}

// Validate checks the supplier and serdes.
func (b *WindowBuilder[K, V]) Validate() error { return b.validate(b.supplier.Validate()) }

// Build returns a fresh window store.
func (b *WindowBuilder[K, V]) Build() (StateStore, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &typedWindow[K, V]{timedStore: b.build(b.supplier.interval(), b.supplier.Segments, windowStartOf, keyTerminatorLen+windowSuffixLen),
		size: b.supplier.WindowSize.Milliseconds(), dups: b.supplier.RetainDuplicates}, nil
}

// noTime is the observed stream time before anything was written.
const noTime = -1 << 62

func newWindowState() *windowState {
	s := &windowState{}
	s.observed.Store(noTime)
	return s
}

// windowState is shared by a window store and its read-only views.
type windowState struct {
	observed atomic.Int64
	expired  atomic.Int64
	seq      uint32
}

// typedWindow is the typed façade of a window store.
type typedWindow[K, V any] struct {
	timedStore[K, V]
	size int64
	dups bool
}

func (w *typedWindow[K, V]) WindowSize() int64 { return w.size }

// windowEnd is the end of the window starting at start, clamped at
// math.MaxInt64 (a window starting in the last size ms of time ends there).
func windowEnd(start, size int64) int64 { return record.SaturatingAdd(start, size) }

func (w *typedWindow[K, V]) Put(key K, value V, windowStart int64) error {
	kb, err := w.userKey(&w.kbuf, key)
	if err != nil {
		return err
	}
	vb, err := w.vs.Serialize(w.vbuf[:0], value)
	if err != nil {
		return fmt.Errorf("store %q: serialize value: %w", w.Name(), err)
	}
	if vb == nil && w.dups {
		return nil
	}
	if vb != nil {
		w.vbuf = vb[:0]
		for {
			o := w.state.observed.Load()
			if windowStart <= o || w.state.observed.CompareAndSwap(o, windowStart) {
				break
			}
		}
	}
	if windowStart < w.liveFrom() {
		if vb != nil {
			w.state.expired.Add(1)
		}
		return nil
	}
	seq := uint32(0)
	if w.dups {
		w.state.seq++
		seq = w.state.seq
	}
	w.cbuf = windowKey(w.cbuf[:0], kb, windowStart, seq)
	return w.inner.Put(w.cbuf, vb)
}

func (w *typedWindow[K, V]) Fetch(key K, windowStart int64) (V, bool, error) {
	w.lock()
	defer w.unlock()
	var zero V
	if windowStart < w.liveFrom() {
		return zero, false, nil
	}
	kb, err := w.userKey(&w.kbuf, key)
	if err != nil {
		return zero, false, err
	}
	w.cbuf = windowKey(w.cbuf[:0], kb, windowStart, 0)
	return getDecoded(w.inner, w.cbuf, w.vd, &w.cp)
}

func (w *typedWindow[K, V]) FetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error) {
	return w.fetchRange(key, timeFrom, timeTo, false)
}

func (w *typedWindow[K, V]) BackwardFetchRange(key K, timeFrom, timeTo int64) (Iterator[int64, V], error) {
	return w.fetchRange(key, timeFrom, timeTo, true)
}

func (w *typedWindow[K, V]) fetchRange(key K, timeFrom, timeTo int64, reverse bool) (Iterator[int64, V], error) {
	w.lock()
	defer w.unlock()
	timeFrom = max(timeFrom, w.liveFrom())
	kb, err := w.userKey(&w.kbuf, key)
	if err != nil {
		return nil, err
	}
	if timeFrom > timeTo {
		return &windowTimeIter[K, V]{in: emptyIter{}, w: w}, nil
	}
	w.cbuf = windowKeyBound(w.cbuf[:0], kb, timeFrom, false)
	w.cbuf2 = windowKeyBound(w.cbuf2[:0], kb, timeTo, true)
	it, err := w.inner.Range(w.cbuf, w.cbuf2, reverse)
	if err != nil {
		return nil, err
	}
	return &windowTimeIter[K, V]{in: it, w: w}, nil
}

func (w *typedWindow[K, V]) FetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return w.fetchKeyRange(keyFrom, keyTo, timeFrom, timeTo, false)
}

func (w *typedWindow[K, V]) BackwardFetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return w.fetchKeyRange(keyFrom, keyTo, timeFrom, timeTo, true)
}

func (w *typedWindow[K, V]) fetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64, reverse bool) (Iterator[Windowed[K], V], error) {
	w.lock()
	defer w.unlock()
	timeFrom = max(timeFrom, w.liveFrom())
	fb, err := w.userKey(&w.kbuf, keyFrom)
	if err != nil {
		return nil, err
	}
	tb, err := w.userKey(&w.kb2, keyTo)
	if err != nil {
		return nil, err
	}
	if timeFrom > timeTo {
		return &windowIter[K, V]{in: emptyIter{}, w: w}, nil
	}
	w.cbuf = windowKeyBound(w.cbuf[:0], fb, timeFrom, false)
	w.cbuf2 = windowKeyBound(w.cbuf2[:0], tb, timeTo, true)
	it, err := w.inner.Range(w.cbuf, w.cbuf2, reverse)
	if err != nil {
		return nil, err
	}
	return &windowIter[K, V]{in: it, w: w, from: timeFrom, to: timeTo, filter: true}, nil
}

func (w *typedWindow[K, V]) FetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return w.fetchAll(timeFrom, timeTo, false)
}

func (w *typedWindow[K, V]) BackwardFetchAll(timeFrom, timeTo int64) (Iterator[Windowed[K], V], error) {
	return w.fetchAll(timeFrom, timeTo, true)
}

func (w *typedWindow[K, V]) All() (Iterator[Windowed[K], V], error) {
	return w.fetchAll(math.MinInt64, math.MaxInt64, false)
}

func (w *typedWindow[K, V]) BackwardAll() (Iterator[Windowed[K], V], error) {
	return w.fetchAll(math.MinInt64, math.MaxInt64, true)
}

func (w *typedWindow[K, V]) fetchAll(timeFrom, timeTo int64, reverse bool) (Iterator[Windowed[K], V], error) {
	w.lock()
	defer w.unlock()
	timeFrom = max(timeFrom, w.liveFrom())
	if timeFrom > timeTo {
		return &windowIter[K, V]{in: emptyIter{}, w: w}, nil
	}
	it, err := w.inner.Range(nil, nil, reverse)
	if err != nil {
		return nil, err
	}
	return &windowIter[K, V]{in: it, w: w, from: timeFrom, to: timeTo, filter: true}, nil
}

// windowIter decodes composite keys into windowed keys, filtering by time.
type windowIter[K, V any] struct {
	in       Iterator[[]byte, []byte]
	w        *typedWindow[K, V]
	from, to int64
	filter   bool
	k        Windowed[K]
	v        V
	err      error
	cp       copies
}

func (it *windowIter[K, V]) Next() bool {
	for it.err == nil && it.in.Next() {
		c, vb := currentEntry(it.in)
		if len(c) < windowSuffixLen+keyTerminatorLen {
			it.err = fmt.Errorf("store %q: %w", it.w.Name(), errBadCompositeKey)
			return false
		}
		start := windowStartOf(c)
		if it.filter && (start < it.from || start > it.to) {
			continue
		}
		kb, _, _, err := parseWindowKey(c)
		if err != nil {
			it.err = fmt.Errorf("store %q: %w", it.w.Name(), err)
			return false
		}
		k, err := it.w.kd.decodeOwned(kb) // parseWindowKey made kb
		if err != nil {
			it.err = fmt.Errorf("store %q: deserialize key: %w", it.w.Name(), err)
			return false
		}
		v, err := it.w.vd.decode(vb, &it.cp)
		if err != nil {
			it.err = fmt.Errorf("store %q: deserialize value: %w", it.w.Name(), err)
			return false
		}
		it.k, it.v = Windowed[K]{Key: k, Start: start, End: windowEnd(start, it.w.size)}, v
		return true
	}
	return false
}

func (it *windowIter[K, V]) Key() Windowed[K] { return it.k }
func (it *windowIter[K, V]) Value() V         { return it.v }
func (it *windowIter[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.in.Err()
}
func (it *windowIter[K, V]) Close() error { return it.in.Close() }

// windowTimeIter yields window starts of a single key.
type windowTimeIter[K, V any] struct {
	in  Iterator[[]byte, []byte]
	w   *typedWindow[K, V]
	t   int64
	v   V
	err error
	cp  copies
}

func (it *windowTimeIter[K, V]) Next() bool {
	if it.err != nil || !it.in.Next() {
		return false
	}
	c, vb := currentEntry(it.in)
	if len(c) < windowSuffixLen+keyTerminatorLen {
		it.err = fmt.Errorf("store %q: %w", it.w.Name(), errBadCompositeKey)
		return false
	}
	v, err := it.w.vd.decode(vb, &it.cp)
	if err != nil {
		it.err = fmt.Errorf("store %q: deserialize value: %w", it.w.Name(), err)
		return false
	}
	it.t, it.v = windowStartOf(c), v
	return true
}

func (it *windowTimeIter[K, V]) Key() int64 { return it.t }
func (it *windowTimeIter[K, V]) Value() V   { return it.v }
func (it *windowTimeIter[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.in.Err()
}
func (it *windowTimeIter[K, V]) Close() error { return it.in.Close() }
