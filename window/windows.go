package window

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/millrace/millrace/record"
)

// ErrInvalidWindow is wrapped by every window definition error.
var ErrInvalidWindow = errors.New("window: invalid definition")

// ErrNilFunction is wrapped by the Init error of a processor made with a
// nil function it needs (an aggregator's Add, a reducer, a joiner, ...), so
// the task fails at start instead of on each record.
var ErrNilFunction = errors.New("window: nil function")

// nilFunc returns an error wrapping ErrNilFunction naming what is missing.
func nilFunc(what string) error { return fmt.Errorf("%w: %s", ErrNilFunction, what) }

// zeroInit is an aggregator's Init when none is given: the zero aggregate.
func zeroInit[VA any]() VA {
	var zero VA
	return zero
}

// TimeWindows are fixed-size windows aligned to the epoch: tumbling when the
// advance equals the size, hopping when it is smaller. Durations are
// milliseconds internally.
type TimeWindows struct {
	size, advance, grace int64
}

// Tumbling returns non-overlapping windows of size, accepting records up to
// grace after a window ends. Pass zero for no grace: it is never implied.
func Tumbling(size, grace time.Duration) (TimeWindows, error) {
	return Hopping(size, size, grace)
}

// MaxWindowsPerRecord bounds how many hopping windows one record may fall
// into (size / advance): each is a store update per record, and a ratio
// like a day over a millisecond (86.4 million) would exhaust memory on the
// first record. Kafka Streams has no such bound; no sensible window
// definition comes near it.
const MaxWindowsPerRecord = 100_000

// Hopping returns windows of size starting every advance (0 < advance <=
// size, size/advance at most MaxWindowsPerRecord), accepting records up to
// grace after a window ends.
func Hopping(size, advance, grace time.Duration) (TimeWindows, error) {
	var errs []error
	if size < time.Millisecond {
		errs = append(errs, fmt.Errorf("%w: window size %v is under 1ms", ErrInvalidWindow, size))
	}
	if advance < time.Millisecond || advance > size {
		errs = append(errs, fmt.Errorf("%w: advance %v must be at least 1ms and at most the size %v", ErrInvalidWindow, advance, size))
	} else if n := (size.Milliseconds() + advance.Milliseconds() - 1) / advance.Milliseconds(); n > MaxWindowsPerRecord {
		errs = append(errs, fmt.Errorf("%w: size %v over advance %v puts each record in %d windows, more than %d",
			ErrInvalidWindow, size, advance, n, MaxWindowsPerRecord))
	}
	if grace < 0 {
		errs = append(errs, fmt.Errorf("%w: grace %v is negative", ErrInvalidWindow, grace))
	}
	if len(errs) > 0 {
		return TimeWindows{}, errors.Join(errs...)
	}
	return TimeWindows{size: size.Milliseconds(), advance: advance.Milliseconds(), grace: grace.Milliseconds()}, nil
}

// Size is the window size in milliseconds.
func (w TimeWindows) Size() int64 { return w.size }

// Advance is the distance between window starts in milliseconds.
func (w TimeWindows) Advance() int64 { return w.advance }

// Grace is how long after its end a window accepts records, in ms.
func (w TimeWindows) Grace() int64 { return w.grace }

// Retention is how long a window store must keep the windows: size + grace
// (at most the largest time.Duration).
func (w TimeWindows) Retention() time.Duration {
	return msDuration(w.size + w.grace)
}

// msDuration converts milliseconds to a Duration, clamped to the largest
// Duration: sums of two durations (size + grace) fit in int64 milliseconds
// but not always in int64 nanoseconds, and a wrapped retention would be
// negative or tiny, expiring windows at once.
func msDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

// End returns the end of the window starting at start: start + size,
// clamped to math.MaxInt64 (see the package doc).
func (w TimeWindows) End(start int64) int64 { return record.SaturatingAdd(start, w.size) }

// StartsFor appends to dst the starts of the windows containing ts, oldest
// first (Kafka's TimeWindows.windowsFor): every start s is a non-negative
// multiple of the advance with s <= ts < End(s). There are none for a
// negative ts, and none for ts = math.MaxInt64: every window that would
// hold it ends past math.MaxInt64, and a clamped end (exclusive) excludes
// it. The loop stops at the last start instead of stepping past it, so it
// cannot overflow and always ends.
func (w TimeWindows) StartsFor(dst []int64, ts int64) []int64 {
	if ts < 0 || ts == math.MaxInt64 || w.advance <= 0 {
		return dst
	}
	// The first multiple of advance after ts - size; ts - (size-advance)
	// cannot overflow for ts >= 0.
	start := max(0, ts-(w.size-w.advance)) / w.advance * w.advance
	last := ts / w.advance * w.advance
	for {
		dst = append(dst, start)
		if start >= last {
			return dst
		}
		start += w.advance // <= last: no overflow
	}
}

