package store

import (
	"bytes"
	"math"
	"testing"
)

var codecTimes = []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}

func TestCompositeKeyTimesRoundTripAndKeepTheirOrderAtTheInt64Bounds(t *testing.T) {
	for i, a := range codecTimes {
		wk := windowKey(nil, []byte("k\x00"), a, 7)
		key, start, seq, err := parseWindowKey(wk)
		if err != nil || string(key) != "k\x00" || start != a || seq != 7 || windowStartOf(wk) != a {
			t.Errorf("window key at %d: %q %d %d %v", a, key, start, seq, err)
		}
		sk := sessionKey(nil, []byte("k"), a, codecTimes[len(codecTimes)-1-i])
		if key, s, e, err := parseSessionKey(sk); err != nil || string(key) != "k" || s != a || e != codecTimes[len(codecTimes)-1-i] {
			t.Errorf("session key [%d, %d]: %q %d %d %v", a, codecTimes[len(codecTimes)-1-i], key, s, e, err)
		}
		if i > 0 {
			prev := windowKey(nil, []byte("k\x00"), codecTimes[i-1], math.MaxUint32)
			if bytes.Compare(prev, wk) >= 0 {
				t.Errorf("window key at %d does not sort after the one at %d", a, codecTimes[i-1])
			}
		}
	}
}

func FuzzCompositeKeyTimeEncodingKeepsTheOrderOfTimes(f *testing.F) {
	for _, a := range codecTimes {
		for _, b := range codecTimes {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b int64) {
		ka, kb := windowKey(nil, []byte("k"), a, 0), windowKey(nil, []byte("k"), b, 0)
		if c := bytes.Compare(ka, kb); (c < 0) != (a < b) || (c == 0) != (a == b) {
			t.Fatalf("times %d, %d: keys compare %d", a, b, c)
		}
		if windowStartOf(ka) != a || sessionEndOf(sessionKey(nil, []byte("k"), b, a)) != a {
			t.Fatalf("time %d does not round-trip", a)
		}
	})
}
