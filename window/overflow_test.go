package window_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

// Windowed processors fed records at 0 and near math.MaxInt64, through the
// test driver with both store backends. Every timestamp up to MaxInt64 is
// valid; each test must give Kafka Streams' result (with window ends
// clamped at MaxInt64) or a counted drop, and finish at once.

const maxTS = int64(math.MaxInt64)

// maxDur is the largest time.Duration.
const maxDur = time.Duration(math.MaxInt64)

// timeBackends are the backends the tests run on; rocksdb_backends_test.go
// adds RocksDB when cgo is on.
var timeBackends = []struct {
	name     string
	windows  window.WindowBackend
	sessions window.SessionBackend
	kv       window.KeyValueBackend
}{
	{"memory", store.InMemoryWindow, store.InMemorySession, store.InMemoryKeyValue},
}

// bounded runs fn and ends the test binary if it has not returned after 10
// s: overflowing window arithmetic loops without end, appending until the
// machine runs out of memory, so the process must stop, not just the test.
// The panic comes from the timer's goroutine, which ends the process at
// once (a panic in the test goroutine would wait for cleanups that need
// the looping task).
func bounded(t testing.TB, what string, fn func() error) {
	t.Helper()
	name := t.Name()
	timer := time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("%s: %s did not finish within 10s (runaway time arithmetic)", name, what))
	})
	err := fn()
	timer.Stop()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// pipeAll pipes key k with value v at each timestamp, under bounded.
func pipeAll(t *testing.T, in *testdriver.InputTopic[string, string], k string, tss ...int64) {
	t.Helper()
	bounded(t, fmt.Sprintf("piping %s at %v", k, tss), func() error {
		for _, ts := range tss {
			if err := in.Pipe(k, "x", ts); err != nil {
				return fmt.Errorf("at %d: %w", ts, err)
			}
		}
		return nil
	})
}

func wantDrops(t *testing.T, d *testdriver.Driver, want map[string]int64) {
	t.Helper()
	st, err := d.Stats(0)
	must(t, err)
	got := st.DroppedReasons()
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("drops %q = %d, want %d (all drops: %v)", reason, got[reason], n, got)
		}
	}
	for reason, n := range got {
		if _, ok := want[reason]; !ok && n != 0 {
			t.Errorf("unexpected drops %q = %d", reason, n)
		}
	}
}

func TestStartsForAtTheInt64Bounds(t *testing.T) {
	for _, tc := range []struct {
		size, advance time.Duration
		ts            int64
		want          string
	}{
		{10 * time.Millisecond, 10 * time.Millisecond, 0, "[0]"},
		{10 * time.Millisecond, 10 * time.Millisecond, 1, "[0]"},
		{10 * time.Millisecond, 10 * time.Millisecond, -1, "[]"},
		{10 * time.Millisecond, 10 * time.Millisecond, maxTS - 1, "[9223372036854775800]"},
		{10 * time.Millisecond, 10 * time.Millisecond, maxTS, "[]"}, // its window [..800, ..810) ends past MaxInt64
		{20 * time.Millisecond, 5 * time.Millisecond, maxTS - 1,
			"[9223372036854775790 9223372036854775795 9223372036854775800 9223372036854775805]"},
		{20 * time.Millisecond, 5 * time.Millisecond, maxTS - 5000,
			"[9223372036854770790 9223372036854770795 9223372036854770800 9223372036854770805]"},
		{20 * time.Millisecond, 5 * time.Millisecond, maxTS, "[]"},
		{maxDur, maxDur, maxTS - 1, "[9223372036854000000]"},
		{maxDur, maxDur, 0, "[0]"},
		{maxDur, maxDur / 4, maxTS - 1,
			"[9223365119322972361 9223367425165981574 9223369731008990787 9223372036852000000]"}, // advance 2305843009213 ms
		{time.Millisecond, time.Millisecond, maxTS - 1, "[9223372036854775806]"},
	} {
		w := mw(window.Hopping(tc.size, tc.advance, 0))
		var got []int64
		bounded(t, fmt.Sprintf("StartsFor(%d)", tc.ts), func() error {
			got = w.StartsFor(nil, tc.ts)
			return nil
		})
		if fmt.Sprint(got) != tc.want {
			t.Errorf("Hopping(%v, %v).StartsFor(%d) = %v, want %s", tc.size, tc.advance, tc.ts, got, tc.want)
		}
	}
	w := mw(window.Tumbling(10*time.Millisecond, 0))
	if w.End(9223372036854775800) != maxTS || w.End(9223372036854775790) != 9223372036854775800 {
		t.Errorf("End clamps at MaxInt64 only past it: %d %d", w.End(9223372036854775800), w.End(9223372036854775790))
	}
}

