package window_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mw unwraps a window definition the test knows to be valid.
func mw[W any](w W, err error) W {
	if err != nil {
		panic(err)
	}
	return w
}

// collector records what a windowed aggregation forwards, as text.
type collector[V any] struct{ got *[]string }

func (c collector[V]) supplier() processor.Supplier[window.Windowed[string], window.Change[V], string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], window.Change[V]]) error {
		*c.got = append(*c.got, fmt.Sprintf("%s=%v@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	})
}

func driver(t *testing.T, b *processor.Builder) *testdriver.Driver {
	t.Helper()
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{})
	must(t, err)
	t.Cleanup(func() { must(t, d.Close()) })
	return d
}

// countTopology counts per key in w and records every Change.
func countTopology(t *testing.T, w window.TimeWindows, cached bool, got *[]string) *testdriver.Driver {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "out", collector[int64]{got}.supplier(), "count")
	sb := window.TimeWindowStore(store.InMemoryWindow, "counts", w, record.String(), record.Int64())
	if !cached {
		sb = store.NewWindowBuilder(store.InMemoryWindow("counts", w.Retention(), time.Duration(w.Size())*time.Millisecond, false),
			record.String(), store.TimestampedSerde(record.Int64()))
	}
	b.AddStore(sb)
	return driver(t, b)
}

func pipe(t *testing.T, in *testdriver.InputTopic[string, string], k, v string, ts int64) {
	t.Helper()
	must(t, in.Pipe(k, v, ts))
}

func TestTumblingWindowsAreEpochAlignedAndEndExclusive(t *testing.T) {
	var got []string
	w := mw(window.Tumbling(10*time.Millisecond, 0))
	d := countTopology(t, w, false, &got)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 0)  // [0,10)
	pipe(t, in, "a", "x", 9)  // [0,10): the last millisecond
	pipe(t, in, "a", "x", 10) // [10,20): the end is exclusive
	pipe(t, in, "a", "x", 25) // [20,30): aligned to the epoch, not to the first record
	want := "[a@0/10]=<none>->1@0 [a@0/10]=1->2@9 [a@10/20]=<none>->1@10 [a@20/30]=<none>->1@25"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}

func TestHoppingWindowPutsARecordInSizeOverAdvanceWindows(t *testing.T) {
	var got []string
	w := mw(window.Hopping(20*time.Millisecond, 5*time.Millisecond, 0))
	d := countTopology(t, w, false, &got)
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "a", "x", 27)
	want := "[a@10/30]=<none>->1@27 [a@15/35]=<none>->1@27 [a@20/40]=<none>->1@27 [a@25/45]=<none>->1@27"
	if strings.Join(got, " ") != want {
		t.Errorf("got %s\nwant %s", strings.Join(got, " "), want)
	}
	if starts := w.StartsFor(nil, 3); fmt.Sprint(starts) != "[0]" {
		t.Errorf("a record at 3 is in windows %v, want only [0] (no negative starts)", starts)
	}
}

func TestGraceCountsARecordOneMillisecondInsideAndDropsOneAtTheLimit(t *testing.T) {
	var got []string
	w := mw(window.Tumbling(10*time.Millisecond, 5*time.Millisecond))
	d := countTopology(t, w, false, &got)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 14) // stream time 14: window [0,10) closes at 10+5=15
	pipe(t, in, "a", "x", 2)  // one millisecond inside the grace period: counted
	pipe(t, in, "b", "x", 15) // stream time 15 = window end + grace
	pipe(t, in, "a", "x", 3)  // at the limit: dropped and counted
	want := "[a@0/10]=<none>->1@1 [b@10/20]=<none>->1@14 [a@0/10]=1->2@2 [b@10/20]=1->2@15"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, _ := d.Stats(0)
	if st.DroppedBy(window.DropLate) != 1 {
		t.Errorf("late drops = %d, want 1", st.DroppedBy(window.DropLate))
	}
}

