package window_test

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

const maxDurMs = int64(math.MaxInt64 / int64(time.Millisecond))

func FuzzStartsForReturnsExactlyTheWindowsHoldingTheTimestamp(f *testing.F) {
	for _, ts := range []int64{math.MinInt64, -1, 0, 1, 999, 1000, maxDurMs, maxTS - 5000, maxTS - 1001, maxTS - 1000, maxTS - 1, maxTS} {
		for _, sa := range [][2]int64{{1, 1}, {10, 10}, {20, 5}, {1000, 7}, {maxDurMs, maxDurMs}, {maxDurMs, maxDurMs / 1000}, {maxDurMs, maxDurMs - 1}} {
			f.Add(sa[0], sa[1], ts)
		}
	}
	f.Fuzz(func(t *testing.T, size, advance, ts int64) {
		// Bound the number of windows per record (size/advance): a huge
		// ratio is a valid definition but not a useful input here.
		if size < 1 || size > maxDurMs || advance < 1 || advance > size || size/advance > 10_000 {
			t.Skip()
		}
		w := mw(window.Hopping(time.Duration(size)*time.Millisecond, time.Duration(advance)*time.Millisecond, 0))
		var got []int64
		bounded(t, "StartsFor", func() error {
			got = w.StartsFor(make([]int64, 0, 4), ts)
			return nil
		})
		if int64(len(got)) > size/advance+1 {
			t.Fatalf("%d windows, more than size/advance+1 = %d", len(got), size/advance+1)
		}
		for i, s := range got {
			// s <= ts < s + size, exactly, and so with the clamped end.
			end := new(big.Int).Add(big.NewInt(s), big.NewInt(size))
			if s < 0 || s%advance != 0 || s > ts || end.Cmp(big.NewInt(ts)) <= 0 || w.End(s) <= ts {
				t.Fatalf("start %d (end %v, clamped %d) does not hold %d", s, end, w.End(s), ts)
			}
			if i > 0 && s <= got[i-1] {
				t.Fatalf("starts not ascending: %v", got)
			}
		}
		// Every window holding ts is there: the non-negative multiples of
		// advance in (ts - size, ts] whose clamped end is past ts (none for
		// ts = MaxInt64, whose windows all end past it).
		want := int64(0)
		if ts >= 0 && ts < maxTS {
			lo := max(0, ts-size+1) // no overflow: ts >= 0
			want = ts/advance - (lo+advance-1)/advance + 1
		}
		if int64(len(got)) != want {
			t.Fatalf("StartsFor(%d) = %v: %d windows, want %d", ts, got, len(got), want)
		}
	})
}

// The windowed processors depend on time differences only (time windows
// on differences from multiples of the advance), so a run whose records sit
// in the last span ms before MaxInt64 must give the same results as the
// same records early in time, shifted by a multiple of the advance, with
// window ends clamped at MaxInt64. Overflowing arithmetic breaks that:
// wrapped ends, "late" records, lost merges, early unmatched joins.

const fuzzSpan = 3000 // ms of time the fuzzed records spread over

var numberRE = regexp.MustCompile(`-?[0-9]{6,}`)