func TestWindowDefinitionsWithTheLargestDurationsKeepTheLargestRetention(t *testing.T) {
	for name, got := range map[string]time.Duration{
		"tumbling": mw(window.Tumbling(maxDur, maxDur)).Retention(),
		"hopping":  mw(window.Hopping(maxDur, maxDur/10, maxDur)).Retention(),
		"session":  mw(window.Sessions(maxDur, maxDur)).Retention(),
		"sliding":  mw(window.Sliding(maxDur, maxDur)).Retention(),
		"join":     mw(window.JoinBeforeAfter(maxDur, maxDur, maxDur)).Retention(),
	} {
		if got != maxDur {
			t.Errorf("%s: retention %v, want the largest Duration (size + grace does not fit in nanoseconds)", name, got)
		}
	}
	if got := mw(window.Tumbling(time.Hour, time.Minute)).Retention(); got != time.Hour+time.Minute {
		t.Errorf("a normal retention changed: %v", got)
	}
}

// changesTopology aggregates with sup over a store from sb and collects
// every forwarded change as text.
func changesTopology[V any](t *testing.T, sup processor.Supplier[string, string, window.Windowed[string], window.Change[V]], sb store.Builder) (*testdriver.Driver, *testdriver.InputTopic[string, string], *[]string) {
	t.Helper()
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "agg", sup, "in").WithStores(sb.Name())
	processor.AddProcessor(b, "out", collector[V]{&got}.supplier(), "agg")
	b.AddStore(sb)
	d := driver(t, b)
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), &got
}

func TestTumblingWindowAtMaxTimestampIsDroppedAndCounted(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.Tumbling(time.Second, 0))
			d, in, got := changesTopology(t, window.Count[string, string](w, "counts"),
				window.TimeWindowStore(be.windows, "counts", w, record.String(), record.Int64()))
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1, maxTS)
			want := "[a@0/1000]=<none>->1@0 " +
				"[a@9223372036854770000/9223372036854771000]=<none>->1@9223372036854770807 " +
				// [..775000, ..776000) would end past MaxInt64: it ends there.
				"[a@9223372036854775000/9223372036854775807]=<none>->1@9223372036854775806"
			if strings.Join(*got, " ") != want {
				t.Errorf("got\n %s\nwant\n %s", strings.Join(*got, " "), want)
			}
			wantDrops(t, d, map[string]int64{window.DropTimestampOutOfRange: 1})
		})
	}
}

func TestHoppingWindowsNearMaxInt64EndThereAndOnlyMaxInt64IsDropped(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.Hopping(10*time.Second, 5*time.Second, 0))
			d, in, got := changesTopology(t, window.Count[string, string](w, "counts"),
				window.TimeWindowStore(be.windows, "counts", w, record.String(), record.Int64()))
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1, maxTS)
			want := "[a@0/10000]=<none>->1@0 " +
				"[a@9223372036854765000/9223372036854775000]=<none>->1@9223372036854770807 " +
				"[a@9223372036854770000/9223372036854775807]=<none>->1@9223372036854770807 " +
				"[a@9223372036854770000/9223372036854775807]=1->2@9223372036854775806 " +
				"[a@9223372036854775000/9223372036854775807]=<none>->1@9223372036854775806"
			if strings.Join(*got, " ") != want {
				t.Errorf("got\n %s\nwant\n %s", strings.Join(*got, " "), want)
			}
			wantDrops(t, d, map[string]int64{window.DropTimestampOutOfRange: 1})
		})
	}
}

