package window_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

func TestWindowedSerdesWithANilKeySerdeReturnErrSerde(t *testing.T) {
	for name, s := range map[string]record.Serde[window.Windowed[string]]{
		"TimeWindowedSerde":    window.TimeWindowedSerde[string](nil, 10),
		"SessionWindowedSerde": window.SessionWindowedSerde[string](nil),
	} {
		noPanic(t, name, func() {
			if _, err := s.Serialize(nil, window.Windowed[string]{Key: "k"}); !errors.Is(err, record.ErrSerde) {
				t.Errorf("%s Serialize = %v, want ErrSerde", name, err)
			}
			if _, err := s.Deserialize(make([]byte, 32)); !errors.Is(err, record.ErrSerde) {
				t.Errorf("%s Deserialize = %v, want ErrSerde", name, err)
			}
		})
	}
}

func TestStoreHelpersReadANilBackendAsTheInMemoryOne(t *testing.T) {
	tw := mw(window.Tumbling(10*time.Millisecond, 0))
	sl := mw(window.Sliding(10*time.Millisecond, 0))
	se := mw(window.Sessions(10*time.Millisecond, 0))
	jw := mw(window.JoinWithin(10*time.Millisecond, 0))
	var builders []store.Builder
	noPanic(t, "store helpers", func() {
		builders = append(builders,
			window.TimeWindowStore[string, int64](nil, "time", tw, record.String(), record.Int64()),
			window.SlidingWindowStore[string, int64](nil, "sliding", sl, record.String(), record.Int64()),
			window.SessionStore[string, int64](nil, "session", se, record.String(), record.Int64()),
			window.SuppressionStore[string, int64](nil, "suppress", record.String(), record.Int64()),
			window.WindowedSuppressionStore[string, int64](nil, "wsuppress", record.String(), record.Int64()))
		builders = append(builders, window.JoinStores[string, string, string](nil, nil,
			window.JoinStoreNames{Left: "l", Right: "r", Unmatched: "u"}, jw, record.String(), record.String(), record.String())...)
	})
	for _, sb := range builders {
		s, err := sb.Build()
		if err != nil || s == nil {
			t.Errorf("%s: Build = %v, %v", sb.Name(), s, err)
			continue
		}
		if s.Persistent() {
			t.Errorf("%s: a nil backend built a persistent store", sb.Name())
		}
	}
}

func TestStoreHelpersWithNilSerdesAreBuildErrors(t *testing.T) {
	tw := mw(window.Tumbling(10*time.Millisecond, 0))
	var builders []store.Builder
	noPanic(t, "store helpers", func() {
		builders = append(builders,
			window.TimeWindowStore[string, int64](store.InMemoryWindow, "time", tw, record.String(), nil),
			window.SuppressionStore[string, int64](store.InMemoryKeyValue, "suppress", record.String(), nil),
			window.WindowedSuppressionStore[string, int64](store.InMemoryKeyValue, "wsuppress", nil, record.Int64()))
	})
	for _, sb := range builders {
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "p", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error { return nil }), "in")
		b.AddStore(sb, "p")
		if _, err := b.Build(); !errors.Is(err, processor.ErrInvalidStore) || !strings.Contains(err.Error(), "nil serde") {
			t.Errorf("%s: Build = %v, want ErrInvalidStore for the nil serde", sb.Name(), err)
		}
	}
}

// newFails builds a topology of one source feeding sup and returns the error
// of starting a test driver on it.
func newFails[VOut any](t *testing.T, sup processor.Supplier[string, string, string, VOut]) error {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", sup, "in")
	topo, err := b.Build()
	must(t, err)
	var d *testdriver.Driver
	noPanic(t, "testdriver.New", func() { d, err = testdriver.New(topo, testdriver.Config{}) })
	if err == nil {
		must(t, d.Close())
	}
	return err
}

// windowedFails is newFails for processors forwarding windowed keys.
func windowedFails[VOut any](t *testing.T, sup processor.Supplier[string, string, window.Windowed[string], VOut]) error {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", sup, "in")
	topo, err := b.Build()
	must(t, err)
	var d *testdriver.Driver
	noPanic(t, "testdriver.New", func() { d, err = testdriver.New(topo, testdriver.Config{}) })
	if err == nil {
		must(t, d.Close())
	}
	return err
}

