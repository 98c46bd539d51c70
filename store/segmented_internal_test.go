package store

import (
	"math"
	"math/big"
	"testing"
	"time"
)

const maxDurationMs = int64(math.MaxInt64 / int64(time.Millisecond))

var segmentIntervals = []int64{1, 2, 7, 60_000, 1 << 40, maxDurationMs}

var segmentTimes = []int64{math.MinInt64, math.MinInt64 + 1, -60_001, -1, 0, 1, 59_999, 60_000,
	math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64}

func TestSegmentIDsAndStartsAtTheInt64Bounds(t *testing.T) {
	for _, tc := range []struct {
		interval, t   int64
		id, start     int64
		name          string
		roundTripsAll bool
	}{
		{60_000, 0, 0, 0, "w.0", true},
		{60_000, 59_999, 0, 0, "w.0", true},
		{60_000, -1, -1, -60_000, "w.-60000", true},
		{60_000, math.MaxInt64, 153722867280912, 9223372036854720000, "w.9223372036854720000", true},
		// The segment of MinInt64 starts at -9223372036854780000: clamped.
		{60_000, math.MinInt64, -153722867280913, math.MinInt64, "w.-9223372036854775808", true},
		{1, math.MaxInt64, math.MaxInt64, math.MaxInt64, "w.9223372036854775807", true},
		{1, math.MinInt64, math.MinInt64, math.MinInt64, "w.-9223372036854775808", true},
		{1 << 40, math.MinInt64, -(1 << 23), math.MinInt64, "w.-9223372036854775808", true}, // exact: 2^40 divides 2^63
	} {
		s := newSegmented("w", 1000, tc.interval, nil, nil)
		id := floorDiv(tc.t, tc.interval)
		if id != tc.id {
			t.Errorf("interval %d: id of %d = %d, want %d", tc.interval, tc.t, id, tc.id)
		}
		if got := s.segmentStart(id); got != tc.start {
			t.Errorf("interval %d: start of segment %d = %d, want %d", tc.interval, id, got, tc.start)
		}
		if got := s.segmentName(id); got != tc.name {
			t.Errorf("interval %d: name of segment %d = %q, want %q", tc.interval, id, got, tc.name)
		}
		if back, ok := s.segmentIDOf(s.segmentName(id)); !ok || back != id {
			t.Errorf("interval %d: segment %q parses back to %d %v, want %d", tc.interval, s.segmentName(id), back, ok, id)
		}
	}
}

func TestSegmentsBetweenEndsAtTheLastSegmentId(t *testing.T) {
	s := newSegmented("w", 1000, 1, nil, nil)
	a, b := NewInMemoryKeyValueBytes("a"), NewInMemoryKeyValueBytes("b")
	s.segs = map[int64]KeyValueBytes{math.MaxInt64 - 1: a, math.MaxInt64: b}
	done := make(chan []KeyValueBytes, 1)
	go func() { done <- s.segmentsBetween(nil, math.MaxInt64-1, math.MaxInt64) }()
	select {
	case got := <-done:
		if len(got) != 2 || got[0] != a || got[1] != b {
			t.Errorf("segmentsBetween(MaxInt64-1, MaxInt64) = %v, want both segments in order", got)
		}
	case <-time.After(5 * time.Second):
		// The loop runs on without allocating: stop here, the process exits
		// with the failure (the goroutine is abandoned).
		t.Fatal("segmentsBetween(MaxInt64-1, MaxInt64) did not return: its id loop steps past MaxInt64")
	}
	if got := s.segmentsBetween(nil, math.MinInt64, math.MinInt64+1); len(got) != 0 {
		t.Errorf("segmentsBetween at MinInt64 = %v, want none", got)
	}
}

func TestExpiryWithARetentionLongerThanTheObservedTimeKeepsEverySegment(t *testing.T) {
	s := newSegmented("w", maxDurationMs, 60_000, nil, nil)
	s.observe(5)
	if want := floorDiv(5-maxDurationMs, 60_000); s.minLive != want {
		t.Errorf("minLive = %d, want %d", s.minLive, want)
	}
	s.observe(math.MaxInt64)
	if want := floorDiv(math.MaxInt64-maxDurationMs, 60_000); s.minLive != want {
		t.Errorf("minLive at MaxInt64 = %d, want %d", s.minLive, want)
	}
}

// bigFloorDiv is floor(a / b) for b > 0.
func bigFloorDiv(a, b int64) *big.Int {
	q, _ := new(big.Int).DivMod(big.NewInt(a), big.NewInt(b), new(big.Int)) // Euclidean: floor for b > 0
	return q
}

func FuzzSegmentIDAndBoundsContainTheTime(f *testing.F) {
	for _, iv := range segmentIntervals {
		for _, t1 := range segmentTimes {
			for _, t2 := range []int64{math.MinInt64, 0, math.MaxInt64} {
				f.Add(iv, t1, t2)
			}
		}
	}
	f.Fuzz(func(t *testing.T, interval, t1, t2 int64) {
		if interval < 1 || interval > maxDurationMs {
			t.Skip()
		}
		s := newSegmented("w", 1000, interval, nil, nil)
		id := floorDiv(t1, interval)
		if want := bigFloorDiv(t1, interval); !want.IsInt64() || want.Int64() != id {
			t.Fatalf("floorDiv(%d, %d) = %d, want %v", t1, interval, id, want)
		}
		// The segment's time bounds hold t1: start <= t1 < start + interval
		// (exactly, with a start clamped only at MinInt64).
		start := s.segmentStart(id)
		exact := new(big.Int).Mul(big.NewInt(id), big.NewInt(interval))
		if exact.IsInt64() {
			if start != exact.Int64() {
				t.Fatalf("segmentStart(%d) = %d, want %v", id, start, exact)
			}
		} else if start != math.MinInt64 || exact.Sign() > 0 {
			t.Fatalf("segmentStart(%d) = %d for an exact start %v off the int64 range", id, start, exact)
		}
		if start > t1 || new(big.Int).Sub(big.NewInt(t1), exact).Cmp(big.NewInt(interval)) >= 0 {
			t.Fatalf("segment %d [%v, +%d) does not hold %d", id, exact, interval, t1)
		}
		if back, ok := s.segmentIDOf(s.segmentName(id)); !ok || back != id {
			t.Fatalf("segment name %q parses back to %d %v, want %d", s.segmentName(id), back, ok, id)
		}
		// Ids keep the order of times.
		id2 := floorDiv(t2, interval)
		if (t1 <= t2 && id > id2) || (t1 >= t2 && id < id2) {
			t.Fatalf("times %d, %d have ids %d, %d", t1, t2, id, id2)
		}
		// segmentsBetween ends for any pair of ids (few segments held); a
		// loop stepping past MaxInt64 would spin for good, so a timer
		// ends the process instead.
		lo, hi := min(id, id2), max(id, id2)
		s.segs = map[int64]KeyValueBytes{lo: nil, hi: nil}
		timer := time.AfterFunc(5*time.Second, func() { panic("segmentsBetween did not return") })
		got := s.segmentsBetween(nil, lo, hi)
		timer.Stop()
		if len(got) != len(s.segs) {
			t.Fatalf("segmentsBetween(%d, %d) found %d of %d", lo, hi, len(got), len(s.segs))
		}
	})
}
