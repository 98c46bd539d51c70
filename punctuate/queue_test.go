package punctuate

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// call runs the schedule's callback, as the runtime does.
func call(s *Schedule, now int64) error { return s.Fn(now) }

// recorder collects the timestamps a callback was given.
type recorder struct{ got []int64 }

func (r *recorder) fn(ts int64) error {
	r.got = append(r.got, ts)
	return nil
}

func mustAdd(t *testing.T, q *Queue, start int64, interval time.Duration, owner any, fn Func) *Schedule {
	t.Helper()
	s, err := q.Add(start, interval, owner, fn)
	if err != nil {
		t.Fatalf("Add(%d, %v): %v", start, interval, err)
	}
	return s
}

func mayPunctuate(t *testing.T, q *Queue, now int64) bool {
	t.Helper()
	fired, err := q.MayPunctuate(now, call)
	if err != nil {
		t.Fatalf("MayPunctuate(%d): %v", now, err)
	}
	return fired
}

func TestStreamTimeScheduleFiresOnceAfterGapAndKeepsGrid(t *testing.T) {
	var q Queue
	var r recorder
	s := mustAdd(t, &q, 0, 10*time.Millisecond, "node", r.fn)

	steps := []struct {
		now       int64
		wantFired bool
		wantGot   []int64
		wantNext  int64
	}{
		// First check at 35: fires once with the current time, not 0/10/20/30.
		{now: 35, wantFired: true, wantGot: []int64{35}, wantNext: 40},
		{now: 39, wantFired: false, wantGot: []int64{35}, wantNext: 40},
		{now: 40, wantFired: true, wantGot: []int64{35, 40}, wantNext: 50},
		// A jump of many intervals fires once; the next point stays on the
		// grid of multiples of 10 (not 1000+10 by accident of fire time:
		// check with a time that is off-grid too).
		{now: 1000, wantFired: true, wantGot: []int64{35, 40, 1000}, wantNext: 1010},
		{now: 1009, wantFired: false, wantGot: []int64{35, 40, 1000}, wantNext: 1010},
		{now: 1234, wantFired: true, wantGot: []int64{35, 40, 1000, 1234}, wantNext: 1240},
	}
	for _, st := range steps {
		fired := mayPunctuate(t, &q, st.now)
		if fired != st.wantFired {
			t.Fatalf("MayPunctuate(%d) fired = %v, want %v", st.now, fired, st.wantFired)
		}
		if !reflect.DeepEqual(r.got, st.wantGot) {
			t.Fatalf("after MayPunctuate(%d) callback got %v, want %v", st.now, r.got, st.wantGot)
		}
		if s.Next() != st.wantNext {
			t.Fatalf("after MayPunctuate(%d) Next() = %d, want %d", st.now, s.Next(), st.wantNext)
		}
		if nt, ok := q.NextTime(); !ok || nt != st.wantNext {
			t.Fatalf("after MayPunctuate(%d) NextTime() = %d, %v, want %d, true", st.now, nt, ok, st.wantNext)
		}
	}
	if s.Interval() != 10 {
		t.Fatalf("Interval() = %d, want 10", s.Interval())
	}
	if s.Owner != "node" {
		t.Fatalf("Owner = %v, want node", s.Owner)
	}
}

func TestScheduleFiringLateEveryTimeDoesNotDrift(t *testing.T) {
	var q Queue
	var r recorder
	s := mustAdd(t, &q, 0, 7*time.Millisecond, nil, r.fn)
	// Fire late every time (at grid+3): a drifting implementation would
	// schedule fire-time+interval and move off the grid.
	for k := int64(0); k < 20; k++ {
		now := k*7 + 3
		if !mayPunctuate(t, &q, now) {
			t.Fatalf("MayPunctuate(%d) did not fire", now)
		}
		if want := (k + 1) * 7; s.Next() != want {
			t.Fatalf("after firing at %d Next() = %d, want %d", now, s.Next(), want)
		}
	}
	if len(r.got) != 20 {
		t.Fatalf("fired %d times, want 20", len(r.got))
	}
}

