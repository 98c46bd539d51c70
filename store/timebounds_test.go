package store_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Window and session stores at the ends of the int64 time range, through
// both backends (cached and not): every timestamp is valid, up to MaxInt64.

const maxTS = int64(math.MaxInt64)

// timeBackends are the backends the tests run on; rocksdb_backends_test.go
// adds RocksDB when cgo is on.
var timeBackends = []struct {
	name    string
	window  func(string, time.Duration, time.Duration, bool) store.WindowBytesSupplier
	session func(string, time.Duration) store.SessionBytesSupplier
}{
	{"memory", store.InMemoryWindow, store.InMemorySession},
}

// withinDeadline runs fn and kills the test binary if it does not return
// in time: a store loop that steps past MaxInt64 never ends, holding the
// store's lock, so not even the test's cleanup could run. The panic comes
// from the timer's own goroutine, which ends the process at once.
func withinDeadline(t *testing.T, what string, fn func()) {
	t.Helper()
	name := t.Name()
	timer := time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("%s: %s did not return within 10s (a time loop that never ends?)", name, what))
	})
	defer timer.Stop()
	fn()
}

func openBuilt[S store.StateStore](t *testing.T, b store.Builder, dir string) S {
	t.Helper()
	st, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(store.InitContext{TaskID: "0_0", ApplicationID: "bounds", StateDir: dir,
		Logger: zap.NewNop(), Cache: store.NewCache(1 << 20)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(S)
}

// windowsText drains an iterator of windows into "[key@start/end]=value"
// words (or the error).
func windowsText[V any](it store.Iterator[store.Windowed[string], V], err error) string {
	d := drain(it, err)
	if d.err != nil {
		return "error: " + d.err.Error()
	}
	var out []string
	for _, kv := range d.kvs {
		out = append(out, fmt.Sprintf("%s=%v", kv.Key, kv.Value))
	}
	return strings.Join(out, " ")
}

// startsText drains an iterator of window starts into "start=value" words.
func startsText[V any](it store.Iterator[int64, V], err error) string {
	d := drain(it, err)
	if d.err != nil {
		return "error: " + d.err.Error()
	}
	var out []string
	for _, kv := range d.kvs {
		out = append(out, fmt.Sprintf("%d=%v", kv.Key, kv.Value))
	}
	return strings.Join(out, " ")
}

func TestWindowStoreAtMaxTimestampClampsEndsAndExpiresByRetention(t *testing.T) {
	for _, be := range timeBackends {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", be.name, cached), func(t *testing.T) {
				b := store.NewWindowBuilder(be.window("w", 10*time.Second, time.Second, false), record.String(), record.Int64())
				if cached {
					b.WithCaching()
				}
				s := openBuilt[store.WindowStore[string, int64]](t, b, t.TempDir())
				for i, ts := range []int64{0, maxTS - 5000, maxTS - 1, maxTS} {
					must(t, s.Put("a", int64(i+1), ts))
				}
				must(t, s.Flush())
				if s.ObservedStreamTime() != maxTS {
					t.Errorf("observed %d, want MaxInt64", s.ObservedStreamTime())
				}
				if v, ok, err := s.Fetch("a", maxTS); err != nil || !ok || v != 4 {
					t.Errorf("Fetch(MaxInt64) = %d %v %v", v, ok, err)
				}
				// Window 0 is far past the 10 s retention; the last three are live,
				// and the two that would end past MaxInt64 end there.
				want := "[a@9223372036854770807/9223372036854771807]=2 [a@9223372036854775806/9223372036854775807]=3 " +
					"[a@9223372036854775807/9223372036854775807]=4"
				var got string
				withinDeadline(t, "All", func() { got = windowsText(s.All()) })
				if got != want {
					t.Errorf("All:\n got %s\nwant %s", got, want)
				}
				withinDeadline(t, "FetchAll", func() { got = windowsText(s.FetchAll(maxTS-1, maxTS)) })
				if want := "[a@9223372036854775806/9223372036854775807]=3 [a@9223372036854775807/9223372036854775807]=4"; got != want {
					t.Errorf("FetchAll(MaxInt64-1, MaxInt64):\n got %s\nwant %s", got, want)
				}
				withinDeadline(t, "BackwardFetchRange", func() { got = startsText(s.BackwardFetchRange("a", math.MinInt64, maxTS)) })
				if want := "9223372036854775807=4 9223372036854775806=3 9223372036854770807=2"; got != want {
					t.Errorf("BackwardFetchRange over all time:\n got %s\nwant %s", got, want)
				}
				must(t, s.Put("a", 9, 0)) // long expired
				must(t, s.Flush())
				if s.ExpiredDrops() != 1 {
					t.Errorf("ExpiredDrops = %d, want 1", s.ExpiredDrops())
				}
			})
		}
	}
}

func TestWindowStoreWithOneMillisecondSegmentsFetchesUpToMaxInt64(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			sup := be.window("w", 10*time.Millisecond, time.Millisecond, false)
			sup.SegmentInterval = time.Millisecond // segment ids equal times: the last one is MaxInt64
			s := openBuilt[store.WindowStore[string, int64]](t, store.NewWindowBuilder(sup, record.String(), record.Int64()), t.TempDir())
			must(t, s.Put("a", 1, maxTS-1))
			must(t, s.Put("a", 2, maxTS))
			var got string
			withinDeadline(t, "FetchRange to MaxInt64", func() { got = startsText(s.FetchRange("a", maxTS-1, maxTS)) })
			if want := "9223372036854775806=1 9223372036854775807=2"; got != want {
				t.Errorf("FetchRange(MaxInt64-1, MaxInt64) = %s, want %s", got, want)
			}
		})
	}
}

