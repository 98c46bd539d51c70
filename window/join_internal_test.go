package window

import (
	"math"
	"math/big"
	"testing"
	"time"
)

const maxDurMs = int64(math.MaxInt64 / int64(time.Millisecond))

func clampBig(x *big.Int) int64 {
	switch {
	case x.Cmp(big.NewInt(math.MaxInt64)) > 0:
		return math.MaxInt64
	case x.Cmp(big.NewInt(math.MinInt64)) < 0:
		return math.MinInt64
	}
	return x.Int64()
}

func FuzzJoinWindowBoundsAndCloseTimeAreExact(f *testing.F) {
	for _, ts := range []int64{0, 1, maxDurMs, math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64} {
		for _, d := range []int64{0, 1, 10_000, maxDurMs} {
			for _, st := range []int64{-1, 0, math.MaxInt64 - 1, math.MaxInt64} {
				f.Add(ts, d, maxDurMs-d, d, st)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ts, before, after, grace, streamTime int64) {
		if ts < 0 || before < 0 || after < 0 || grace < 0 || before > maxDurMs || after > maxDurMs || grace > maxDurMs {
			t.Skip()
		}
		w, err := JoinBeforeAfter(time.Duration(before)*time.Millisecond, time.Duration(after)*time.Millisecond, time.Duration(grace)*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		left := &joinSide[string, string, string, string, string, string]{joinShared: joinShared[string, string, string, string]{w: w},
			left: true, lookahead: w.after, otherFrom: w.before, otherTo: w.after}
		from, to := left.otherRange(ts)
		wantFrom := max(0, clampBig(new(big.Int).Sub(big.NewInt(ts), big.NewInt(before))))
		wantTo := clampBig(new(big.Int).Add(big.NewInt(ts), big.NewInt(after)))
		if from != wantFrom || to != wantTo {
			t.Fatalf("otherRange(%d) = [%d, %d], want [%d, %d]", ts, from, to, wantFrom, wantTo)
		}
		if from > ts || to < ts {
			t.Fatalf("otherRange(%d) = [%d, %d] does not hold ts", ts, from, to)
		}
		closeAt := new(big.Int).Add(big.NewInt(ts), big.NewInt(after))
		closeAt.Add(closeAt, big.NewInt(grace))
		if got, want := left.closedBy(ts, after, streamTime), closeAt.Cmp(big.NewInt(streamTime)) < 0; got != want {
			t.Fatalf("closedBy(%d, %d, %d) = %v, want %v (close time %v)", ts, after, streamTime, got, want, closeAt)
		}
	})
}
