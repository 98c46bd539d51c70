package punctuate

import (
	"errors"
	"math"
	"math/big"
	"testing"
	"time"
)

// maxDurationMs is the largest interval a schedule can have, in ms.
const maxDurationMs = int64(math.MaxInt64 / int64(time.Millisecond))

// stopAfter returns a callback that counts its calls and fails from the
// (n+1)th on, so a schedule that fires forever makes MayPunctuate return an
// error instead of hanging the test.
func stopAfter(n int, calls *int) Func {
	return func(int64) error {
		*calls++
		if *calls > n {
			return errors.New("fired too often: the schedule does not advance")
		}
		return nil
	}
}

func TestStreamTimePunctuatorNearMaxInt64FiresOnceAndStops(t *testing.T) {
	for _, now := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 700} {
		var q Queue
		calls := 0
		s := mustAdd(t, &q, 0, time.Second, nil, stopAfter(2, &calls))
		if !mayPunctuate(t, &q, 0) || calls != 1 {
			t.Fatalf("first record at 0: calls %d, want 1", calls)
		}
		if fired, err := q.MayPunctuate(now, call); !fired || err != nil {
			t.Fatalf("MayPunctuate(%d) = %v, %v; want one firing", now, fired, err)
		}
		if calls != 2 {
			t.Fatalf("MayPunctuate(%d): %d calls, want 2 in all", now, calls)
		}
		// The next grid point, 1000·(⌊now/1000⌋+1), is past MaxInt64.
		if !s.Exhausted() || q.Len() != 0 {
			t.Fatalf("after MayPunctuate(%d): exhausted %v, len %d; want the schedule retired", now, s.Exhausted(), q.Len())
		}
		if _, ok := q.NextTime(); ok {
			t.Errorf("NextTime still reports a schedule")
		}
		if fired, err := q.MayPunctuate(math.MaxInt64, call); fired || err != nil {
			t.Errorf("retired schedule fired again: %v %v", fired, err)
		}
		s.Cancel() // still safe on a retired schedule
		if !s.Canceled() || q.Len() != 0 {
			t.Errorf("Cancel on a retired schedule: canceled %v, len %d", s.Canceled(), q.Len())
		}
	}
}

func TestStreamTimePunctuatorKeepsItsGridWhileTheNextPointFits(t *testing.T) {
	var q Queue
	calls := 0
	s := mustAdd(t, &q, 0, time.Second, nil, stopAfter(3, &calls))
	mayPunctuate(t, &q, math.MaxInt64-5000)
	if s.Exhausted() || s.Next() != 9223372036854771000 {
		t.Fatalf("Next = %d (exhausted %v), want 9223372036854771000", s.Next(), s.Exhausted())
	}
	if !mayPunctuate(t, &q, 9223372036854775000) { // the last grid point
		t.Fatal("the last grid point did not fire")
	}
	if mayPunctuate(t, &q, math.MaxInt64) {
		t.Fatal("fired past the last grid point")
	}
	if !s.Exhausted() || calls != 2 {
		t.Errorf("exhausted %v after %d calls; want retired after the last grid point, 2 calls", s.Exhausted(), calls)
	}
}

func TestScheduleWhoseGridEndsExactlyAtMaxInt64FiresThereAndThenStops(t *testing.T) {
	var q Queue
	calls := 0
	// Grid MaxInt64-14, MaxInt64-7, MaxInt64.
	s := mustAdd(t, &q, math.MaxInt64-14, 7*time.Millisecond, nil, stopAfter(3, &calls))
	mayPunctuate(t, &q, math.MaxInt64-10)
	if s.Next() != math.MaxInt64-7 || s.Exhausted() {
		t.Fatalf("Next = %d (exhausted %v), want MaxInt64-7", s.Next(), s.Exhausted())
	}
	mayPunctuate(t, &q, math.MaxInt64-1)
	if s.Next() != math.MaxInt64 || s.Exhausted() {
		t.Fatalf("Next = %d (exhausted %v), want MaxInt64: a grid point at MaxInt64 still fires", s.Next(), s.Exhausted())
	}
	if !mayPunctuate(t, &q, math.MaxInt64) || calls != 3 {
		t.Fatalf("at MaxInt64: calls %d, want 3", calls)
	}
	if !s.Exhausted() || q.Len() != 0 || s.Next() != math.MaxInt64 {
		t.Errorf("after the last grid point: exhausted %v, len %d, next %d", s.Exhausted(), q.Len(), s.Next())
	}
}

