package dsl_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

// mustW unwraps a window definition the test knows to be valid.
func mustW[W any](w W, err error) W {
	if err != nil {
		panic(err)
	}
	return w
}

// winRead reads topic's windowed records as "[key@start/end]=value@ts".
func winRead[V any](t *testing.T, d *testdriver.Driver, topic string, keys record.Serde[dsl.Windowed[string]], values record.Serde[V]) []string {
	t.Helper()
	return tblRead(t, testdriver.CreateOutputTopic(d, topic, keys, values))
}

func timeKeys(size time.Duration) record.Serde[dsl.Windowed[string]] {
	return window.TimeWindowedSerde(record.String(), size.Milliseconds())
}

func TestTumblingCountDropsAndCountsLateRecords(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 5*time.Millisecond))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("counts"))
	dsl.To(dsl.ToStream(counts), "out") // the windowed key serde comes with the table
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 9)
	pipe(t, in, "a", "x", 10) // [10,20): the end is exclusive
	pipe(t, in, "b", "x", 14) // stream time 14: [0,10) closes at 15
	pipe(t, in, "a", "x", 4)  // within grace: counted
	pipe(t, in, "b", "x", 15) // stream time 15 = end + grace
	pipe(t, in, "a", "x", 3)  // late: dropped and counted
	tblEqual(t, "out", winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64()), []string{
		"[a@0/10]=1@1", "[a@0/10]=2@9", "[a@10/20]=1@10", "[b@10/20]=1@14", "[a@0/10]=3@9", "[b@10/20]=2@15"})
	if n := tblDropped(t, d, window.DropLate); n != 1 {
		t.Errorf("%d late drops, want 1", n)
	}
	s, err := testdriver.WindowStore[string, storeVT[int64]](d, "counts")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.Fetch("a", 0); !ok || v.Value != 3 {
		t.Errorf("store counts[a@0] = %v %v, want 3", v, ok)
	}
	if s.WindowSize() != 10 || s.RetentionPeriod() != 15 {
		t.Errorf("store window size %d, retention %d: want 10 and 15, derived from the windows", s.WindowSize(), s.RetentionPeriod())
	}
}

// The first example, through the DSL: three records within one
// 5-minute hopping window count 3 (the store cannot be built for other
// windows).
func TestHoppingCountPutsEachRecordInEveryWindowContainingIt(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Hopping(5*time.Minute, time.Minute, 0))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.InMemory())
	dsl.To(dsl.ToStream(counts), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	const m = 60_000
	pipe(t, in, "a", "x", 4*m+10)
	pipe(t, in, "a", "x", 4*m+20)
	pipe(t, in, "a", "x", 5*m+30)
	got := winRead(t, d, "out", timeKeys(5*time.Minute), record.Int64())
	var last []string
	for _, g := range got {
		if strings.HasPrefix(g, "[a@60000/360000]") {
			last = append(last, g)
		}
	}
	tblEqual(t, "window [1m,6m)", last, []string{"[a@60000/360000]=1@240010", "[a@60000/360000]=2@240020", "[a@60000/360000]=3@300030"})
	if len(got) != 5+5+5 {
		t.Errorf("%d updates, want 15 (each record is in 5 windows): %v", len(got), got)
	}
}

func TestSessionMergesForwardTombstonesForTheMergedAwaySessions(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Sessions(10*time.Millisecond, 20*time.Millisecond))
	counts := dsl.CountSessions(dsl.SessionWindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("sessions"), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 0)
	pipe(t, in, "a", "x", 15) // 15 > 0 + 10: a new session
	pipe(t, in, "a", "x", 8)  // within 10 of both: merges them into [0,15]
	pipe(t, in, "a", "x", 40)
	tblEqual(t, "out", winRead(t, d, "out", window.SessionWindowedSerde(record.String()), record.Int64()), []string{
		"[a@0/0]=1@0", "[a@15/15]=1@15",
		"[a@0/0]=<null>@0", "[a@15/15]=<null>@15", "[a@0/15]=3@15",
		"[a@40/40]=1@40"})
	s, err := testdriver.SessionStore[string, int64](d, "sessions")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.FetchSession("a", 0, 15); !ok || v != 3 {
		t.Errorf("store sessions[a@0/15] = %v %v, want 3", v, ok)
	}
	pipe(t, in, "a", "x", 5) // late: it would join [0,15], which closed at 15 + 20 < 40
	if n := tblDropped(t, d, window.DropLate); n != 1 {
		t.Errorf("%d late drops, want 1", n)
	}
}

func TestSessionAggregateMergesAggregatesWithTheMerger(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Sessions(10*time.Millisecond, 20*time.Millisecond))
	joined := dsl.AggregateSessions(dsl.SessionWindowedBy(dsl.GroupByKey(strStream(b, "in")), w),
		func() string { return "" },
		func(_ string, v, agg string) string { return agg + v },
		func(_ string, a, b string) string { return a + "+" + b },
		dsl.WithoutCaching())
	dsl.To(dsl.ToStream(joined), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 0)
	pipe(t, in, "a", "y", 15)
	pipe(t, in, "a", "z", 8)
	tblEqual(t, "out", winRead(t, d, "out", window.SessionWindowedSerde(record.String()), record.String()), []string{
		"[a@0/0]=x@0", "[a@15/15]=y@15", "[a@0/0]=<null>@0", "[a@15/15]=<null>@15", "[a@0/15]=+x+yz@15"})
}

