package record

import "math"

// Millisecond arithmetic that cannot wrap around.
//
// Timestamps are int64 milliseconds and any of them is valid, up to
// math.MaxInt64; durations (a window size, a grace period, an interval) go up
// to the largest time.Duration, about 9.2e12 ms. A plain sum such as
// "timestamp + grace" wraps to a large negative number for timestamps near
// math.MaxInt64, turning a window end, a deadline or a grid point into the
// distant past. These helpers clamp instead, so the result stays ordered
// with every representable time: a clamped sum is math.MaxInt64, later than
// or equal to every timestamp.
//
// Clamping is exact for the comparisons "sum < t" and "sum >= t" against any
// timestamp t (a true sum past math.MaxInt64 is larger than every t, and so
// is its clamp, bar equality with math.MaxInt64 itself). For "sum <= t" and
// "sum > t" the clamp is one-sided: callers that need those exactly compare
// the other way round (for example "start <= t - size" instead of
// "start + size <= t"), which does not overflow for valid times.

// SaturatingAdd returns a + b, clamped to [math.MinInt64, math.MaxInt64]
// instead of wrapping around. It inlines to an add and two compares.
func SaturatingAdd(a, b int64) int64 {
	s := a + b
	// The sum overflowed iff it moved against the sign of b.
	if (s > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// SaturatingSub returns a - b, clamped to [math.MinInt64, math.MaxInt64]
// instead of wrapping around. It inlines to a subtract and two compares.
func SaturatingSub(a, b int64) int64 {
	d := a - b
	// The difference overflowed iff it moved with the sign of b.
	if (d < a) != (b > 0) {
		if b > 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return d
}