func TestSessionNearMaxInt64MergesRecordsWithinTheGapUpToMaxInt64(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.Sessions(10*time.Second, 0))
			d, in, got := changesTopology(t, window.CountSessions[string, string](w, "sessions"),
				window.SessionStore(be.sessions, "sessions", w, record.String(), record.Int64()))
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1, maxTS)
			want := "[a@0/0]=<none>->1@0 " +
				"[a@9223372036854770807/9223372036854770807]=<none>->1@9223372036854770807 " +
				"[a@9223372036854770807/9223372036854770807]=1-><none>@9223372036854770807 " +
				"[a@9223372036854770807/9223372036854775806]=<none>->2@9223372036854775806 " +
				"[a@9223372036854770807/9223372036854775806]=2-><none>@9223372036854775806 " +
				"[a@9223372036854770807/9223372036854775807]=<none>->3@9223372036854775807"
			if strings.Join(*got, " ") != want {
				t.Errorf("got\n %s\nwant\n %s", strings.Join(*got, " "), want)
			}
			wantDrops(t, d, map[string]int64{})
		})
	}
}

// lastPerWindow keeps the last change forwarded per window ("[k@s/e]").
func lastPerWindow(changes []string) string {
	last := map[string]string{}
	for _, c := range changes {
		k, v, _ := strings.Cut(c, "=")
		last[k] = v[strings.Index(v, "->")+2:]
	}
	var out []string
	for k, v := range last {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestSlidingWindowsNearMaxInt64AreNotLateAndEndAtMaxInt64(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.Sliding(10*time.Second, 0))
			d, in, got := changesTopology(t, window.CountSliding[string, string](w, "sliding"),
				window.SlidingWindowStore(be.windows, "sliding", w, record.String(), record.Int64()))
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1, maxTS)
			// Kafka Streams' windows for records at t1 = MaxInt64-5000, t2 =
			// MaxInt64-1, t3 = MaxInt64 (d = 10 s): the left windows
			// [t-d, t], t1's right window [t1+1, t1+1+d] and t2's right window
			// [t2+1, t2+1+d], both ending at MaxInt64; t3 has no right window.
			want := "[a@0/10000]=1@0 " +
				"[a@9223372036854760807/9223372036854770807]=1@9223372036854770807 " +
				"[a@9223372036854765806/9223372036854775806]=2@9223372036854775806 " +
				"[a@9223372036854765807/9223372036854775807]=3@9223372036854775807 " +
				"[a@9223372036854770808/9223372036854775807]=2@9223372036854775807 " +
				"[a@9223372036854775807/9223372036854775807]=1@9223372036854775807"
			if g := lastPerWindow(*got); g != want {
				t.Errorf("got\n %s\nwant\n %s\n(all changes: %v)", g, want, *got)
			}
			wantDrops(t, d, map[string]int64{})
		})
	}
}

// finalsTopology counts in w and suppresses until windows close (grace g),
// collecting the final results.
func finalsTopology(t *testing.T, windows window.WindowBackend, kv window.KeyValueBackend, w window.TimeWindows, g time.Duration) (*testdriver.Driver, *testdriver.InputTopic[string, string], *[]string) {
	t.Helper()
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "final", window.UntilWindowCloses[string, int64](g, "buffer",
		record.String(), record.Int64(), window.BufferConfig{}), "count").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
		got = append(got, fmt.Sprintf("%s=%d@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	}), "final")
	b.AddStore(window.TimeWindowStore(windows, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.WindowedSuppressionStore(kv, "buffer", record.String(), record.Int64()))
	d := driver(t, b)
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), &got
}

func TestSuppressionNearMaxInt64EmitsEachClosedWindowOnce(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.Tumbling(time.Second, 0))
			d, in, got := finalsTopology(t, be.windows, be.kv, w, 0)
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1, maxTS)
			// [0,1000) closes at MaxInt64-5000, [..770000, ..771000) at
			// MaxInt64-1; the window ending at (clamped) MaxInt64 is due at
			// stream time MaxInt64, which the count never passes on: the
			// record at MaxInt64 has no window.
			want := "[a@0/1000]=1@0 [a@9223372036854770000/9223372036854771000]=1@9223372036854770807"
			if strings.Join(*got, " ") != want {
				t.Errorf("got\n %s\nwant\n %s", strings.Join(*got, " "), want)
			}
			wantDrops(t, d, map[string]int64{window.DropTimestampOutOfRange: 1})
		})
	}
}