func TestSlidingCountHasAWindowPerDistinctSetOfRecords(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Sliding(10*time.Millisecond, 0))
	counts := dsl.CountSliding(dsl.SlidingWindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 20)
	pipe(t, in, "a", "x", 25) // its left window [15,25] holds both; 20's right window [21,31] holds 25
	pipe(t, in, "a", "x", 40) // alone: [30,40]
	tblEqual(t, "out", winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64()), []string{
		"[a@10/20]=1@20", "[a@21/31]=1@25", "[a@15/25]=2@25", "[a@30/40]=1@40"})
}

func TestWindowedCountAfterAKeyChangeRepartitionsFirst(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	byFirst := dsl.GroupBy(strStream(b, "in"), func(_, v string) string { return v[:1] })
	counts := dsl.CountWindows(dsl.WindowedBy(byFirst, w), dsl.As("firsts"), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "firsts-repartition") {
		t.Errorf("no repartition topic firsts-repartition in\n%s", desc)
	}
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "k1", "apple", 1)
	pipe(t, in, "k2", "avocado", 2)
	tblEqual(t, "out", winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64()), []string{"[a@0/10]=1@1", "[a@0/10]=2@2"})
}

func TestRetentionShorterThanTheWindowsNeedIsABuildError(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(time.Minute, 10*time.Second))
	dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("c"), dsl.Retention(time.Minute))
	err := tblBuildErr(t, b, dsl.ErrInvalidOperator)
	if !strings.Contains(err.Error(), "1m10s") {
		t.Errorf("error %v does not name the retention the windows need", err)
	}
	// A longer one is fine, and the store keeps it.
	b = dsl.NewBuilder()
	dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("c"), dsl.Retention(time.Hour), dsl.InMemory())
	d := newDriver(t, b)
	s, err := testdriver.WindowStore[string, storeVT[int64]](d, "c")
	if err != nil {
		t.Fatal(err)
	}
	if s.RetentionPeriod() != time.Hour.Milliseconds() {
		t.Errorf("retention %d ms, want an hour", s.RetentionPeriod())
	}
}

func TestZeroWindowsAreABuildError(t *testing.T) {
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	dsl.CountWindows(dsl.WindowedBy(g, window.TimeWindows{}))
	err := tblBuildErr(t, b, dsl.ErrInvalidOperator)
	for _, want := range []string{"zero time windows"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: missing %q", err, want)
		}
	}
}

// Kafka Streams' TimeWindowedSerializer writes key bytes then the 8-byte
// big-endian start; SessionWindowedSerializer key bytes, end, start.
func TestWindowedKeysOnTopicsUseKafkaStreamsByteLayout(t *testing.T) {
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	tw := mustW(window.Tumbling(10*time.Millisecond, 0))
	se := mustW(window.Sessions(10*time.Millisecond, 0))
	dsl.To(dsl.ToStream(dsl.CountWindows(dsl.WindowedBy(g, tw), dsl.WithoutCaching())), "time")
	dsl.To(dsl.ToStream(dsl.CountSessions(dsl.SessionWindowedBy(g, se), dsl.WithoutCaching())), "session")
	d := newDriver(t, b)
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "ab", "x", 12)
	raw := func(topic string) []byte {
		rs, err := testdriver.CreateOutputTopic(d, topic, record.Bytes(), record.Bytes()).ReadRecords()
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %v", topic, rs, err)
		}
		return rs[0].Key()
	}
	wantTime := binary.BigEndian.AppendUint64([]byte("ab"), 10)
	if got := raw("time"); string(got) != string(wantTime) {
		t.Errorf("time-windowed key %x, want %x", got, wantTime)
	}
	wantSession := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte("ab"), 12), 12)
	if got := raw("session"); string(got) != string(wantSession) {
		t.Errorf("session-windowed key %x, want %x", got, wantSession)
	}
	// And they read back.
	k, err := timeKeys(10 * time.Millisecond).Deserialize(wantTime)
	if err != nil || k != (dsl.Windowed[string]{Key: "ab", Start: 10, End: 20}) {
		t.Errorf("time-windowed round trip: %v %v", k, err)
	}
}

func TestUnwindowRekeysByThePlainKeyWithItsSerde(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	plain := dsl.Unwindow(dsl.ToStream(counts))
	dsl.To(plain, "out")
	// The key changed: a grouping downstream repartitions.
	dsl.Count(dsl.GroupByKey(plain), dsl.As("totals"))
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "totals-repartition") {
		t.Errorf("no repartition after Unwindow:\n%s", desc)
	}
	d := newDriver(t, b)
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "a", "x", 12)
	same(t, "out", read(t, d, "out", record.String(), record.Int64()), []rec[string, int64]{kv("a", int64(1), 12)})
}

func TestWindowedTableValueGetterReadsTheWindowStore(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	// A windowed stream joined with the windowed table by its windowed key.
	probes := dsl.Map(strStream(b, "probe"), func(k, _ string) (dsl.Windowed[string], string) {
		return dsl.Windowed[string]{Key: k, Start: 0, End: 10}, k
	})
	probes = dsl.Repartition(probes, dsl.Named("probes"), dsl.KeySerde(timeKeys(10*time.Millisecond)))
	joined := dsl.LeftJoinTable(probes, counts, func(_ string, n *int64) string {
		if n == nil {
			return "none"
		}
		return fmt.Sprint(*n)
	})
	dsl.To(dsl.Unwindow(joined), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	probe := testdriver.CreateInputTopic(d, "probe", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 2)
	pipe(t, probe, "a", "?", 3)
	pipe(t, probe, "b", "?", 4)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("a", "2", 3), kv("b", "none", 4)})
}

type storeVT[V any] = store.ValueAndTimestamp[V]

var _ = errors.Is