func TestWindowedProcessorsMadeWithANilFunctionFailAtInitWithErrNilFunction(t *testing.T) {
	tw := mw(window.Tumbling(10*time.Millisecond, 0))
	sl := mw(window.Sliding(10*time.Millisecond, 0))
	se := mw(window.Sessions(10*time.Millisecond, 0))
	jw := mw(window.JoinWithin(10*time.Millisecond, 0))
	add := func(_ string, v string, n int) int { return n + len(v) }
	merge := func(_ string, a, b int) int { return a + b }
	left, right := window.Join[string, string, string, string](window.LeftJoin, jw,
		window.JoinStoreNames{Left: "l", Right: "r", Unmatched: "u"}, nil, record.String(), record.String(), record.String())
	innerLeft, _ := window.Join[string, string, string, string](window.InnerJoin, jw,
		window.JoinStoreNames{Left: "l", Right: "r"}, func(string, *string, *string) string { return "" }, nil, nil, nil)
	for name, err := range map[string]error{
		"Aggregate":                 windowedFails(t, window.Aggregate(tw, "s", window.Aggregator[string, string, int]{})),
		"Reduce":                    windowedFails(t, window.Reduce[string, string](tw, "s", nil)),
		"AggregateSliding":          windowedFails(t, window.AggregateSliding(sl, "s", window.Aggregator[string, string, int]{Init: func() int { return 0 }})),
		"ReduceSliding":             windowedFails(t, window.ReduceSliding[string, string](sl, "s", nil)),
		"AggregateSessions (Add)":   windowedFails(t, window.AggregateSessions(se, "s", window.SessionAggregator[string, string, int]{Merge: merge})),
		"AggregateSessions (Merge)": windowedFails(t, window.AggregateSessions(se, "s", window.SessionAggregator[string, string, int]{Add: add})),
		"ReduceSessions":            windowedFails(t, window.ReduceSessions[string, string](se, "s", nil)),
		"Lookup":                    newFails(t, window.Lookup[string, string, string, string]("s", false, nil)),
		"LookupBy":                  newFails(t, window.LookupBy[string, string, string, string, string]("s", true, nil, func(string, string, *string) string { return "" })),
		"Join (left side)":          newFails(t, left),
		"Join (right side)":         newFails(t, right),
	} {
		if !errors.Is(err, window.ErrNilFunction) {
			t.Errorf("%s: testdriver.New = %v, want ErrNilFunction", name, err)
		}
	}
	// An inner join never serializes: it needs no serdes (its stores do).
	if err := newFails(t, innerLeft); errors.Is(err, window.ErrNilFunction) || errors.Is(err, record.ErrSerde) {
		t.Errorf("inner join without serdes: %v", err)
	}
	leftNoSerdes, _ := window.Join[string, string, string, string](window.LeftJoin, jw,
		window.JoinStoreNames{Left: "l", Right: "r", Unmatched: "u"}, func(string, *string, *string) string { return "" }, nil, nil, nil)
	if err := newFails(t, leftNoSerdes); !errors.Is(err, record.ErrSerde) {
		t.Errorf("left join with an unmatched buffer and no serdes: %v, want ErrSerde", err)
	}
}

func TestAggregatorsWithANilInitStartFromTheZeroAggregate(t *testing.T) {
	tw := mw(window.Tumbling(10*time.Millisecond, 0))
	sl := mw(window.Sliding(10*time.Millisecond, 0))
	agg := window.Aggregator[string, string, int64]{Add: func(_ string, v string, n int64) int64 { return n + int64(len(v)) }}
	for name, c := range map[string]struct {
		sup processor.Supplier[string, string, window.Windowed[string], window.Change[int64]]
		sb  store.Builder
	}{
		"Aggregate":        {window.Aggregate(tw, "s", agg), window.TimeWindowStore(store.InMemoryWindow, "s", tw, record.String(), record.Int64())},
		"AggregateSliding": {window.AggregateSliding(sl, "s", agg), window.SlidingWindowStore(store.InMemoryWindow, "s", sl, record.String(), record.Int64())},
	} {
		var got []string
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "agg", c.sup, "in").WithStores("s")
		processor.AddProcessor(b, "out", collector[int64]{&got}.supplier(), "agg")
		b.AddStore(c.sb)
		d := driver(t, b)
		in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
		noPanic(t, name, func() {
			must(t, in.Pipe("a", "xyz", 12))
			must(t, in.Pipe("a", "xy", 13))
		})
		if len(got) == 0 || !strings.HasSuffix(got[len(got)-1], "->5@13") {
			t.Errorf("%s: got %v, want the last aggregate 3+2 = 5", name, got)
		}
	}
}

