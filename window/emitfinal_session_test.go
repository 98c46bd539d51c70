package window_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

// sessionFinalTopology counts in sessions of gap 5 ms with grace 10 ms,
// emitting final counts only, with the given backends; stateDir "" is a
// temporary one.
func sessionFinalTopology(t *testing.T, sb window.SessionBackend, kb window.KeyValueBackend, stateDir string, got *[]string) (*testdriver.Driver, *testdriver.InputTopic[string, string]) {
	t.Helper()
	return sessionFinalTopologyOf(t, mw(window.Sessions(5*time.Millisecond, 10*time.Millisecond)), sb, kb, stateDir, got)
}

func sessionFinalTopologyOf(t *testing.T, w window.SessionWindows, sb window.SessionBackend, kb window.KeyValueBackend, stateDir string, got *[]string) (*testdriver.Driver, *testdriver.InputTopic[string, string]) {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSessionsFinal[string, string](w, "counts", "counts-emit"), "in").
		WithStores("counts", "counts-emit")
	processor.AddProcessor(b, "out", collector[int64]{got}.supplier(), "count")
	b.AddStore(window.SessionStore(sb, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.EmitWatermarkStore(kb, "counts-emit"))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{StateDir: stateDir})
	must(t, err)
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String())
}

func TestSessionEmitFinalForwardsOneFinalPerClosedSessionAndNoneForMergedAwayOnes(t *testing.T) {
	var got []string
	d, in := sessionFinalTopology(t, store.InMemorySession, nil, "", &got)
	defer d.Close()
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 4) // a [1,4]
	pipe(t, in, "b", "x", 3) // b [3,3]
	pipe(t, in, "a", "x", 12)
	pipe(t, in, "a", "x", 8) // merges a [1,4] and [12,12] into [1,12]
	if len(got) != 0 {
		t.Fatalf("emitted %v before any session closed", got)
	}
	pipe(t, in, "c", "x", 13) // stream time 13 = 3 + 10: b [3,3] still open
	if len(got) != 0 {
		t.Fatalf("emitted %v at stream time end + grace", got)
	}
	pipe(t, in, "c", "x", 14) // b [3,3] closes
	if want := "[b@3/3]=<none>->1@3"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	pipe(t, in, "c", "x", 23) // a [1,12] closes
	pipe(t, in, "a", "x", 2)  // late: a [1,12] was emitted
	pipe(t, in, "d", "x", 100)
	want := "[b@3/3]=<none>->1@3 [a@1/12]=<none>->4@12 [c@13/14]=<none>->2@14 [c@23/23]=<none>->1@23"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if n := st.DroppedBy(window.DropLate); n != 1 {
		t.Errorf("%d late drops, want 1", n)
	}
}

// Session emit-final gives the finals count-then-suppress does, without
// the tombstones of merged-away sessions.
func TestSessionEmitFinalMatchesCountThenSuppressLessMergedAwaySessions(t *testing.T) {
	var finals []string
	d, in := sessionFinalTopology(t, store.InMemorySession, nil, "", &finals)
	defer d.Close()

	w := mw(window.Sessions(5*time.Millisecond, 10*time.Millisecond))
	var suppressed []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSessions[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "final", window.UntilSessionCloses[string, int64](10*time.Millisecond, "buffer",
		record.String(), record.Int64(), window.Unbounded()), "count").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
		if !r.ValueIsNull() {
			suppressed = append(suppressed, fmt.Sprintf("%s=%d@%d", r.Key(), r.Value(), r.Timestamp()))
		}
		return nil
	}), "final")
	b.AddStore(window.SessionStore(store.InMemorySession, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.WindowedSuppressionStore(store.InMemoryKeyValue, "buffer", record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	sd, err := testdriver.New(topo, testdriver.Config{})
	must(t, err)
	defer sd.Close()
	sin := testdriver.CreateInputTopic(sd, "in", record.String(), record.String())

	for i, ts := range []int64{3, 7, 11, 2, 14, 19, 26, 21, 40, 33, 58, 45, 47, 60, 75, 71, 100, 130} {
		k := fmt.Sprint("k", i%3)
		pipe(t, in, k, "x", ts)
		pipe(t, sin, k, "x", ts)
	}
	var f []string
	for _, s := range finals {
		f = append(f, strings.Replace(s, "=<none>->", "=", 1))
	}
	if len(f) == 0 || strings.Join(f, " ") != strings.Join(suppressed, " ") {
		t.Errorf("emit-final\n %s\ncount + suppress\n %s", strings.Join(f, " "), strings.Join(suppressed, " "))
	}
}

// With a gap longer than the grace, a record that is not late can still
// fall within the gap of a closed, emitted session: as in Kafka Streams
// (and count + suppress), it merges with it, and the merged session gets a
// final of its own when it closes.
func TestSessionEmitFinalMergesARecordIntoAnEmittedSessionWhenTheGapExceedsTheGrace(t *testing.T) {
	var got []string
	d, in := sessionFinalTopologyOf(t, mw(window.Sessions(10*time.Millisecond, 0)), store.InMemorySession, nil, "", &got)
	defer d.Close()
	pipe(t, in, "a", "x", 0)
	pipe(t, in, "b", "x", 1) // a [0,0] closes
	pipe(t, in, "a", "x", 5) // b [1,1] closes; a@5 is not late and merges a [0,0] into [0,5]
	pipe(t, in, "c", "x", 20)
	want := "[a@0/0]=<none>->1@0 [b@1/1]=<none>->1@1 [a@0/5]=<none>->2@5"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}
