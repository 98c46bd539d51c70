package store

import (
	"bytes"
	"cmp"
	"math"
	"testing"
)

// seedCompositeKeys adds real window and session keys (user keys with and
// without 0x00 and 0xFF bytes, times at the int64 bounds) and damaged ones:
// cut short, a bad escape, no terminator.
func seedCompositeKeys(f *testing.F) {
	for _, k := range [][]byte{{}, []byte("user-1"), {0}, {0, 0xFF}, {0xFF, 0}, []byte("a\x00b")} {
		for _, t := range []int64{math.MinInt64, -1, 0, 1_700_000_000_000, math.MaxInt64} {
			w := windowKey(nil, k, t, 7)
			f.Add(w)
			f.Add(w[:len(w)-1])
			f.Add(sessionKey(nil, k, t, max(t, 0)))
		}
	}
	f.Add([]byte{0})
	f.Add([]byte{0, 1, 2})
	f.Add([]byte("no terminator at all"))
	f.Add(append([]byte{'k', 0, 0}, bytes.Repeat([]byte{0xFF}, 20)...))
}

func FuzzParseCompositeKeysNeverPanicAndAcceptOnlyTheirOwnEncoding(f *testing.F) {
	seedCompositeKeys(f)
	f.Fuzz(func(t *testing.T, c []byte) {
		if key, start, seq, err := parseWindowKey(c); err == nil {
			if again := windowKey(nil, key, start, seq); !bytes.Equal(again, c) {
				t.Fatalf("parseWindowKey(%x) = %x@%d#%d, which encodes as %x", c, key, start, seq, again)
			}
			if windowStartOf(c) != start {
				t.Fatalf("windowStartOf(%x) = %d, parse says %d", c, windowStartOf(c), start)
			}
		}
		if key, start, end, err := parseSessionKey(c); err == nil {
			if again := sessionKey(nil, key, start, end); !bytes.Equal(again, c) {
				t.Fatalf("parseSessionKey(%x) = %x [%d,%d], which encodes as %x", c, key, start, end, again)
			}
			if sessionEndOf(c) != end {
				t.Fatalf("sessionEndOf(%x) = %d, parse says %d", c, sessionEndOf(c), end)
			}
		}
		// Keys too short to hold a time are rejected before the time is read.
		if len(c) < keyTerminatorLen+windowSuffixLen {
			if _, _, _, err := parseWindowKey(c); err == nil {
				t.Fatalf("parseWindowKey accepted %d bytes", len(c))
			}
		}
	})
}

func FuzzCompositeKeysRoundTripAndSortByKeyThenTime(f *testing.F) {
	f.Add([]byte("a"), int64(1), uint32(0), []byte("a\x00"), int64(0), uint32(1))
	f.Add([]byte("a\x00"), int64(-1), uint32(0), []byte("a\x01"), int64(math.MinInt64), uint32(0))
	f.Add([]byte{}, int64(math.MaxInt64), uint32(math.MaxUint32), []byte{0}, int64(math.MinInt64), uint32(0))
	f.Add([]byte("k\xff"), int64(5), uint32(2), []byte("k\xff"), int64(5), uint32(1))
	f.Fuzz(func(t *testing.T, k1 []byte, t1 int64, s1 uint32, k2 []byte, t2 int64, s2 uint32) {
		w1, w2 := windowKey(nil, k1, t1, s1), windowKey(nil, k2, t2, s2)
		if key, start, seq, err := parseWindowKey(w1); err != nil || !bytes.Equal(key, k1) || start != t1 || seq != s1 {
			t.Fatalf("window key %x@%d#%d parses as %x@%d#%d, %v", k1, t1, s1, key, start, seq, err)
		}
		// Window keys sort as (key bytes, start, sequence number).
		want := cmp.Or(bytes.Compare(k1, k2), cmp.Compare(t1, t2), cmp.Compare(s1, s2))
		if got := bytes.Compare(w1, w2); got != want {
			t.Fatalf("window keys %x@%d#%d and %x@%d#%d compare %d, want %d", k1, t1, s1, k2, t2, s2, got, want)
		}
		// Session keys sort as (key bytes, end, start); here t is the end
		// and the start is t shifted by the sequence number.
		st1, st2 := t1-int64(s1), t2-int64(s2)
		if st1 > t1 || st2 > t2 {
			return // wrapped below MinInt64: not a session
		}
		c1, c2 := sessionKey(nil, k1, st1, t1), sessionKey(nil, k2, st2, t2)
		if key, start, end, err := parseSessionKey(c1); err != nil || !bytes.Equal(key, k1) || start != st1 || end != t1 {
			t.Fatalf("session key %x [%d,%d] parses as %x [%d,%d], %v", k1, st1, t1, key, start, end, err)
		}
		want = cmp.Or(bytes.Compare(k1, k2), cmp.Compare(t1, t2), cmp.Compare(st1, st2))
		if got := bytes.Compare(c1, c2); got != want {
			t.Fatalf("session keys %x [%d,%d] and %x [%d,%d] compare %d, want %d", k1, st1, t1, k2, st2, t2, got, want)
		}
	})
}