func TestWallClockScheduleDoesNotFireBeforeStartThenStaysOnItsGrid(t *testing.T) {
	var q Queue
	var r recorder
	const now0, interval = 12345, 100
	s := mustAdd(t, &q, now0+interval, interval*time.Millisecond, nil, r.fn)

	for _, now := range []int64{now0, now0 + 1, now0 + interval - 1} {
		if mayPunctuate(t, &q, now) {
			t.Fatalf("MayPunctuate(%d) fired before start %d", now, now0+interval)
		}
	}
	if len(r.got) != 0 {
		t.Fatalf("callback ran before start: %v", r.got)
	}
	if !mayPunctuate(t, &q, now0+interval+5) {
		t.Fatalf("MayPunctuate(%d) did not fire", now0+interval+5)
	}
	if want := int64(now0 + 2*interval); s.Next() != want {
		t.Fatalf("Next() = %d, want %d (grid from start, not fire time)", s.Next(), want)
	}
	// A gap of several intervals fires once and keeps the grid start+k·interval.
	if !mayPunctuate(t, &q, now0+interval*7+42) {
		t.Fatal("did not fire after gap")
	}
	if want := int64(now0 + 8*interval); s.Next() != want {
		t.Fatalf("Next() after gap = %d, want %d", s.Next(), want)
	}
	if want := []int64{now0 + interval + 5, now0 + interval*7 + 42}; !reflect.DeepEqual(r.got, want) {
		t.Fatalf("callback got %v, want %v", r.got, want)
	}
}

func TestEqualDueTimesFireInRegistrationOrderAlsoAfterRescheduling(t *testing.T) {
	var q Queue
	var order []string
	type sched struct {
		name     string
		interval int64
	}
	// Different intervals, so the heap reshuffles between rounds; the
	// registration order must still decide ties at every common grid point.
	scheds := []sched{{"a", 30}, {"b", 10}, {"c", 20}, {"d", 10}, {"e", 60}}
	for _, s := range scheds {
		name := s.name
		mustAdd(t, &q, 0, time.Duration(s.interval)*time.Millisecond, name, func(int64) error {
			order = append(order, name)
			return nil
		})
	}
	for now := int64(0); now <= 360; now += 10 {
		var want []string
		for _, s := range scheds {
			if now%s.interval == 0 {
				want = append(want, s.name)
			}
		}
		order = order[:0]
		mayPunctuate(t, &q, now)
		if !reflect.DeepEqual(order, want) {
			t.Fatalf("at %d fired %v, want %v", now, order, want)
		}
	}
}

func TestCancelInsideCallbackStopsFurtherFirings(t *testing.T) {
	var q Queue
	n := 0
	var s *Schedule
	s = mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(int64) error {
		n++
		s.Cancel()
		s.Cancel() // idempotent, also inside the callback
		return nil
	})
	other := mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(int64) error { return nil })

	if !mayPunctuate(t, &q, 0) {
		t.Fatal("did not fire at 0")
	}
	if !s.Canceled() {
		t.Fatal("Canceled() = false after Cancel in callback")
	}
	if q.Len() != 1 {
		t.Fatalf("Len() = %d, want 1 (only the other schedule)", q.Len())
	}
	for _, now := range []int64{10, 20, 1000} {
		mayPunctuate(t, &q, now)
	}
	if n != 1 {
		t.Fatalf("canceled schedule fired %d times, want 1", n)
	}
	if other.Canceled() {
		t.Fatal("other schedule reports canceled")
	}
}