func TestSuppressionDropsAndCountsAWindowThatCanNeverClose(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			// Grace 1 s: the window ending at MaxInt64 would close at
			// MaxInt64 + 1 s, so its update can never come out as final.
			w := mw(window.Tumbling(time.Second, time.Second))
			d, in, got := finalsTopology(t, be.windows, be.kv, w, time.Second)
			pipeAll(t, in, "a", 0, maxTS-5000, maxTS-1)
			if want := "[a@0/1000]=1@0 [a@9223372036854770000/9223372036854771000]=1@9223372036854770807"; strings.Join(*got, " ") != want {
				t.Errorf("got %v, want %s", *got, want)
			}
			wantDrops(t, d, map[string]int64{window.DropSuppressionDueOutOfRange: 1})
		})
	}
}

func TestSessionSuppressionEmitsASessionDueExactlyAtMaxInt64(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			sw := mw(window.Sessions(time.Millisecond, 0))
			var got []string
			b := processor.NewBuilder()
			processor.AddSource(b, "in", record.String(), record.String(), "in")
			processor.AddProcessor(b, "count", window.CountSessions[string, string](sw, "sessions"), "in").WithStores("sessions")
			processor.AddProcessor(b, "final", window.UntilSessionCloses[string, int64](0, "buffer",
				record.String(), record.Int64(), window.BufferConfig{}), "count").WithStores("buffer")
			processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
				got = append(got, fmt.Sprintf("%s=%d@%d", r.Key(), r.Value(), r.Timestamp()))
				return nil
			}), "final")
			b.AddStore(window.SessionStore(be.sessions, "sessions", sw, record.String(), record.Int64()))
			b.AddStore(window.WindowedSuppressionStore(be.kv, "buffer", record.String(), record.Int64()))
			d := driver(t, b)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
			// Session [MaxInt64-1, MaxInt64-1] closes once stream time passes
			// its end: at MaxInt64, its due time. The session at MaxInt64
			// itself would close past MaxInt64: it is never final.
			pipeAll(t, in, "a", maxTS-1)
			pipeAll(t, in, "b", maxTS)
			if want := "[a@9223372036854775806/9223372036854775806]=1@9223372036854775806"; strings.Join(got, " ") != want {
				t.Errorf("got %v, want %s", got, want)
			}
			wantDrops(t, d, map[string]int64{window.DropSuppressionDueOutOfRange: 1})
		})
	}
}