// shiftTopology counts sliding, session and hopping windows of the records
// piped to "in", and outer-joins "left" with "right", writing every result
// as text.
func shiftTopology(t *testing.T, diff, grace, size, adv time.Duration, got *[]string) *testdriver.Driver {
	t.Helper()
	sw := mw(window.Sliding(diff, grace))
	ss := mw(window.Sessions(diff, grace))
	hw := mw(window.Hopping(size, adv, grace))
	jw := mw(window.JoinBeforeAfter(diff, size, grace))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "sliding", window.CountSliding[string, string](sw, "sliding"), "in").WithStores("sliding")
	processor.AddProcessor(b, "session", window.CountSessions[string, string](ss, "session"), "in").WithStores("session")
	processor.AddProcessor(b, "hopping", window.Count[string, string](hw, "hopping"), "in").WithStores("hopping")
	for _, n := range []string{"sliding", "session", "hopping"} {
		name := n
		processor.AddProcessor(b, name+"-out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], window.Change[int64]]) error {
			*got = append(*got, fmt.Sprintf("%s:%s=%v@%d", name, r.Key(), r.Value(), r.Timestamp()))
			return nil
		}), name)
	}
	b.AddStore(window.SlidingWindowStore(store.InMemoryWindow, "sliding", sw, record.String(), record.Int64()))
	b.AddStore(window.SessionStore(store.InMemorySession, "session", ss, record.String(), record.Int64()))
	b.AddStore(window.TimeWindowStore(store.InMemoryWindow, "hopping", hw, record.String(), record.Int64()))

	names := window.JoinStoreNames{Left: "jl", Right: "jr", Unmatched: "ju"}
	left, right := window.Join[string, string, string, string](window.OuterJoin, jw, names, func(_ string, l, r *string) string {
		ls, rs := "-", "-"
		if l != nil {
			ls = *l
		}
		if r != nil {
			rs = *r
		}
		return ls + "+" + rs
	}, record.String(), record.String(), record.String())
	processor.AddSource(b, "l", record.String(), record.String(), "left")
	processor.AddSource(b, "r", record.String(), record.String(), "right")
	processor.AddProcessor(b, "join-left", left, "l").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddProcessor(b, "join-right", right, "r").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddProcessor(b, "join-out", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		*got = append(*got, fmt.Sprintf("join:%s=%s@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	}), "join-left", "join-right")
	for _, sb := range window.JoinStores(store.InMemoryWindow, store.InMemoryKeyValue, names, jw, record.String(), record.String(), record.String()) {
		b.AddStore(sb)
	}
	return driver(t, b)
}

type fuzzRecord struct {
	topic, key, value string
	off               int64
}

// runShifted pipes recs at base + off and returns the results with every
// time made relative to base and clamped to limit (MaxInt64 relative to
// the high base), and the drops of both tasks.
func runShifted(t *testing.T, base, limit int64, recs []fuzzRecord, diff, grace, size, adv time.Duration) (string, string) {
	t.Helper()
	var got []string
	d := shiftTopology(t, diff, grace, size, adv, &got)
	ins := map[string]*testdriver.InputTopic[string, string]{}
	for _, topic := range []string{"in", "left", "right"} {
		ins[topic] = testdriver.CreateInputTopic(d, topic, record.String(), record.String())
	}
	bounded(t, "piping", func() error {
		for _, r := range recs {
			if err := ins[r.topic].Pipe(r.key, r.value, base+r.off); err != nil {
				return err
			}
		}
		return nil
	})
	rel := numberRE.ReplaceAllStringFunc(strings.Join(got, " "), func(s string) string {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return s
		}
		return strconv.FormatInt(min(n-base, limit), 10)
	})
	var drops []string
	for i := range 2 {
		st, err := d.Stats(i)
		must(t, err)
		drops = append(drops, fmt.Sprint(st.DroppedReasons()))
	}
	return rel, strings.Join(drops, " ")
}

func FuzzWindowedProcessorsNearMaxInt64MatchTheSameRecordsEarlier(f *testing.F) {
	f.Add([]byte{0, 0x0b, 0xb7, 1, 0x0b, 0xb6, 4, 0x0b, 0xb0, 2, 0x0b, 0xb7}, uint16(10), uint16(0), uint16(10), uint16(5))
	f.Add([]byte{0, 0, 0, 0, 0x0b, 0xb7, 0, 0x0b, 0xb6, 5, 0x0b, 0xb7, 2, 0x0b, 0xa0, 4, 0x0b, 0xb7}, uint16(1000), uint16(500), uint16(20), uint16(20))
	f.Add([]byte{1, 0x0b, 0x00, 3, 0x0b, 0xb7, 2, 0x0b, 0x50, 6, 0x0b, 0xb7, 4, 0x0b, 0xb5}, uint16(2000), uint16(2000), uint16(2000), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, diffMs, graceMs, sizeMs, advMs uint16) {
		diff := time.Duration(1+int64(diffMs)%2000) * time.Millisecond
		grace := time.Duration(int64(graceMs)%2000) * time.Millisecond
		size := time.Duration(1+int64(sizeMs)%2000) * time.Millisecond
		adv := time.Duration(1+int64(advMs)%int64(size/time.Millisecond)) * time.Millisecond
		if size/adv > 50 {
			t.Skip()
		}
		var recs []fuzzRecord
		for i := 0; i+2 < len(data) && len(recs) < 16; i += 3 {
			b := data[i]
			off := (int64(data[i+1])<<8 | int64(data[i+2])) % fuzzSpan
			topic := []string{"in", "left", "right"}[int(b>>1)%3]
			if topic == "in" && off == fuzzSpan-1 {
				// A record at MaxInt64 has no time window (dropped and
				// counted); early it has one: not comparable.
				off--
			}
			recs = append(recs, fuzzRecord{topic: topic, key: string(rune('a' + b&1)), value: strconv.Itoa(len(recs)), off: off})
		}
		if len(recs) == 0 {
			t.Skip()
		}
		high := maxTS - (fuzzSpan - 1) // the last record can be at MaxInt64
		advMsInt := int64(adv / time.Millisecond)
		low := high - (high-1_000_000_000)/advMsInt*advMsInt // >= 1e9, and high - low is a multiple of the advance
		gotHigh, dropsHigh := runShifted(t, high, fuzzSpan-1, recs, diff, grace, size, adv)
		gotLow, dropsLow := runShifted(t, low, fuzzSpan-1, recs, diff, grace, size, adv)
		if gotHigh != gotLow || dropsHigh != dropsLow {
			t.Fatalf("records %v (diff %v, grace %v, hopping %v/%v):\nnear MaxInt64:\n %s\n drops %s\nearly (shifted):\n %s\n drops %s",
				recs, diff, grace, size, adv, gotHigh, dropsHigh, gotLow, dropsLow)
		}
	})
}
