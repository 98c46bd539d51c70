package window_test

import (
	"errors"
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

// The first example: a 5-minute hopping count over a store built
// for 1-minute windows counted 2 where 3 was right. Now Init refuses it.
func TestHoppingCountOverAStoreBuiltForOtherWindowsFailsAtInit(t *testing.T) {
	hopping := mw(window.Hopping(5*time.Minute, time.Minute, 0))
	oneMinute := mw(window.Tumbling(time.Minute, 0))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](hopping, "counts"), "in").WithStores("counts")
	b.AddStore(window.TimeWindowStore(store.InMemoryWindow, "counts", oneMinute, record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{})
	if err == nil {
		d.Close()
		t.Fatal("the driver started a 5-minute count over a store of 1-minute windows")
	}
	if !errors.Is(err, window.ErrWindowMismatch) || !strings.Contains(err.Error(), "300000 ms") ||
		!strings.Contains(err.Error(), "60000 ms") {
		t.Errorf("error %v: want ErrWindowMismatch naming both sizes", err)
	}
}

func TestWindowStoreWithAShorterRetentionThanSizePlusGraceFailsAtInit(t *testing.T) {
	w := mw(window.Tumbling(time.Minute, 30*time.Second))
	for name, sb := range map[string]store.Builder{
		"time": store.NewWindowBuilder(store.InMemoryWindow("counts", time.Minute, time.Minute, false),
			record.String(), store.TimestampedSerde(record.Int64())),
	} {
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
		b.AddStore(sb)
		topo, err := b.Build()
		must(t, err)
		d, err := testdriver.New(topo, testdriver.Config{})
		if err == nil {
			d.Close()
		}
		if !errors.Is(err, window.ErrWindowMismatch) || !strings.Contains(err.Error(), "90000 ms") {
			t.Errorf("%s: error %v, want ErrWindowMismatch naming the needed 90000 ms", name, err)
		}
	}
	se := mw(window.Sessions(time.Minute, 30*time.Second))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.CountSessions[string, string](se, "s"), "in").WithStores("s")
	b.AddStore(store.NewSessionBuilder(store.InMemorySession("s", time.Minute), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	if d, err := testdriver.New(topo, testdriver.Config{}); err == nil {
		d.Close()
		t.Error("sessions started over a store with a retention under gap + grace")
	} else if !errors.Is(err, window.ErrWindowMismatch) {
		t.Errorf("sessions: %v, want ErrWindowMismatch", err)
	}
}

// The second example: windows with 30 s grace under a suppression
// given 0 emitted two "final" results for one window. Now the second
// update stops the App with ErrWindowMismatch, after one final.
func TestSuppressionWithLessGraceThanItsWindowsStopsAtTheSecondFinal(t *testing.T) {
	w := mw(window.Tumbling(time.Minute, 30*time.Second))
	var got []string
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
	processor.AddProcessor(b, "final", window.UntilWindowCloses[string, int64](0, "buffer",
		record.String(), record.Int64(), window.Unbounded()), "count").WithStores("buffer")
	processor.AddProcessor(b, "out", processor.Func(func(_ processor.Context[string, string], r record.Record[window.Windowed[string], int64]) error {
		got = append(got, fmt.Sprintf("%s=%d", r.Key(), r.Value()))
		return nil
	}), "final")
	b.AddStore(window.TimeWindowStore(store.InMemoryWindow, "counts", w, record.String(), record.Int64()))
	b.AddStore(window.WindowedSuppressionStore(store.InMemoryKeyValue, "buffer", record.String(), record.Int64()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 10_000)
	pipe(t, in, "b", "x", 70_000)    // the suppression closes [0,60s) at 60 s: a=1
	err := in.Pipe("a", "x", 20_000) // within the windows' 30 s grace: counted upstream
	if !errors.Is(err, window.ErrWindowMismatch) {
		t.Fatalf("late update under a shorter suppression grace: %v, want ErrWindowMismatch", err)
	}
	if strings.Join(got, " ") != "[a@0/60000]=1" {
		t.Errorf("finals %v, want only [a@0/60000]=1", got)
	}
}