func TestCancelFromOutsideRemovesScheduleAndIsIdempotent(t *testing.T) {
	var q Queue
	var fired []string
	mk := func(name string) Func {
		return func(int64) error { fired = append(fired, name); return nil }
	}
	a := mustAdd(t, &q, 0, 10*time.Millisecond, nil, mk("a"))
	b := mustAdd(t, &q, 5, 10*time.Millisecond, nil, mk("b"))
	c := mustAdd(t, &q, 0, 20*time.Millisecond, nil, mk("c"))
	if q.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", q.Len())
	}

	// Cancel one in the middle of the heap (not the root).
	b.Cancel()
	if q.Len() != 2 {
		t.Fatalf("Len() after Cancel = %d, want 2", q.Len())
	}
	b.Cancel()
	var cb Cancellable = b // *Schedule is a Cancellable
	cb.Cancel()
	if q.Len() != 2 {
		t.Fatalf("Len() after repeated Cancel = %d, want 2", q.Len())
	}
	mayPunctuate(t, &q, 100)
	if want := []string{"a", "c"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}

	// Cancel the remaining ones, root first.
	a.Cancel()
	c.Cancel()
	c.Cancel()
	if q.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", q.Len())
	}
	if _, ok := q.NextTime(); ok {
		t.Fatal("NextTime() ok on an empty queue")
	}
	fired = fired[:0]
	if mayPunctuate(t, &q, 1_000_000) {
		t.Fatal("MayPunctuate fired on an empty queue")
	}
	if len(fired) != 0 {
		t.Fatalf("canceled schedules fired: %v", fired)
	}
}

func TestCancelOfAnotherDueScheduleInsideCallbackPreventsItsFiring(t *testing.T) {
	var q Queue
	var fired []string
	var b *Schedule
	mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(int64) error {
		fired = append(fired, "a")
		b.Cancel()
		return nil
	})
	b = mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(int64) error {
		fired = append(fired, "b")
		return nil
	})
	mayPunctuate(t, &q, 0)
	mayPunctuate(t, &q, 10)
	if want := []string{"a", "a"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
}

func TestScheduleAddedInsideCallbackFiresInSameCallWhenDue(t *testing.T) {
	var q Queue
	var fired []string
	var added, notDue *Schedule
	mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(ts int64) error {
		fired = append(fired, fmt.Sprintf("outer@%d", ts))
		if added == nil {
			added = mustAdd(t, &q, 0, 5*time.Millisecond, nil, func(ts int64) error {
				fired = append(fired, fmt.Sprintf("inner@%d", ts))
				return nil
			})
			notDue = mustAdd(t, &q, ts+1, 5*time.Millisecond, nil, func(ts int64) error {
				fired = append(fired, fmt.Sprintf("later@%d", ts))
				return nil
			})
		}
		return nil
	})
	if !mayPunctuate(t, &q, 23) {
		t.Fatal("did not fire")
	}
	if want := []string{"outer@23", "inner@23"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if added.Next() != 25 {
		t.Fatalf("added schedule Next() = %d, want 25", added.Next())
	}
	if notDue.Next() != 24 {
		t.Fatalf("not-due schedule Next() = %d, want 24", notDue.Next())
	}
	if q.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", q.Len())
	}
	if nt, ok := q.NextTime(); !ok || nt != 24 {
		t.Fatalf("NextTime() = %d, %v, want 24, true", nt, ok)
	}
}

func TestAddRejectsIntervalUnderOneMillisecondAndNilCallback(t *testing.T) {
	var q Queue
	noop := func(int64) error { return nil }
	for _, iv := range []time.Duration{0, 999 * time.Microsecond, time.Millisecond - time.Nanosecond, time.Nanosecond, -time.Millisecond, -time.Hour} {
		s, err := q.Add(0, iv, nil, noop)
		if !errors.Is(err, ErrInvalidInterval) {
			t.Errorf("Add(interval %v) error = %v, want one wrapping ErrInvalidInterval", iv, err)
		}
		if s != nil {
			t.Errorf("Add(interval %v) returned a schedule with an error", iv)
		}
		if _, err := ValidateInterval(iv); !errors.Is(err, ErrInvalidInterval) {
			t.Errorf("ValidateInterval(%v) error = %v, want ErrInvalidInterval", iv, err)
		}
	}
	if q.Len() != 0 {
		t.Fatalf("Len() = %d after rejected Adds, want 0", q.Len())
	}

	s, err := q.Add(0, time.Millisecond, nil, noop)
	if err != nil {
		t.Fatalf("Add(interval 1ms): %v", err)
	}
	if s.Interval() != 1 {
		t.Fatalf("Interval() = %d, want 1", s.Interval())
	}
	if ms, err := ValidateInterval(time.Second); err != nil || ms != 1000 {
		t.Fatalf("ValidateInterval(1s) = %d, %v, want 1000, nil", ms, err)
	}

	s, err = q.Add(0, time.Millisecond, nil, nil)
	if err == nil {
		t.Fatal("Add with nil callback: no error")
	}
	if s != nil {
		t.Fatal("Add with nil callback returned a schedule")
	}
	if errors.Is(err, ErrInvalidInterval) {
		t.Fatalf("nil-callback error %v wraps ErrInvalidInterval", err)
	}
	if q.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", q.Len())
	}
}

