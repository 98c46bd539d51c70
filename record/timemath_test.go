package record_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/millrace/millrace/record"
)

// clampBig returns x clamped to the int64 range.
func clampBig(x *big.Int) int64 {
	if x.Cmp(big.NewInt(math.MaxInt64)) > 0 {
		return math.MaxInt64
	}
	if x.Cmp(big.NewInt(math.MinInt64)) < 0 {
		return math.MinInt64
	}
	return x.Int64()
}

var extremes = []int64{math.MinInt64, math.MinInt64 + 1, -1 << 62, -9_223_372_036_854, -1, 0, 1, 2,
	9_223_372_036_854, 1 << 62, math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64}

func TestSaturatingAddAndSubClampAtTheInt64BoundsForEveryExtremePair(t *testing.T) {
	for _, a := range extremes {
		for _, b := range extremes {
			wantAdd := clampBig(new(big.Int).Add(big.NewInt(a), big.NewInt(b)))
			if got := record.SaturatingAdd(a, b); got != wantAdd {
				t.Errorf("SaturatingAdd(%d, %d) = %d, want %d", a, b, got, wantAdd)
			}
			wantSub := clampBig(new(big.Int).Sub(big.NewInt(a), big.NewInt(b)))
			if got := record.SaturatingSub(a, b); got != wantSub {
				t.Errorf("SaturatingSub(%d, %d) = %d, want %d", a, b, got, wantSub)
			}
		}
	}
}

func TestSaturatingAddOfAMaxTimestampAndTheLargestDurationIsMaxInt64(t *testing.T) {
	const maxDurationMs = math.MaxInt64 / 1_000_000
	if got := record.SaturatingAdd(math.MaxInt64-1, maxDurationMs); got != math.MaxInt64 {
		t.Errorf("got %d, want MaxInt64", got)
	}
	if got := record.SaturatingSub(0, maxDurationMs); got != -maxDurationMs {
		t.Errorf("0 - max duration = %d, want %d (no clamping needed)", got, -maxDurationMs)
	}
}

func FuzzSaturatingArithmeticMatchesExactArithmeticClamped(f *testing.F) {
	for _, a := range extremes {
		for _, b := range extremes {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b int64) {
		if got, want := record.SaturatingAdd(a, b), clampBig(new(big.Int).Add(big.NewInt(a), big.NewInt(b))); got != want {
			t.Fatalf("SaturatingAdd(%d, %d) = %d, want %d", a, b, got, want)
		}
		if got, want := record.SaturatingSub(a, b), clampBig(new(big.Int).Sub(big.NewInt(a), big.NewInt(b))); got != want {
			t.Fatalf("SaturatingSub(%d, %d) = %d, want %d", a, b, got, want)
		}
	})
}