func TestCachedAggregationForwardsOneUpdatePerWindowPerCommit(t *testing.T) {
	var got []string
	w := mw(window.Tumbling(10*time.Millisecond, 0))
	d := countTopology(t, w, true, &got)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	must(t, d.Batch(func() error { // one commit for three records
		for i := 0; i < 3; i++ {
			if err := in.Pipe("a", "x", int64(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	if want := "[a@0/10]=<none>->3@2"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	pipe(t, in, "a", "x", 5) // next commit: old and new
	if want := "[a@0/10]=3->4@5"; got[len(got)-1] != want {
		t.Errorf("got %v, last want %s", got, want)
	}
}

func TestNullKeysAreDroppedAndCountedByStatefulProcessors(t *testing.T) {
	var got []string
	w := mw(window.Tumbling(10*time.Millisecond, 0))
	d := countTopology(t, w, false, &got)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	r, _ := record.New("", "x", 1)
	must(t, in.PipeRecord(r.WithNullKey()))
	must(t, in.PipeRecord(r.WithKey("k").WithNullValue()))
	if len(got) != 0 {
		t.Errorf("forwarded %v", got)
	}
	st, _ := d.Stats(0)
	if st.DroppedBy(window.DropNullKey) != 1 || st.DroppedBy(window.DropNullValue) != 1 {
		t.Errorf("drops %v", st.DroppedReasons())
	}
}

func TestSlidingWindowsAreCreatedAndUpdatedAsKafkaStreamsDoes(t *testing.T) {
	// Kafka Streams' KStreamSlidingWindowAggregateTest.testAggregateSmallInput:
	// time difference 10 ms, grace 5 ms, "0" + "+v" per record.
	w := mw(window.Sliding(10*time.Millisecond, 5*time.Millisecond))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "agg", window.AggregateSliding(w, "sliding", window.Aggregator[string, string, string]{
		Init: func() string { return "0" }, Add: func(_ string, v, agg string) string { return agg + "+" + v }}), "in").WithStores("sliding")
	processor.AddProcessor(b, "out", collector[string]{&got}.supplier(), "agg")
	b.AddStore(window.SlidingWindowStore(store.InMemoryWindow, "sliding", w, record.String(), record.String()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	for i, ts := range []int64{10, 10, 14, 15, 20, 22, 30} {
		pipe(t, in, "A", fmt.Sprint(i+1), ts)
	}
	byStart := map[int64][]string{}
	for _, g := range got {
		// [A@start/end]=old->new@ts
		var start, end, ts int64
		var change string
		_, err := fmt.Sscanf(strings.NewReplacer("[", "", "]", " ", "@", " ", "/", " ", "=", " ").Replace(g), "A %d %d %s %d", &start, &end, &change, &ts)
		must(t, err)
		byStart[start] = append(byStart[start], change[strings.Index(change, "->")+2:]+"@"+fmt.Sprint(ts))
	}
	want := map[int64]string{
		0:  "0+1@10 0+1+2@10",
		4:  "0+1+2+3@14",
		5:  "0+1+2+3+4@15",
		10: "0+1+2+3+4+5@20",
		11: "0+3@14 0+3+4@15 0+3+4+5@20",
		12: "0+3+4+5+6@22",
		15: "0+4@15 0+4+5@20 0+4+5+6@22",
		16: "0+5@20 0+5+6@22",
		20: "0+5+6+7@30",
		21: "0+6@22 0+6+7@30",
		23: "0+7@30",
	}
	for start, w := range want {
		g := byStart[start]
		sort.Strings(g)
		ws := strings.Fields(w)
		sort.Strings(ws)
		if strings.Join(g, " ") != strings.Join(ws, " ") {
			t.Errorf("window starting %d: got %v, want %v", start, g, ws)
		}
	}
	if len(byStart) != len(want) {
		t.Errorf("windows %v, want starts of %v", byStart, want)
	}
}

func TestSessionBridgedByLateRecordMergesAndTombstonesTheMergedAwaySession(t *testing.T) {
	w := mw(window.Sessions(5*time.Millisecond, 100*time.Millisecond))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSessions[string, string](w, "sessions"), "in").WithStores("sessions")
	processor.AddProcessor(b, "out", collector[int64]{&got}.supplier(), "count")
	b.AddStore(store.NewSessionBuilder(store.InMemorySession("sessions", w.Retention()), record.String(), record.Int64()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "u", "x", 10) // session [10,10]
	pipe(t, in, "u", "x", 12) // extends it: [10,12]
	pipe(t, in, "u", "x", 20) // more than 5 ms later: a new session [20,20]
	pipe(t, in, "u", "x", 16) // late, within 5 ms of both: bridges them into [10,20]
	want := "[u@10/10]=<none>->1@10 " +
		"[u@10/10]=1-><none>@10 [u@10/12]=<none>->2@12 " +
		"[u@20/20]=<none>->1@20 " +
		"[u@10/12]=2-><none>@12 [u@20/20]=1-><none>@20 [u@10/20]=<none>->4@20"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	s, err := testdriver.SessionStore[string, int64](d, "sessions")
	must(t, err)
	it, err := s.Fetch("u")
	must(t, err)
	defer it.Close()
	var left []string
	for it.Next() {
		left = append(left, fmt.Sprintf("%s=%d", it.Key(), it.Value()))
	}
	if strings.Join(left, " ") != "[u@10/20]=4" {
		t.Errorf("store holds %v, want only the merged session", left)
	}
}

// suppressTopology counts in tumbling windows of 10 ms with grace 5 ms and
// suppresses until windows close.
func suppressTopology(t *testing.T, buf window.BufferConfig, h handler.ProcessingHandler) (*testdriver.Driver, *testdriver.InputTopic[string, string], *[]string) {
	w := mw(window.Tumbling(10*time.Millisecond, 5*time.Millisecond))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "final", window.UntilWindowCloses[string, int64](5*time.Millisecond, "buffer",
		record.String(), record.Int64(), buf), "count").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
		got = append(got, fmt.Sprintf("%s=%d@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	}), "final")
	b.AddStore(window.TimeWindowStore(store.InMemoryWindow, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.WindowedSuppressionStore(store.InMemoryKeyValue, "buffer", record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{ProcessingHandler: h})
	must(t, err)
	t.Cleanup(func() { d.Close() })
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), &got
}

func TestSuppressionEmitsExactlyOneFinalResultPerWindowAndNoneBeforeItCloses(t *testing.T) {
	_, in, got := suppressTopology(t, window.BufferConfig{}, nil)
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 5)
	pipe(t, in, "b", "x", 9)
	pipe(t, in, "a", "x", 12)
	pipe(t, in, "b", "x", 14) // stream time 14 < 10 + 5: window [0,10) still open
	if len(*got) != 0 {
		t.Fatalf("emitted %v before the window closed", *got)
	}
	pipe(t, in, "a", "x", 15) // stream time 15: [0,10) closes
	if want := "[a@0/10]=2@5 [b@0/10]=1@9"; strings.Join(*got, " ") != want {
		t.Errorf("got %v, want %s", *got, want)
	}
	pipe(t, in, "a", "x", 16)
	pipe(t, in, "a", "x", 3)  // late for [0,10): dropped upstream, nothing new
	pipe(t, in, "c", "x", 25) // closes [10,20)
	want := "[a@0/10]=2@5 [b@0/10]=1@9 [a@10/20]=3@16 [b@10/20]=1@14"
	if strings.Join(*got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(*got, " "), want)
	}
}

func TestFullSuppressionBufferEmitsTheOldestEarlyWhenAskedTo(t *testing.T) {
	_, in, got := suppressTopology(t, window.BufferConfig{MaxRecords: 2, WhenFull: window.EmitEarlyWhenFull}, nil)
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 2)
	pipe(t, in, "c", "x", 3) // a third window: the oldest entry goes out early
	if len(*got) != 1 || !strings.HasPrefix((*got)[0], "[a@0/10]=1") {
		t.Errorf("got %v, want a's window emitted early", *got)
	}
}

func TestFullSuppressionBufferShutsDownWhateverTheHandlerSays(t *testing.T) {
	_, in, got := suppressTopology(t, window.BufferConfig{MaxRecords: 2}, handler.LogAndContinue{})
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 2)
	err := in.Pipe("c", "x", 3)
	if !errors.Is(err, window.ErrBufferFull) {
		t.Errorf("err = %v, want ErrBufferFull even under LogAndContinue", err)
	}
	if len(*got) != 0 {
		t.Errorf("emitted %v", *got)
	}
}

// joinTopology joins left and right streams of strings within ±10 ms,
// grace 5 ms, writing "l+r" (or "l+null", "null+r").
func joinTopology(t *testing.T, kind window.JoinKind) (*testdriver.InputTopic[string, string], *testdriver.InputTopic[string, string], *testdriver.OutputTopic[string, string], *testdriver.Driver) {
	w := mw(window.JoinWithin(10*time.Millisecond, 5*time.Millisecond))
	names := window.JoinStoreNames{Left: "left-buf", Right: "right-buf", Unmatched: "unmatched"}
	left, right := window.Join[string, string, string, string](kind, w, names, func(_ string, l, r *string) string {
		ls, rs := "null", "null"
		if l != nil {
			ls = *l
		}
		if r != nil {
			rs = *r
		}
		return ls + "+" + rs
	}, record.String(), record.String(), record.String())
	b := processor.NewBuilder()
	processor.AddSource(b, "l", record.String(), record.String(), "left")
	processor.AddSource(b, "r", record.String(), record.String(), "right")
	processor.AddProcessor(b, "join-left", left, "l").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddProcessor(b, "join-right", right, "r").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddSink(b, "out", "joined", record.String(), record.String(), "join-left", "join-right")
	for _, sb := range window.JoinStores(store.InMemoryWindow, store.InMemoryKeyValue, names, w, record.String(), record.String(), record.String()) {
		b.AddStore(sb)
	}
	d := driver(t, b)
	return testdriver.CreateInputTopic(d, "left", record.String(), record.String()),
		testdriver.CreateInputTopic(d, "right", record.String(), record.String()),
		testdriver.CreateOutputTopic(d, "joined", record.String(), record.String()), d
}

func read(t *testing.T, out *testdriver.OutputTopic[string, string]) string {
	t.Helper()
	rs, err := out.ReadRecords()
	must(t, err)
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%s:%s@%d", r.Key(), r.Value(), r.Timestamp()))
	}
	return strings.Join(s, " ")
}

func TestInnerJoinMatchesWithinTheWindowOnlyWithTheLaterTimestamp(t *testing.T) {
	l, r, out, _ := joinTopology(t, window.InnerJoin)
	pipe(t, l, "k", "L1", 100)
	pipe(t, r, "k", "R1", 110) // 10 ms later: inside
	pipe(t, r, "k", "R2", 111) // 11 ms later: outside
	pipe(t, r, "x", "R3", 100) // another key
	pipe(t, l, "k", "L2", 105) // pairs with R1 and R2 (both within 10 ms)
	pipe(t, r, "k", "R4", 90)  // 10 ms before L1, 15 before L2: pairs with L1 only
	want := "k:L1+R1@110 k:L2+R1@110 k:L2+R2@111 k:L1+R4@100"
	if got := read(t, out); got != want {
		t.Errorf("got\n %s\nwant\n %s", got, want)
	}
}

func TestLeftJoinEmitsAnUnmatchedRecordOnlyAfterItsWindowCloses(t *testing.T) {
	l, r, out, _ := joinTopology(t, window.LeftJoin)
	pipe(t, l, "k", "L1", 100)
	pipe(t, l, "m", "M1", 101)
	pipe(t, r, "m", "R1", 104) // M1 pairs
	pipe(t, l, "k", "L2", 114) // stream time 114: L1's window closes at 100+10+5=115 < not yet
	if got := read(t, out); got != "m:M1+R1@104" {
		t.Fatalf("before the window closed: %s", got)
	}
	pipe(t, l, "z", "Z1", 116) // stream time 116 > 115: L1 is emitted alone, once
	if got := read(t, out); got != "k:L1+null@100" {
		t.Errorf("after the window closed: %q", got)
	}
	pipe(t, l, "z", "Z2", 140)
	if got := read(t, out); got != "k:L2+null@114 z:Z1+null@116" {
		t.Errorf("later: %q", got)
	}
}

func TestOuterJoinEmitsUnmatchedRecordsOfBothSidesAfterTheirWindows(t *testing.T) {
	l, r, out, _ := joinTopology(t, window.OuterJoin)
	pipe(t, l, "k", "L1", 100)
	pipe(t, r, "q", "R1", 101)
	pipe(t, r, "q", "R2", 200) // closes both windows
	if got := read(t, out); got != "k:L1+null@100 q:null+R1@101" {
		t.Errorf("got %q", got)
	}
}

func TestJoinDropsNullKeysAndValuesAndCountsThem(t *testing.T) {
	l, _, out, d := joinTopology(t, window.LeftJoin)
	rec, _ := record.New("", "v", 1)
	must(t, l.PipeRecord(rec.WithNullKey()))
	must(t, l.PipeRecord(rec.WithKey("k").WithNullValue()))
	if got := read(t, out); got != "" {
		t.Errorf("got %q", got)
	}
	st, _ := d.Stats(0)
	if st.DroppedBy(window.DropNullKey) != 1 || st.DroppedBy(window.DropNullValue) != 1 {
		t.Errorf("drops %v", st.DroppedReasons())
	}
}

func TestStreamTableLookupInnerAndLeft(t *testing.T) {
	for _, inner := range []bool{true, false} {
		t.Run(fmt.Sprintf("inner=%v", inner), func(t *testing.T) {
			b := processor.NewBuilder()
			processor.AddSource(b, "table", record.String(), record.String(), "names")
			processor.AddProcessor(b, "update", window.TableUpdater[string, string]("names"), "table").WithStores("names")
			processor.AddSource(b, "stream", record.String(), record.String(), "orders")
			processor.AddProcessor(b, "enrich", window.Lookup("names", inner, func(k, v string, name *string) string {
				if name == nil {
					return "?:" + v
				}
				return *name + ":" + v
			}), "stream").WithStores("names")
			processor.AddSink(b, "out", "enriched", record.String(), record.String(), "enrich")
			b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("names"), record.String(), record.String()))
			d := driver(t, b)
			names := testdriver.CreateInputTopic(d, "names", record.String(), record.String())
			orders := testdriver.CreateInputTopic(d, "orders", record.String(), record.String())
			out := testdriver.CreateOutputTopic(d, "enriched", record.String(), record.String())
			pipe(t, names, "c1", "Ada", 1)
			pipe(t, orders, "c1", "tea", 2)
			pipe(t, orders, "c2", "cake", 3)
			tomb, _ := record.New("c1", "", 4)
			must(t, names.PipeRecord(tomb.WithNullValue()))
			pipe(t, orders, "c1", "milk", 5)
			want := "c1:Ada:tea@2"
			if !inner {
				want = "c1:Ada:tea@2 c2:?:cake@3 c1:?:milk@5"
			}
			if got := read(t, out); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestWindowDefinitionsRejectBadDurationsClearly(t *testing.T) {
	for name, err := range map[string]error{
		"size":    second(window.Tumbling(0, 0)),
		"advance": second(window.Hopping(10*time.Millisecond, 20*time.Millisecond, 0)),
		// A day over a millisecond: 86.4 million windows per record.
		"windows per record": second(window.Hopping(24*time.Hour, time.Millisecond, 0)),
		"grace":              second(window.Tumbling(time.Second, -time.Second)),
		"gap":                second(window.Sessions(0, 0)),
		"sliding":            second(window.Sliding(0, 0)),
		"join":               second(window.JoinBeforeAfter(-time.Second, 0, 0)),
	} {
		if !errors.Is(err, window.ErrInvalidWindow) {
			t.Errorf("%s: %v, want ErrInvalidWindow", name, err)
		}
	}
}

func second[A any](_ A, err error) error { return err }

func TestHoppingWindowsAllowUpToMaxWindowsPerRecord(t *testing.T) {
	if _, err := window.Hopping(window.MaxWindowsPerRecord*time.Millisecond, time.Millisecond, 0); err != nil {
		t.Errorf("%d windows per record: %v", window.MaxWindowsPerRecord, err)
	}
	if _, err := window.Hopping((window.MaxWindowsPerRecord+1)*time.Millisecond, time.Millisecond, 0); !errors.Is(err, window.ErrInvalidWindow) {
		t.Errorf("%d windows per record: %v, want ErrInvalidWindow", window.MaxWindowsPerRecord+1, err)
	}
}

func TestWindowedSerdesRoundTripAndUnwindowRekeys(t *testing.T) {
	s := window.TimeWindowedSerde(record.String(), 60_000)
	b, err := s.Serialize(make([]byte, 0, 16), window.Windowed[string]{Key: "p1", Start: 120_000, End: 180_000})
	must(t, err)
	w, err := s.Deserialize(b)
	must(t, err)
	if w.String() != "[p1@120000/180000]" {
		t.Errorf("round trip: %s", w)
	}
	ss := window.SessionWindowedSerde(record.String())
	b, err = ss.Serialize(make([]byte, 0, 16), window.Windowed[string]{Key: "u", Start: 5, End: 9})
	must(t, err)
	if w, err := ss.Deserialize(b); err != nil || w.Start != 5 || w.End != 9 || w.Key != "u" {
		t.Errorf("session round trip %v %v", w, err)
	}
	r, _ := record.New(window.Windowed[string]{Key: "p1", Start: 0, End: 10}, int64(3), 7)
	if u := window.Unwindow(r); u.Key() != "p1" || u.Value() != 3 || u.Timestamp() != 7 {
		t.Errorf("Unwindow = %v", u)
	}
}

func TestSessionClosesOnlyOnceStreamTimePassesEndPlusGrace(t *testing.T) {
	w := mw(window.Sessions(5*time.Millisecond, 10*time.Millisecond))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSessions[string, string](w, "sessions"), "in").WithStores("sessions")
	processor.AddProcessor(b, "out", collector[int64]{&got}.supplier(), "count")
	b.AddStore(store.NewSessionBuilder(store.InMemorySession("sessions", w.Retention()), record.String(), record.Int64()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "u", "x", 100)
	pipe(t, in, "x", "x", 110) // stream time 110: u's session [100,100] closes after 100+10
	pipe(t, in, "u", "x", 99)  // merges into [99,100]; end 100 = 110 - grace: still open (inclusive)
	pipe(t, in, "x", "x", 111) // stream time 111
	pipe(t, in, "u", "x", 98)  // would end at 100 < 111 - 10: closed, dropped
	want := "[u@100/100]=<none>->1@100 [x@110/110]=<none>->1@110 [u@100/100]=1-><none>@100 [u@99/100]=<none>->2@100 " +
		"[x@110/110]=1-><none>@110 [x@110/111]=<none>->2@111"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, _ := d.Stats(0)
	if st.DroppedBy(window.DropLate) != 1 {
		t.Errorf("late drops %d, want 1", st.DroppedBy(window.DropLate))
	}
}

func TestReduceInTimeSessionAndSlidingWindowsStartsFromTheFirstValue(t *testing.T) {
	maxOf := func(a, b int64) int64 { return max(a, b) }
	tw := mw(window.Tumbling(10*time.Millisecond, 0))
	sw := mw(window.Sessions(5*time.Millisecond, 0))
	lw := mw(window.Sliding(10*time.Millisecond, 0))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "time", window.Reduce[string](tw, "t", maxOf), "in").WithStores("t")
	processor.AddProcessor(b, "session", window.ReduceSessions[string](sw, "s", maxOf), "in").WithStores("s")
	processor.AddProcessor(b, "sliding", window.ReduceSliding[string](lw, "l", maxOf), "in").WithStores("l")
	for _, n := range []string{"time", "session", "sliding"} {
		name := n
		processor.AddProcessor(b, name+"-out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], window.Change[int64]]) error {
			got = append(got, fmt.Sprintf("%s:%s=%v", name, r.Key(), r.Value()))
			return nil
		}), name)
	}
	b.AddStore(store.NewWindowBuilder(store.InMemoryWindow("t", tw.Retention(), 10*time.Millisecond, false), record.String(), store.TimestampedSerde(record.Int64())))
	b.AddStore(store.NewSessionBuilder(store.InMemorySession("s", sw.Retention()), record.String(), record.Int64()))
	b.AddStore(store.NewWindowBuilder(store.InMemoryWindow("l", lw.Retention(), 10*time.Millisecond, false), record.String(), store.TimestampedSerde(record.Int64())))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	// The sliding left window of the second record starts from the first
	// record's window, so Kafka Streams forwards that aggregate as its old
	// value: 7->7.
	must(t, in.Pipe("k", 7, 20))
	must(t, in.Pipe("k", 3, 22))
	want := "time:[k@20/30]=<none>->7 session:[k@20/20]=<none>->7 sliding:[k@10/20]=<none>->7 " +
		"time:[k@20/30]=7->7 session:[k@20/20]=7-><none> session:[k@20/22]=<none>->7 sliding:[k@21/31]=<none>->3 sliding:[k@12/22]=7->7"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}

func TestGlobalTableLookupByAKeyDerivedFromTheRecord(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("countries"), record.String(), record.String()),
		"countries", record.String(), record.String())
	processor.AddSource(b, "visits", record.String(), record.String(), "visits") // key: user, value: country code
	processor.AddProcessor(b, "name", window.LookupBy("countries", false, func(_ string, code string) (string, bool) { return code, code != "" },
		func(user, code string, country *string) string {
			if country == nil {
				return user + " from " + code
			}
			return user + " from " + *country
		}), "visits")
	processor.AddSink(b, "out", "named", record.String(), record.String(), "name")
	d := driver(t, b)
	pipe(t, testdriver.CreateInputTopic(d, "countries", record.String(), record.String()), "fr", "France", 1)
	visits := testdriver.CreateInputTopic(d, "visits", record.String(), record.String())
	pipe(t, visits, "ada", "fr", 2)
	pipe(t, visits, "ken", "xx", 3)
	out := testdriver.CreateOutputTopic(d, "named", record.String(), record.String())
	if got := read(t, out); got != "ada:ada from France@2 ken:ken from xx@3" {
		t.Errorf("got %q", got)
	}
}