func TestWallClockScheduleStartingNearMaxInt64FiresOnceAndStops(t *testing.T) {
	var q Queue
	calls := 0
	other := 0
	s := mustAdd(t, &q, math.MaxInt64-10, 100*time.Millisecond, nil, stopAfter(1, &calls))
	// A schedule behind it in the queue must still fire on its own grid.
	o := mustAdd(t, &q, 5, 5*time.Millisecond, nil, stopAfter(2, &other))
	if !mayPunctuate(t, &q, math.MaxInt64) || calls != 1 || other != 1 {
		t.Fatalf("calls %d and %d, want 1 each", calls, other)
	}
	if !s.Exhausted() || !o.Exhausted() || q.Len() != 0 {
		t.Errorf("exhausted %v %v, len %d; both grids end before MaxInt64+interval", s.Exhausted(), o.Exhausted(), q.Len())
	}
}

func TestLargestIntervalStaysOnItsGridUpToMaxInt64(t *testing.T) {
	var q Queue
	calls := 0
	iv := time.Duration(math.MaxInt64) // 9223372036854 ms, truncated to ms
	s := mustAdd(t, &q, 0, iv, nil, stopAfter(10, &calls))
	mayPunctuate(t, &q, 0)
	if s.Next() != maxDurationMs {
		t.Fatalf("Next = %d, want %d", s.Next(), maxDurationMs)
	}
	mayPunctuate(t, &q, 5*maxDurationMs+3)
	if s.Exhausted() || s.Next() != 6*maxDurationMs {
		t.Fatalf("Next = %d (exhausted %v), want %d", s.Next(), s.Exhausted(), 6*maxDurationMs)
	}
	// The grid point after MaxInt64-5000 is 1000001·interval, past MaxInt64.
	mayPunctuate(t, &q, math.MaxInt64-5000)
	if !s.Exhausted() || calls != 3 {
		t.Fatalf("exhausted %v after %d calls; want retired after 3", s.Exhausted(), calls)
	}
}

func TestNextPointAtTheInt64Bounds(t *testing.T) {
	for _, tc := range []struct {
		last, interval, now int64
		want                int64
		ok                  bool
	}{
		{0, 1, 0, 1, true},
		{0, 10, 35, 40, true},
		{0, 1, math.MaxInt64 - 1, math.MaxInt64, true},
		{0, 1, math.MaxInt64, 0, false},
		{math.MaxInt64, 1, math.MaxInt64, 0, false},
		{math.MaxInt64 - 1, 1, math.MaxInt64 - 1, math.MaxInt64, true},
		{0, 1000, math.MaxInt64, 0, false},
		{0, 1000, math.MaxInt64 - 5000, math.MaxInt64 - 4807, true},
		{math.MaxInt64 - 10, 100, math.MaxInt64 - 10, 0, false},
		{math.MinInt64, 1, math.MaxInt64, 0, false}, // now-last overflows int64 and k+1 overflows uint64
		{math.MinInt64, 2, math.MaxInt64, 0, false},
		{math.MinInt64, 3, -2, 1, true},
		{-5, maxDurationMs, math.MaxInt64, 0, false},
		{1, maxDurationMs, 1, 1 + maxDurationMs, true},
	} {
		got, ok := nextPoint(tc.last, tc.interval, tc.now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("nextPoint(%d, %d, %d) = %d, %v; want %d, %v", tc.last, tc.interval, tc.now, got, ok, tc.want, tc.ok)
		}
	}
}