func TestSuppressionMadeWithNilSerdesFailsAtInitWithErrSerde(t *testing.T) {
	for name, sup := range map[string]processor.Supplier[window.Windowed[string], window.Change[int64], window.Windowed[string], int64]{
		"UntilWindowCloses":  window.UntilWindowCloses[string, int64](0, "buf", nil, record.Int64(), window.BufferConfig{}),
		"UntilSessionCloses": window.UntilSessionCloses[string, int64](0, "buf", record.String(), nil, window.BufferConfig{}),
	} {
		tw := mw(window.Tumbling(10*time.Millisecond, 0))
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "count", window.Count[string, string](tw, "counts"), "in").WithStores("counts")
		processor.AddProcessor(b, "suppress", sup, "count").WithStores("buf")
		b.AddStore(window.TimeWindowStore(store.InMemoryWindow, "counts", tw, record.String(), record.Int64()))
		b.AddStore(window.WindowedSuppressionStore(store.InMemoryKeyValue, "buf", record.String(), record.Int64()))
		topo, err := b.Build()
		must(t, err)
		var d *testdriver.Driver
		noPanic(t, name, func() {
			if d, err = testdriver.New(topo, testdriver.Config{}); err == nil {
				err = testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("a", "x", 1)
				must(t, d.Close())
			}
		})
		if !errors.Is(err, record.ErrSerde) {
			t.Errorf("%s with a nil serde: %v, want ErrSerde", name, err)
		}
	}
}

func TestJoinWithACorruptUnmatchedBufferEntryIsAnErrSerdeNotAPanic(t *testing.T) {
	for name, key := range map[string][]byte{
		"short entry":  {0, 0, 0, 0, 0, 0, 0, 1},                                           // a timestamp and nothing else
		"unknown side": append([]byte{0, 0, 0, 0, 0, 0, 0, 1, 7, 'k'}, make([]byte, 8)...), // side 7
	} {
		left, _, _, d := joinTopology(t, window.LeftJoin)
		s, err := testdriver.KeyValueStore[[]byte, []byte](d, "unmatched")
		must(t, err)
		must(t, s.Put(key, []byte("v")))
		noPanic(t, name, func() { err = left.Pipe("k", "late", 100) })
		if !errors.Is(err, record.ErrSerde) || !strings.Contains(err.Error(), fmt.Sprintf("%x", key)) {
			t.Errorf("%s: Pipe = %v, want ErrSerde naming the entry", name, err)
		}
	}
}

func TestZeroSlidingAndSessionWindowsNeverPanicInTheirProcessors(t *testing.T) {
	var sl window.SlidingWindows
	var se window.SessionWindows
	var tw window.TimeWindows
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "sessions", window.CountSessions[string, string](se, "se"), "in").WithStores("se")
	b.AddStore(store.NewSessionBuilder(store.InMemorySession("se", time.Second), record.String(), record.Int64()))
	d := driver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	noPanic(t, "zero windows", func() {
		for _, ts := range []int64{0, 5, 5, 3, 100} {
			if err := in.Pipe("a", "x", ts); err != nil {
				t.Errorf("Pipe at %d: %v", ts, err)
			}
		}
		_ = tw.StartsFor(nil, 5)
		_ = tw.End(5)
		_ = tw.Retention()
	})
	// The zero TimeWindows and SlidingWindows cannot aggregate: Init says so.
	if err := windowedFails(t, window.CountSliding[string, string](sl, "s")); !errors.Is(err, window.ErrInvalidWindow) {
		t.Errorf("CountSliding over zero SlidingWindows: %v, want ErrInvalidWindow", err)
	}
	if err := windowedFails(t, window.Count[string, string](tw, "s")); !errors.Is(err, window.ErrInvalidWindow) {
		t.Errorf("Count over zero TimeWindows: %v, want ErrInvalidWindow", err)
	}
}