func TestRunErrorStopsMayPunctuateAndFailingScheduleStaysOnGrid(t *testing.T) {
	var q Queue
	boom := errors.New("boom")
	var fired []string
	failing := mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(ts int64) error {
		fired = append(fired, fmt.Sprintf("failing@%d", ts))
		return boom
	})
	second := mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(ts int64) error {
		fired = append(fired, fmt.Sprintf("second@%d", ts))
		return nil
	})

	got, err := q.MayPunctuate(35, call)
	if !errors.Is(err, boom) {
		t.Fatalf("MayPunctuate error = %v, want boom", err)
	}
	if !got {
		t.Fatal("MayPunctuate reported nothing fired")
	}
	if want := []string{"failing@35"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v (stop after the error)", fired, want)
	}
	if failing.Next() != 40 {
		t.Fatalf("failing schedule Next() = %d, want 40 (next grid point)", failing.Next())
	}
	if failing.Canceled() || q.Len() != 2 {
		t.Fatalf("failing schedule dropped: canceled=%v Len()=%d", failing.Canceled(), q.Len())
	}
	// The second schedule is still due and fires on the next check; the
	// failing one does not fire again before its next grid point.
	fired = fired[:0]
	if _, err := q.MayPunctuate(36, call); err != nil {
		t.Fatalf("MayPunctuate(36): %v", err)
	}
	if want := []string{"second@36"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if second.Next() != 40 {
		t.Fatalf("second Next() = %d, want 40", second.Next())
	}
	fired = fired[:0]
	if _, err := q.MayPunctuate(40, call); !errors.Is(err, boom) {
		t.Fatalf("MayPunctuate(40) error = %v, want boom", err)
	}
	if want := []string{"failing@40"}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if failing.Next() != 50 {
		t.Fatalf("failing Next() = %d, want 50", failing.Next())
	}
}

func TestRunErrorAfterCancelInCallbackDoesNotReschedule(t *testing.T) {
	var q Queue
	boom := errors.New("boom")
	var s *Schedule
	s = mustAdd(t, &q, 0, 10*time.Millisecond, nil, func(int64) error {
		s.Cancel()
		return boom
	})
	if _, err := q.MayPunctuate(0, call); !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
	if q.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", q.Len())
	}
}

func TestMayPunctuatePassesScheduleAndNowToRun(t *testing.T) {
	var q Queue
	s := mustAdd(t, &q, 0, 10*time.Millisecond, "owner", func(int64) error {
		t.Fatal("Fn called although run did not call it")
		return nil
	})
	var gotS *Schedule
	var gotNow int64
	fired, err := q.MayPunctuate(17, func(rs *Schedule, now int64) error {
		gotS, gotNow = rs, now
		return nil
	})
	if err != nil || !fired {
		t.Fatalf("MayPunctuate = %v, %v", fired, err)
	}
	if gotS != s || gotNow != 17 {
		t.Fatalf("run got (%p, %d), want (%p, 17)", gotS, gotNow, s)
	}
}

func TestNextTimeIsEarliestDuePointOrFalseWhenEmpty(t *testing.T) {
	var q Queue
	if nt, ok := q.NextTime(); ok {
		t.Fatalf("NextTime() on empty queue = %d, true", nt)
	}
	noop := func(int64) error { return nil }
	mustAdd(t, &q, 50, 50*time.Millisecond, nil, noop)
	s20 := mustAdd(t, &q, 20, 20*time.Millisecond, nil, noop)
	mustAdd(t, &q, 30, 30*time.Millisecond, nil, noop)
	if nt, ok := q.NextTime(); !ok || nt != 20 {
		t.Fatalf("NextTime() = %d, %v, want 20, true", nt, ok)
	}
	mayPunctuate(t, &q, 20) // s20 -> 40
	if nt, _ := q.NextTime(); nt != 30 {
		t.Fatalf("NextTime() = %d, want 30", nt)
	}
	mayPunctuate(t, &q, 30) // 30 -> 60
	if nt, _ := q.NextTime(); nt != 40 {
		t.Fatalf("NextTime() = %d, want 40", nt)
	}
	s20.Cancel()
	if nt, _ := q.NextTime(); nt != 50 {
		t.Fatalf("NextTime() after Cancel = %d, want 50", nt)
	}
}