// wantNextPoint computes the first point last+k·interval (k >= 1) after now
// exactly, and whether it is at most MaxInt64.
func wantNextPoint(last, interval, now int64) (int64, bool) {
	l, iv := big.NewInt(last), big.NewInt(interval)
	k := new(big.Int).Sub(big.NewInt(now), l)
	k.Div(k, iv) // now >= last: floor division
	k.Add(k, big.NewInt(1))
	p := k.Mul(k, iv)
	p.Add(p, l)
	if p.Cmp(big.NewInt(math.MaxInt64)) > 0 {
		return 0, false
	}
	return p.Int64(), true
}

var fuzzTimes = []int64{math.MinInt64, -1, 0, 1, 7, 1000, maxDurationMs, 1 << 62,
	math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64}

func FuzzNextPointIsTheFirstGridPointAfterNowOrNone(f *testing.F) {
	for _, last := range fuzzTimes {
		for _, iv := range []int64{1, 2, 1000, maxDurationMs - 1, maxDurationMs} {
			for _, now := range fuzzTimes {
				f.Add(last, iv, now)
			}
		}
	}
	f.Fuzz(func(t *testing.T, last, interval, now int64) {
		if interval < 1 || interval > maxDurationMs || now < last {
			t.Skip()
		}
		got, ok := nextPoint(last, interval, now)
		want, wantOK := wantNextPoint(last, interval, now)
		if got != want || ok != wantOK {
			t.Fatalf("nextPoint(%d, %d, %d) = %d, %v; want %d, %v", last, interval, now, got, ok, want, wantOK)
		}
		if ok && (got <= now || (uint64(got)-uint64(last))%uint64(interval) != 0 || got-interval > now) {
			t.Fatalf("nextPoint(%d, %d, %d) = %d: not the first grid point after now", last, interval, now, got)
		}
	})
}

func FuzzQueueFiresEachScheduleAtMostOncePerCallAndTerminates(f *testing.F) {
	for _, start := range []int64{0, 1, math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64} {
		for _, now := range fuzzTimes {
			f.Add(start, int64(1), now, int64(math.MaxInt64))
			f.Add(start, int64(1000), now, now)
			f.Add(start, maxDurationMs, now, int64(math.MaxInt64-1))
		}
	}
	f.Fuzz(func(t *testing.T, start, interval, now1, now2 int64) {
		if interval < 1 || interval > maxDurationMs {
			t.Skip()
		}
		var q Queue
		calls := 0
		s, err := q.Add(start, time.Duration(interval)*time.Millisecond, nil, stopAfter(2, &calls))
		if err != nil {
			t.Fatal(err)
		}
		prev := start
		for i, now := range []int64{now1, now2} {
			before := calls
			fired, err := q.MayPunctuate(now, call)
			if err != nil {
				t.Fatalf("call %d at %d: %v", i, now, err)
			}
			if fired != (calls == before+1) || calls > before+1 {
				t.Fatalf("call %d at %d: fired %v with %d callbacks", i, now, fired, calls-before)
			}
			if fired == (prev > now) {
				t.Fatalf("call %d at %d: fired %v, due at %d", i, now, fired, prev)
			}
			switch {
			case s.Exhausted():
				if q.Len() != 0 {
					t.Fatalf("retired schedule still queued")
				}
				if _, ok := wantNextPoint(prev, interval, max(now, prev)); ok && fired {
					t.Fatalf("retired at %d, but a grid point after %d fits", prev, now)
				}
				return
			case fired:
				want, ok := wantNextPoint(prev, interval, now)
				if !ok || s.Next() != want {
					t.Fatalf("after firing at %d: next %d, want %d (%v)", now, s.Next(), want, ok)
				}
			}
			prev = s.Next()
		}
	})
}
