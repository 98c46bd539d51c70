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

// slidingFinalTopology counts in sliding windows of 10 ms with grace 5 ms,
// emitting final counts only, with the given backends; stateDir "" is a
// temporary one.
func slidingFinalTopology(t *testing.T, wb window.WindowBackend, kb window.KeyValueBackend, stateDir string, got *[]string) (*testdriver.Driver, *testdriver.InputTopic[string, string]) {
	t.Helper()
	w := mw(window.Sliding(10*time.Millisecond, 5*time.Millisecond))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSlidingFinal[string, string](w, "counts", "counts-emit"), "in").
		WithStores("counts", "counts-emit")
	processor.AddProcessor(b, "out", collector[int64]{got}.supplier(), "count")
	b.AddStore(window.SlidingWindowStore(wb, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.EmitWatermarkStore(kb, "counts-emit"))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{StateDir: stateDir})
	must(t, err)
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String())
}

func TestSlidingEmitFinalForwardsEachWindowOnceOnlyAfterItsEndPlusGrace(t *testing.T) {
	var got []string
	d, in := slidingFinalTopology(t, store.InMemoryWindow, nil, "", &got)
	defer d.Close()
	pipe(t, in, "a", "x", 1)  // a [0,10]
	pipe(t, in, "a", "x", 5)  // a [0,10]=2, [2,12]=1
	pipe(t, in, "b", "x", 14) // b [4,14]
	pipe(t, in, "b", "x", 15) // b [5,15]=2, [15,25]=1; stream time 15 = 10 + 5: [0,10] still open
	if len(got) != 0 {
		t.Fatalf("emitted %v before any window closed", got)
	}
	pipe(t, in, "a", "x", 16) // [0,10] closes (16 > 10 + 5); a [6,16]
	if want := "[a@0/10]=<none>->2@5"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	pipe(t, in, "b", "x", 30) // closes every window ending before 25; b [20,30]
	pipe(t, in, "a", "x", 3)  // late: dropped, nothing new
	want := "[a@0/10]=<none>->2@5 [a@2/12]=<none>->1@5 [b@4/14]=<none>->1@14 [b@5/15]=<none>->2@15 [a@6/16]=<none>->1@16"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	pipe(t, in, "c", "x", 100)
	want += " [b@15/25]=<none>->1@15 [b@20/30]=<none>->1@30"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if n := st.DroppedBy(window.DropLate); n != 1 {
		t.Errorf("%d late drops, want 1", n)
	}
}

// Sliding emit-final and count-then-suppress give the same finals.
func TestSlidingEmitFinalMatchesCountThenSuppress(t *testing.T) {
	var finals []string
	d, in := slidingFinalTopology(t, store.InMemoryWindow, nil, "", &finals)
	defer d.Close()

	w := mw(window.Sliding(10*time.Millisecond, 5*time.Millisecond))
	var suppressed []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSliding[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "final", window.UntilSessionCloses[string, int64](5*time.Millisecond, "buffer",
		record.String(), record.Int64(), window.Unbounded()), "count").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(ctx processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
		suppressed = append(suppressed, fmt.Sprintf("%s=%d@%d", r.Key(), r.Value(), r.Timestamp()))
		return nil
	}), "final")
	b.AddStore(window.SlidingWindowStore(store.InMemoryWindow, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.WindowedSuppressionStore(store.InMemoryKeyValue, "buffer", record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	sd, err := testdriver.New(topo, testdriver.Config{})
	must(t, err)
	defer sd.Close()
	sin := testdriver.CreateInputTopic(sd, "in", record.String(), record.String())

	for i, ts := range []int64{3, 7, 11, 2, 14, 19, 26, 21, 40, 33, 58, 45, 47, 60, 75, 71, 100} {
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
	seen := map[string]bool{}
	for _, s := range finals {
		k := s[:strings.Index(s, "=")]
		if seen[k] {
			t.Errorf("window %s emitted twice", k)
		}
		seen[k] = true
	}
}