func TestTypeStringNamesStreamTimeAndWallClock(t *testing.T) {
	for typ, want := range map[Type]string{StreamTime: "stream-time", WallClock: "wall-clock", Type(7): "punctuate.Type(7)"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func TestMayPunctuateWithNothingDueDoesNotAllocate(t *testing.T) {
	q := newBenchQueue(1000)
	now, _ := q.NextTime()
	now--
	allocs := testing.AllocsPerRun(1000, func() {
		if fired, _ := q.MayPunctuate(now, call); fired {
			t.Fatal("fired")
		}
	})
	if allocs != 0 {
		t.Fatalf("no-op MayPunctuate allocated %.1f times per call, want 0", allocs)
	}
}

// benchNoop is a package-level callback, so building the queue allocates
// only the schedules.
func benchNoop(int64) error { return nil }

// newBenchQueue returns a queue of n schedules with intervals 1..97 ms,
// starting at their first grid point after 0.
func newBenchQueue(n int) *Queue {
	q := &Queue{}
	for i := range n {
		iv := time.Duration(1+i%97) * time.Millisecond
		if _, err := q.Add(int64(iv/time.Millisecond), iv, i, benchNoop); err != nil {
			panic(err)
		}
	}
	return q
}

// BenchmarkPunctuationQueue measures MayPunctuate over 1000 schedules with
// intervals of 1..97 ms. advance: each op moves time 1 ms, so on average
// ~1000·Σ(1/i)/97 ≈ 53 schedules fire per op. noop: nothing is due (the
// check the task makes after every record), which must not allocate.
func BenchmarkPunctuationQueue(b *testing.B) {
	b.Run("schedules=1000/advance=1ms", func(b *testing.B) {
		q := newBenchQueue(1000)
		fires := 0
		run := func(s *Schedule, now int64) error {
			fires++
			return s.Fn(now)
		}
		b.ReportAllocs()
		now := int64(0)
		for b.Loop() {
			now++
			if _, err := q.MayPunctuate(now, run); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(fires)/float64(b.N), "fires/op")
	})
	b.Run("schedules=1000/advance=jump", func(b *testing.B) {
		// Every op jumps past every schedule's next point: all 1000 fire
		// once per op, each rescheduled onto its grid.
		q := newBenchQueue(1000)
		b.ReportAllocs()
		now := int64(0)
		for b.Loop() {
			now += 1000
			if _, err := q.MayPunctuate(now, call); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("schedules=1000/noop", func(b *testing.B) {
		q := newBenchQueue(1000)
		now, _ := q.NextTime()
		now--
		b.ReportAllocs()
		for b.Loop() {
			if fired, _ := q.MayPunctuate(now, call); fired {
				b.Fatal("fired")
			}
		}
	})
}

func TestCancelAllStopsEverySchedule(t *testing.T) {
	var q Queue
	var r recorder
	a := mustAdd(t, &q, 0, 10*time.Millisecond, nil, r.fn)
	b := mustAdd(t, &q, 5, 10*time.Millisecond, nil, r.fn)
	q.CancelAll()
	if !a.Canceled() || !b.Canceled() || q.Len() != 0 {
		t.Fatalf("after CancelAll: canceled %v %v, len %d", a.Canceled(), b.Canceled(), q.Len())
	}
	a.Cancel() // still safe
	if fired, err := q.MayPunctuate(100, call); fired || err != nil || len(r.got) != 0 {
		t.Errorf("fired %v %v %v after CancelAll", fired, err, r.got)
	}
}
