package punctuate

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Type selects the time that drives a schedule.
type Type uint8

const (
	// StreamTime schedules follow the task's stream time, which only the
	// timestamps of processed records move.
	StreamTime Type = iota
	// WallClock schedules follow the task's (injected) wall clock.
	WallClock
)

// String returns "stream-time" or "wall-clock".
func (t Type) String() string {
	switch t {
	case StreamTime:
		return "stream-time"
	case WallClock:
		return "wall-clock"
	}
	return fmt.Sprintf("punctuate.Type(%d)", uint8(t))
}

// Func is a punctuation callback. ts is the current stream time or wall-clock
// time in milliseconds (not the grid point). A returned error goes to the
// task's processing handler, as an error from Process does.
type Func func(ts int64) error

// Cancellable stops a schedule. Cancel is idempotent.
type Cancellable interface {
	Cancel()
}

// ErrInvalidInterval is returned for an interval under one millisecond.
var ErrInvalidInterval = errors.New("punctuate: interval must be at least 1ms")

// MinInterval is the smallest interval a schedule accepts.
const MinInterval = time.Millisecond

// Schedule is one registered punctuation. Owner is an opaque value the
// runtime attaches (the node that scheduled it).
type Schedule struct {
	Owner    any
	Fn       Func
	next     int64
	interval int64
	seq      uint64
	index    int // position in the heap; -1 when not queued
	q        *Queue
	canceled bool
	// exhausted: the grid point after the last firing is past
	// math.MaxInt64, so the schedule left the queue for good.
	exhausted bool
}

// Cancel stops the schedule; it will not fire again. Cancel of a nil or
// zero Schedule (one no Queue made) does nothing but mark it canceled.
func (s *Schedule) Cancel() {
	if s == nil || s.canceled {
		return
	}
	s.canceled = true
	// Only a schedule its queue holds at index leaves the heap: a zero
	// Schedule (index 0, no queue) or a copy must not remove another one.
	if q := s.q; q != nil && s.index >= 0 && s.index < len(q.h) && q.h[s.index] == s {
		heap.Remove(&q.h, s.index)
	}
}

// Canceled reports whether Cancel was called.
func (s *Schedule) Canceled() bool { return s.canceled }

// Exhausted reports whether the schedule has run out of time: its next grid
// point would be past math.MaxInt64, so it never fires again and is no
// longer in its queue (Cancel is still safe).
func (s *Schedule) Exhausted() bool { return s.exhausted }

// Next returns the next grid point at which the schedule fires; once the
// schedule is Exhausted, the last grid point it fired at.
func (s *Schedule) Next() int64 { return s.next }

// Interval returns the interval in milliseconds.
func (s *Schedule) Interval() int64 { return s.interval }

// Queue orders schedules by next firing time, then registration order.
type Queue struct {
	h   schedHeap
	seq uint64
}

// ValidateInterval returns the interval in milliseconds, or an error wrapping
// ErrInvalidInterval when it is under one millisecond.
func ValidateInterval(interval time.Duration) (int64, error) {
	if interval < MinInterval {
		return 0, fmt.Errorf("%w, got %v", ErrInvalidInterval, interval)
	}
	return interval.Milliseconds(), nil
}

// Add registers fn to fire first at start and then every interval after it.
func (q *Queue) Add(start int64, interval time.Duration, owner any, fn Func) (*Schedule, error) {
	ms, err := ValidateInterval(interval)
	if err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, errors.New("punctuate: nil callback")
	}
	q.seq++
	s := &Schedule{Owner: owner, Fn: fn, next: start, interval: ms, seq: q.seq, q: q, index: -1}
	heap.Push(&q.h, s)
	return s, nil
}

// CancelAll cancels every schedule, as when the processors that registered
// them close.
func (q *Queue) CancelAll() {
	for _, s := range q.h {
		s.canceled, s.index = true, -1
	}
	q.h = q.h[:0]
}

// Len returns the number of live schedules.
func (q *Queue) Len() int { return len(q.h) }

// NextTime returns the earliest next firing time, and false when empty.
func (q *Queue) NextTime() (int64, bool) {
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].next, true
}

// MayPunctuate fires every schedule due at now through run, which calls the
// schedule's Fn (the runtime wraps it to set context and recover panics); a
// nil run calls Fn itself, and a nil Fn is an error. It reports whether
// anything fired. If run returns an error MayPunctuate stops and returns it;
// the failed schedule stays registered on its grid.
func (q *Queue) MayPunctuate(now int64, run func(s *Schedule, now int64) error) (bool, error) {
	if run == nil {
		run = callFn
	}
	fired := false
	for len(q.h) > 0 && q.h[0].next <= now {
		s := heap.Pop(&q.h).(*Schedule)
		fired = true
		err := run(s, now)
		if !s.canceled {
			if next, ok := nextPoint(s.next, s.interval, now); ok {
				s.next = next
				heap.Push(&q.h, s)
			} else {
				// No grid point after now fits in an int64: the schedule
				// is done (it stays out of the heap, so this loop ends).
				s.exhausted = true
			}
		}
		if err != nil {
			return fired, err
		}
	}
	return fired, nil
}

// callFn is MayPunctuate's run when the caller gives none.
func callFn(s *Schedule, now int64) error {
	if s.Fn == nil {
		return errors.New("punctuate: nil callback")
	}
	return s.Fn(now)
}

// nextPoint returns the first grid point last + k·interval (k >= 1) after
// now, and false when that point would be past math.MaxInt64. It needs
// interval >= 1 and takes now < last as now = last. It never overflows: the
// distance now - last (which may exceed math.MaxInt64 when last is
// negative), the step count and the room left above last are computed in
// uint64, where all are exact, and the product of steps and interval is
// checked with a full 128-bit multiply.
func nextPoint(last, interval, now int64) (int64, bool) {
	// The common case: due again one interval on. For interval >= 1 the
	// sum wrapped iff it is not above last (Go's int64 addition wraps).
	if next := last + interval; now < next && next > last {
		return next, true
	}
	now = max(now, last)
	iv := uint64(interval)
	steps := (uint64(now)-uint64(last))/iv + 1 // intervals from last to the next point
	if steps == 0 {                            // wrapped: now - last = 2^64-1 with interval 1
		return 0, false
	}
	hi, dist := bits.Mul64(steps, iv)
	if hi != 0 || dist > uint64(math.MaxInt64)-uint64(last) { // past MaxInt64
		return 0, false
	}
	return int64(uint64(last) + dist), true
}

type schedHeap []*Schedule

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(i, j int) bool {
	if h[i].next != h[j].next {
		return h[i].next < h[j].next
	}
	return h[i].seq < h[j].seq
}
func (h schedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *schedHeap) Push(x any) {
	s := x.(*Schedule)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *schedHeap) Pop() any {
	old := *h
	n := len(old) - 1
	s := old[n]
	old[n] = nil
	s.index = -1
	*h = old[:n]
	return s
}
