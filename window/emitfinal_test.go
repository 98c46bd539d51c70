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

// finalTopology counts in tumbling windows of 10 ms with grace 5 ms,
// emitting final counts only, with the given backends; stateDir "" is a
// temporary one.
func finalTopology(t *testing.T, wb window.WindowBackend, kb window.KeyValueBackend, stateDir string, got *[]string) (*testdriver.Driver, *testdriver.InputTopic[string, string]) {
	t.Helper()
	w := mw(window.Tumbling(10*time.Millisecond, 5*time.Millisecond))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountFinal[string, string](w, "counts", "counts-emit"), "in").
		WithStores("counts", "counts-emit")
	processor.AddProcessor(b, "out", collector[int64]{got}.supplier(), "count")
	b.AddStore(window.TimeWindowStore(wb, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.EmitWatermarkStore(kb, "counts-emit"))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{StateDir: stateDir})
	must(t, err)
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String())
}

func TestEmitFinalForwardsOneResultPerWindowOnlyOnceItCloses(t *testing.T) {
	var got []string
	d, in := finalTopology(t, store.InMemoryWindow, nil, "", &got)
	defer d.Close()
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 5)
	pipe(t, in, "b", "x", 9)
	pipe(t, in, "a", "x", 12)
	pipe(t, in, "b", "x", 14) // stream time 14 < 10 + 5: [0,10) still open
	if len(got) != 0 {
		t.Fatalf("emitted %v before the window closed", got)
	}
	pipe(t, in, "a", "x", 15) // [0,10) closes
	if want := "[a@0/10]=<none>->2@5 [b@0/10]=<none>->1@9"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	pipe(t, in, "a", "x", 16)
	pipe(t, in, "a", "x", 3)  // late for [0,10): dropped, nothing new
	pipe(t, in, "c", "x", 45) // closes [10,20) and [20,30); [20,30) is empty
	want := "[a@0/10]=<none>->2@5 [b@0/10]=<none>->1@9 [a@10/20]=<none>->3@16 [b@10/20]=<none>->1@14"
	if strings.Join(got, " ") != want {
		t.Errorf("got\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if n := st.DroppedBy(window.DropLate); n != 1 {
		t.Errorf("%d late drops, want 1", n)
	}
}

// Emit-final and count-then-suppress give the same finals.
func TestEmitFinalMatchesCountThenSuppress(t *testing.T) {
	var finals []string
	d, in := finalTopology(t, store.InMemoryWindow, nil, "", &finals)
	defer d.Close()
	_, sin, suppressed := suppressTopology(t, window.BufferConfig{}, nil)
	for i, ts := range []int64{3, 7, 11, 2, 14, 19, 26, 21, 40, 33, 58} {
		k := fmt.Sprint("k", i%3)
		pipe(t, in, k, "x", ts)
		pipe(t, sin, k, "x", ts)
	}
	var f []string
	for _, s := range finals {
		f = append(f, strings.Replace(s, "=<none>->", "=", 1))
	}
	if strings.Join(f, " ") != strings.Join(*suppressed, " ") {
		t.Errorf("emit-final\n %s\ncount + suppress\n %s", strings.Join(f, " "), strings.Join(*suppressed, " "))
	}
}