// SessionWindows group a key's records separated by less than an
// inactivity gap; a session spans [first record, last record], both
// inclusive.
type SessionWindows struct {
	gap, grace int64
}

// Sessions returns session windows with the inactivity gap, accepting
// records up to grace after a session ends.
func Sessions(gap, grace time.Duration) (SessionWindows, error) {
	var errs []error
	if gap < time.Millisecond {
		errs = append(errs, fmt.Errorf("%w: inactivity gap %v is under 1ms", ErrInvalidWindow, gap))
	}
	if grace < 0 {
		errs = append(errs, fmt.Errorf("%w: grace %v is negative", ErrInvalidWindow, grace))
	}
	if len(errs) > 0 {
		return SessionWindows{}, errors.Join(errs...)
	}
	return SessionWindows{gap: gap.Milliseconds(), grace: grace.Milliseconds()}, nil
}

// Gap is the inactivity gap in milliseconds.
func (w SessionWindows) Gap() int64 { return w.gap }

// Grace is how long after its end a session accepts records, in ms.
func (w SessionWindows) Grace() int64 { return w.grace }

// Retention of a session store: gap + grace (at most the largest
// time.Duration).
func (w SessionWindows) Retention() time.Duration {
	return msDuration(w.gap + w.grace)
}

// SlidingWindows are Kafka Streams' sliding aggregation windows: a window
// [t - timeDifference, t] for every record, inclusive at both ends, plus the
// windows just after records, so every distinct set of records within
// timeDifference of each other has one window.
type SlidingWindows struct {
	diff, grace int64
}

// Sliding returns sliding windows of the maximum time difference, accepting
// records up to grace after a window ends.
func Sliding(timeDifference, grace time.Duration) (SlidingWindows, error) {
	var errs []error
	if timeDifference < time.Millisecond {
		errs = append(errs, fmt.Errorf("%w: time difference %v is under 1ms", ErrInvalidWindow, timeDifference))
	}
	if grace < 0 {
		errs = append(errs, fmt.Errorf("%w: grace %v is negative", ErrInvalidWindow, grace))
	}
	if len(errs) > 0 {
		return SlidingWindows{}, errors.Join(errs...)
	}
	return SlidingWindows{diff: timeDifference.Milliseconds(), grace: grace.Milliseconds()}, nil
}

// TimeDifference is the largest time difference within a window, in ms.
func (w SlidingWindows) TimeDifference() int64 { return w.diff }

// Grace is how long after its end a window accepts records, in ms.
func (w SlidingWindows) Grace() int64 { return w.grace }

// Retention of a sliding window store: time difference + grace, plus one
// millisecond for the inclusive end (at most the largest time.Duration).
func (w SlidingWindows) Retention() time.Duration {
	return msDuration(w.diff + w.grace + 1)
}

// JoinWindows match records of two streams whose timestamps differ by at
// most before (the other side earlier) or after (the other side later).
type JoinWindows struct {
	before, after, grace int64
}

// JoinWithin returns symmetric join windows: |t1 - t2| <= timeDifference,
// with grace for late records.
func JoinWithin(timeDifference, grace time.Duration) (JoinWindows, error) {
	return JoinBeforeAfter(timeDifference, timeDifference, grace)
}

// JoinBeforeAfter returns join windows where a left record at t joins right
// records in [t - before, t + after].
func JoinBeforeAfter(before, after, grace time.Duration) (JoinWindows, error) {
	var errs []error
	if before < 0 || after < 0 {
		errs = append(errs, fmt.Errorf("%w: before %v and after %v must not be negative", ErrInvalidWindow, before, after))
	}
	if grace < 0 {
		errs = append(errs, fmt.Errorf("%w: grace %v is negative", ErrInvalidWindow, grace))
	}
	if len(errs) > 0 {
		return JoinWindows{}, errors.Join(errs...)
	}
	return JoinWindows{before: before.Milliseconds(), after: after.Milliseconds(), grace: grace.Milliseconds()}, nil
}

// Before is how much earlier a right record may be, in ms.
func (w JoinWindows) Before() int64 { return w.before }

// After is how much later a right record may be, in ms.
func (w JoinWindows) After() int64 { return w.after }

// Grace is how long after its window closes a record may still pair, in ms.
func (w JoinWindows) Grace() int64 { return w.grace }

// Retention of a join buffer: both sides of the window plus grace (at most
// the largest time.Duration).
func (w JoinWindows) Retention() time.Duration {
	return msDuration(w.before + w.after + w.grace + 1)
}

// size is the store window size of a join buffer (one record per window).
func (w JoinWindows) size() time.Duration {
	return msDuration(w.before + w.after + 1)
}