func TestWindowsAtMinInt64SurviveABatchedFlushAndAReopen(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			dir := t.TempDir()
			build := func() store.WindowStore[string, int64] {
				return openBuilt[store.WindowStore[string, int64]](t,
					store.NewWindowBuilder(be.window("w", time.Hour, time.Minute, false), record.String(), record.Int64()).WithCaching(), dir)
			}
			// The segment holding MinInt64 starts below it (1 min does not
			// divide 2^63): its start and name must not wrap around.
			want := []struct {
				k     string
				start int64
				v     int64
			}{{"a", math.MinInt64, 1}, {"b", math.MinInt64 + 1, 2}}
			check := func(when string, s store.WindowStore[string, int64]) {
				t.Helper()
				for _, w := range want {
					if v, ok, err := s.Fetch(w.k, w.start); err != nil || !ok || v != w.v {
						t.Errorf("%s: Fetch(%s, %d) = %d %v %v; want %d", when, w.k, w.start, v, ok, err, w.v)
					}
				}
			}
			s := build()
			for _, w := range want {
				must(t, s.Put(w.k, w.v, w.start))
			}
			must(t, s.Flush()) // the cache writes both in one batch
			check("after the flush", s)
			if !s.Persistent() {
				return
			}
			must(t, s.Close())
			check("after reopening", build())
		})
	}
}

func TestRetentionLongerThanEveryTimestampKeepsEveryWindowAndSession(t *testing.T) {
	for _, be := range timeBackends {
		t.Run(be.name, func(t *testing.T) {
			forever := time.Duration(math.MaxInt64)
			w := openBuilt[store.WindowStore[string, int64]](t,
				store.NewWindowBuilder(be.window("w", forever, forever, false), record.String(), record.Int64()), t.TempDir())
			// Retention 9223372036854 ms: with observed time 9223372036853 the
			// oldest live start is 9223372036853 - retention + 1 = 0.
			for i, ts := range []int64{0, 1, 9_223_372_036_853} {
				must(t, w.Put("a", int64(i), ts))
			}
			if got, want := windowsText(w.All()),
				"[a@0/9223372036854]=0 [a@1/9223372036855]=1 [a@9223372036853/18446744073707]=2"; got != want {
				t.Errorf("window store:\n got %s\nwant %s", got, want)
			}
			must(t, w.Put("a", 3, 9_223_372_036_854)) // now window 0 is exactly one retention old
			if got, want := windowsText(w.FetchAll(0, 1)), "[a@1/9223372036855]=1"; got != want {
				t.Errorf("window store after time passed the retention: got %s, want %s", got, want)
			}
			s := openBuilt[store.SessionStore[string, int64]](t,
				store.NewSessionBuilder(be.session("s", forever), record.String(), record.Int64()), t.TempDir())
			must(t, s.Put(store.Windowed[string]{Key: "a", Start: 0, End: 0}, 1))
			must(t, s.Put(store.Windowed[string]{Key: "a", Start: 5, End: 9_000_000_000_000}, 2))
			if got, want := windowsText(s.Fetch("a")), "[a@0/0]=1 [a@5/9000000000000]=2"; got != want {
				t.Errorf("session store:\n got %s\nwant %s", got, want)
			}
			must(t, s.Put(store.Windowed[string]{Key: "a", Start: maxTS, End: maxTS}, 3))
			if got, want := windowsText(s.Fetch("a")), "[a@9223372036854775807/9223372036854775807]=3"; got != want {
				t.Errorf("session store at MaxInt64 (a retention back is far past both): got %s, want %s", got, want)
			}
		})
	}
}

func TestSessionStoreFindsSessionsEndingAtMaxInt64(t *testing.T) {
	for _, be := range timeBackends {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", be.name, cached), func(t *testing.T) {
				b := store.NewSessionBuilder(be.session("s", 10*time.Second), record.String(), record.Int64())
				if cached {
					b.WithCaching()
				}
				s := openBuilt[store.SessionStore[string, int64]](t, b, t.TempDir())
				must(t, s.Put(store.Windowed[string]{Key: "a", Start: 0, End: 10}, 1))
				must(t, s.Put(store.Windowed[string]{Key: "a", Start: maxTS - 5000, End: maxTS - 1}, 2))
				must(t, s.Put(store.Windowed[string]{Key: "a", Start: maxTS, End: maxTS}, 3))
				must(t, s.Flush())
				var got string
				withinDeadline(t, "FindSessions", func() { got = windowsText(s.FindSessions("a", maxTS-1, maxTS)) })
				want := "[a@9223372036854770807/9223372036854775806]=2 [a@9223372036854775807/9223372036854775807]=3"
				if got != want {
					t.Errorf("FindSessions(MaxInt64-1, MaxInt64):\n got %s\nwant %s", got, want)
				}
				if v, ok, err := s.FetchSession("a", 0, 10); err != nil || ok {
					t.Errorf("session [0,10] is long expired, got %d %v %v", v, ok, err)
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
