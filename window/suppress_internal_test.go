package window

import (
	"math"
	"testing"
)

func TestSuppressionDueTimeIsExactUpToMaxInt64AndAbsentPastIt(t *testing.T) {
	for _, tc := range []struct {
		t, d, want int64
		ok         bool
	}{
		{0, 0, 0, true},
		{1000, 500, 1500, true},
		{math.MaxInt64 - 5, 5, math.MaxInt64, true}, // due at the last millisecond
		{math.MaxInt64 - 5, 6, 0, false},            // never due
		{math.MaxInt64, 1, 0, false},
		{math.MaxInt64, maxDurMs + 1, 0, false},
		{5, -10, -5, true}, // a negative grace is due early, as before
		{math.MinInt64 + 1, -5, math.MinInt64, true},
	} {
		if got, ok := dueAt(tc.t, tc.d); got != tc.want || ok != tc.ok {
			t.Errorf("dueAt(%d, %d) = %d, %v; want %d, %v", tc.t, tc.d, got, ok, tc.want, tc.ok)
		}
	}
}