func TestUntilTimeLimitNearMaxInt64EmitsOnceTheLimitPassesAndDropsWhatCannotPass(t *testing.T) {
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "change", processor.Func(func(ctx processor.Context[string, window.Change[string]], r record.Record[string, string]) error {
		return ctx.Forward(record.WithValue(r, window.Change[string]{New: r.Value(), HasNew: true}))
	}), "in")
	processor.AddProcessor(b, "limit", window.UntilTimeLimit[string, string](time.Second, "buffer", record.String(), record.String(),
		window.BufferConfig{}), "change").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	}), "limit")
	b.AddStore(window.SuppressionStore(store.InMemoryKeyValue, "buffer", record.String(), record.String()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipeAll(t, in, "a", maxTS-1000) // due exactly at MaxInt64
	pipeAll(t, in, "b", maxTS-999)  // due past MaxInt64: never
	pipeAll(t, in, "c", maxTS)
	if want := "a=x@9223372036854774807"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	wantDrops(t, d, map[string]int64{window.DropSuppressionDueOutOfRange: 2})
}

// joinOver joins left and right within ±10 s (grace 0) as kind, on be's
// stores, writing "l+r".
func joinOver(t *testing.T, kind window.JoinKind, w window.JoinWindows, windows window.WindowBackend, kv window.KeyValueBackend) (*testdriver.InputTopic[string, string], *testdriver.InputTopic[string, string], *testdriver.OutputTopic[string, string], *testdriver.Driver) {
	t.Helper()
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
	for _, sb := range window.JoinStores(windows, kv, names, w, record.String(), record.String(), record.String()) {
		b.AddStore(sb)
	}
	d := driver(t, b)
	return testdriver.CreateInputTopic(d, "left", record.String(), record.String()),
		testdriver.CreateInputTopic(d, "right", record.String(), record.String()),
		testdriver.CreateOutputTopic(d, "joined", record.String(), record.String()), d
}

func pipeOne(t *testing.T, in *testdriver.InputTopic[string, string], k, v string, ts int64) {
	t.Helper()
	bounded(t, fmt.Sprintf("piping %s=%s@%d", k, v, ts), func() error { return in.Pipe(k, v, ts) })
}

func TestStreamStreamJoinNearMaxInt64PairsAndEmitsUnmatchedOnlyOnceClosed(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			l, r, out, d := joinOver(t, window.OuterJoin, mw(window.JoinWithin(10*time.Second, 0)), be.windows, be.kv)
			pipeOne(t, l, "k", "L0", 0)
			pipeOne(t, l, "k", "L1", maxTS-5000) // closes L0's window; L1's closes past MaxInt64-5000+10000
			if got := read(t, out); got != "k:L0+null@0" {
				t.Fatalf("after L1: %q, want only L0 alone (L1's window is open)", got)
			}
			pipeOne(t, r, "k", "R1", maxTS-1) // 4999 ms after L1
			if got := read(t, out); got != "k:L1+R1@9223372036854775806" {
				t.Fatalf("after R1: %q", got)
			}
			pipeOne(t, l, "k", "L2", maxTS) // 1 ms after R1
			pipeOne(t, r, "k", "R2", maxTS) // pairs with L2, and with L1? 5000 ms: yes
			if got, want := read(t, out), "k:L2+R1@9223372036854775807 k:L1+R2@9223372036854775807 k:L2+R2@9223372036854775807"; got != want {
				t.Errorf("at MaxInt64:\n got %s\nwant %s", got, want)
			}
			wantDrops(t, d, map[string]int64{})
		})
	}
}

func TestStreamStreamJoinWithTheLargestWindowsPairsAcrossTheTimeRange(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			w := mw(window.JoinBeforeAfter(maxDur, maxDur, maxDur))
			l, r, out, d := joinOver(t, window.LeftJoin, w, be.windows, be.kv)
			const far = 9_223_372_036_854 // the largest Duration in ms
			pipeOne(t, l, "k", "L0", 0)
			pipeOne(t, r, "k", "R0", far) // exactly `after` later: pairs
			pipeOne(t, l, "k", "L1", maxTS-far)
			pipeOne(t, r, "k", "R1", maxTS) // pairs with L1 only
			pipeOne(t, l, "k", "L2", maxTS) // pairs with R1; nothing closes
			want := "k:L0+R0@9223372036854 k:L1+R1@9223372036854775807 k:L2+R1@9223372036854775807"
			if got := read(t, out); got != want {
				t.Errorf("got\n %s\nwant\n %s", got, want)
			}
			wantDrops(t, d, map[string]int64{})
		})
	}
}

func TestTimeAggregateRejectsAZeroWindowDefinitionAtInit(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](window.TimeWindows{}, "counts"), "in").WithStores("counts")
	b.AddStore(store.NewWindowBuilder(store.InMemoryWindow("counts", time.Second, time.Second, false),
		record.String(), store.TimestampedSerde(record.Int64())))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{})
	if err == nil {
		d.Close()
		t.Fatal("a zero TimeWindows started; every record would divide by a zero advance")
	}
	if !strings.Contains(err.Error(), "invalid definition") {
		t.Errorf("err = %v, want one naming the invalid window definition", err)
	}
}
