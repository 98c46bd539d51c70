package partitiongroup

import (
	"math"
	"testing"
	"time"
)

func TestIdleDeadlineNearMaxInt64WaitsUntilMaxInt64InsteadOfNotWaiting(t *testing.T) {
	for _, idle := range []time.Duration{100 * time.Millisecond, time.Duration(math.MaxInt64)} {
		g := New(Config{MaxTaskIdle: idle})
		mustAddPartition(t, g, "a", 0)
		mustAddPartition(t, g, "b", 0)
		mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2))
		// now + MaxTaskIdle is past MaxInt64: the deadline is MaxInt64.
		for _, now := range []int64{math.MaxInt64 - 50, math.MaxInt64 - 1} {
			if mustReady(t, g, now) {
				t.Fatalf("MaxTaskIdle %v: Ready at %d; want to wait for partition b (deadline past MaxInt64)", idle, now)
			}
		}
		if !mustReady(t, g, math.MaxInt64) {
			t.Fatalf("MaxTaskIdle %v: not Ready at MaxInt64, the clamped deadline", idle)
		}
		if n := g.Stats().EnforcedProcessing.Load(); n != 1 {
			t.Errorf("MaxTaskIdle %v: EnforcedProcessing = %d, want 1", idle, n)
		}
	}
}

func TestLargestMaxTaskIdleWaitsFromAnOrdinaryClock(t *testing.T) {
	g := New(Config{MaxTaskIdle: time.Duration(math.MaxInt64)})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1))
	const now = 1_700_000_000_000
	const idleMs = math.MaxInt64 / int64(time.Millisecond)
	if mustReady(t, g, now) || mustReady(t, g, now+idleMs-1) {
		t.Fatal("Ready before the deadline")
	}
	if !mustReady(t, g, now+idleMs) {
		t.Fatal("not Ready at the deadline")
	}
}

func TestLatenessOfRecordsAtZeroAfterMaxInt64IsExactAndItsSumSaturates(t *testing.T) {
	g := New(Config{MaxTaskIdle: -1})
	mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, math.MaxInt64, 0, 0, 1))
	for range 4 {
		mustNext(t, g)
	}
	st := g.Stats()
	if st.LateRecords.Load() != 3 || st.LatenessMax.Load() != math.MaxInt64 {
		t.Errorf("LateRecords %d, LatenessMax %d; want 3, MaxInt64", st.LateRecords.Load(), st.LatenessMax.Load())
	}
	if sum := st.LatenessSum.Load(); sum != math.MaxInt64 {
		t.Errorf("LatenessSum = %d, want MaxInt64 (saturated, not wrapped)", sum)
	}
	if g.StreamTime() != math.MaxInt64 {
		t.Errorf("StreamTime = %d, want MaxInt64", g.StreamTime())
	}
}
