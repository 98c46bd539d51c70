package testdriver_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newDriver(t *testing.T, b *processor.Builder, cfg testdriver.Config) *testdriver.Driver {
	t.Helper()
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, cfg)
	must(t, err)
	t.Cleanup(func() { must(t, d.Close()) })
	return d
}

// stamp forwards each value with the stream time seen while processing it.
func stamp() processor.Supplier[string, string, string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r.WithValue(fmt.Sprintf("%s@%d/st=%d", r.Value(), r.Timestamp(), ctx.StreamTime())))
	})
}

func TestTwoInputTopicsWithInterleavedTimestampsLeaveMergedInTimestampOrder(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "left", record.String(), record.String(), "left")
	processor.AddSource(b, "right", record.String(), record.String(), "right")
	processor.AddProcessor(b, "merge", stamp(), "left", "right")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "merge")
	d := newDriver(t, b, testdriver.Config{})
	left := testdriver.CreateInputTopic(d, "left", record.String(), record.String())
	right := testdriver.CreateInputTopic(d, "right", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	must(t, d.Batch(func() error {
		for _, ts := range []int64{1, 4, 5, 9} {
			if err := left.Pipe("k", fmt.Sprint("L", ts), ts); err != nil {
				return err
			}
		}
		for _, ts := range []int64{2, 3, 7, 8} {
			if err := right.Pipe("k", fmt.Sprint("R", ts), ts); err != nil {
				return err
			}
		}
		return nil
	}))
	got, err := out.ReadValues()
	must(t, err)
	want := "L1@1/st=1 R2@2/st=2 R3@3/st=3 L4@4/st=4 L5@5/st=5 R7@7/st=7 R8@8/st=8 L9@9/st=9"
	if strings.Join(got, " ") != want {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestEqualTimestampsGoToTheEarlierRegisteredTopic(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "first", record.String(), record.String(), "first")
	processor.AddSource(b, "second", record.String(), record.String(), "second")
	processor.AddProcessor(b, "merge", stamp(), "first", "second")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "merge")
	d := newDriver(t, b, testdriver.Config{})
	first := testdriver.CreateInputTopic(d, "first", record.String(), record.String())
	second := testdriver.CreateInputTopic(d, "second", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	must(t, d.Batch(func() error {
		must(t, second.Pipe("k", "S", 10))
		return first.Pipe("k", "F", 10)
	}))
	got, err := out.ReadValues()
	must(t, err)
	if strings.Join(got, " ") != "F@10/st=10 S@10/st=10" {
		t.Errorf("got %v", got)
	}
}

func TestOutOfOrderRecordIsProcessedAndDoesNotMoveStreamTimeBack(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "stamp", stamp(), "src")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "stamp")
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	must(t, in.Pipe("k", "a", 100))
	must(t, in.Pipe("k", "late", 40))
	must(t, in.Pipe("k", "b", 120))
	got, err := out.ReadValues()
	must(t, err)
	if want := "a@100/st=100 late@40/st=100 b@120/st=120"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
	st, err := d.Stats(0)
	must(t, err)
	if st.LateRecords.Load() != 1 || st.LatenessMax.Load() != 60 {
		t.Errorf("lateness: %d late records, max %d ms; want 1 and 60", st.LateRecords.Load(), st.LatenessMax.Load())
	}
}

// ticker schedules a punctuator in Init and forwards one record per firing
// carrying the time it was called with.
type ticker struct {
	ctx      processor.Context[string, string]
	interval time.Duration
	typ      punctuate.Type
	cancelAt int // cancel from inside on this firing (0 = never)
	fired    int
	onInit   func(ctx processor.Context[string, string]) error
}

func (p *ticker) Init(ctx processor.Context[string, string]) error {
	p.ctx = ctx
	if p.onInit != nil {
		return p.onInit(ctx)
	}
	var c punctuate.Cancellable
	var err error
	c, err = ctx.Schedule(p.interval, p.typ, func(ts int64) error {
		p.fired++
		if _, ok := ctx.RecordMetadata(); ok {
			return errors.New("record metadata present inside a punctuator")
		}
		if p.fired == p.cancelAt {
			c.Cancel()
		}
		r, err := record.New("tick", fmt.Sprint(ts), ts)
		if err != nil {
			return err
		}
		return ctx.Forward(r)
	})
	return err
}
func (p *ticker) Process(record.Record[string, string]) error { return nil }
func (p *ticker) Close() error                                { return nil }

func tickerDriver(t *testing.T, p *ticker) (*testdriver.Driver, *testdriver.InputTopic[string, string], *testdriver.OutputTopic[string, string]) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "ticker", func() processor.Processor[string, string, string, string] { return p }, "src")
	processor.AddSink(b, "out", "ticks", record.String(), record.String(), "ticker")
	d := newDriver(t, b, testdriver.Config{StartTime: time.UnixMilli(1_000_000)})
	return d, testdriver.CreateInputTopic(d, "in", record.String(), record.String()),
		testdriver.CreateOutputTopic(d, "ticks", record.String(), record.String())
}

func TestStreamTimePunctuatorFiresOnceAfterGapWithCurrentStreamTimeThenStaysOnGrid(t *testing.T) {
	_, in, out := tickerDriver(t, &ticker{interval: 10 * time.Millisecond, typ: punctuate.StreamTime})
	if !out.IsEmpty() {
		t.Fatal("stream-time punctuator fired before the first record")
	}
	must(t, in.Pipe("k", "v", 3))     // first record: fires at once (grid point 0), with ts 3
	must(t, in.Pipe("k", "v", 9))     // next grid point is 10: nothing
	must(t, in.Pipe("k", "v", 1_005)) // a gap of ~100 intervals: fires once, with 1005
	must(t, in.Pipe("k", "v", 1_009)) // next point is 1010, not 1015: nothing
	must(t, in.Pipe("k", "v", 1_010)) // on the original grid
	must(t, in.Pipe("k", "v", 500))   // late record: stream time stays 1010
	got, err := out.ReadValues()
	must(t, err)
	if want := "3 1005 1010"; strings.Join(got, " ") != want {
		t.Errorf("fired with %v, want %s", got, want)
	}
}

func TestWallClockPunctuatorFiresOnAdvanceWallClock(t *testing.T) {
	d, _, out := tickerDriver(t, &ticker{interval: time.Second, typ: punctuate.WallClock})
	must(t, d.AdvanceWallClock(999*time.Millisecond))
	if !out.IsEmpty() {
		t.Fatal("fired before one interval passed")
	}
	must(t, d.AdvanceWallClock(time.Millisecond)) // 1_001_000: first point
	must(t, d.AdvanceWallClock(3500*time.Millisecond))
	must(t, d.AdvanceWallClock(500*time.Millisecond)) // 1_005_000 on the grid
	got, err := out.ReadValues()
	must(t, err)
	if want := "1001000 1004500 1005000"; strings.Join(got, " ") != want {
		t.Errorf("fired with %v, want %s", got, want)
	}
}

func TestPunctuatorCanCancelItselfFromInside(t *testing.T) {
	_, in, out := tickerDriver(t, &ticker{interval: 10 * time.Millisecond, typ: punctuate.StreamTime, cancelAt: 2})
	for ts := int64(0); ts <= 100; ts += 10 {
		must(t, in.Pipe("k", "v", ts))
	}
	got, err := out.ReadValues()
	must(t, err)
	if want := "0 10"; strings.Join(got, " ") != want {
		t.Errorf("fired with %v, want %s and then never again", got, want)
	}
}

func TestScheduleUnderOneMillisecondIsAnError(t *testing.T) {
	for _, iv := range []time.Duration{0, 999 * time.Microsecond, -time.Second} {
		var gotErr error
		p := &ticker{onInit: func(ctx processor.Context[string, string]) error {
			_, gotErr = ctx.Schedule(iv, punctuate.StreamTime, func(int64) error { return nil })
			return nil
		}}
		tickerDriver(t, p)
		if !errors.Is(gotErr, punctuate.ErrInvalidInterval) {
			t.Errorf("Schedule(%v) error = %v, want ErrInvalidInterval", iv, gotErr)
		}
	}
}

// negativeTimestampDriver pipes a record with timestamp -5 after one at 100.
func negativeTimestampDriver(t *testing.T, ex record.TimestampExtractor) (error, []record.Record[string, string], *testdriver.Driver) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in").WithTimestampExtractor(ex)
	processor.AddSink(b, "out", "out", record.String(), record.String(), "src")
	d := newDriver(t, b, testdriver.Config{StartTime: time.UnixMilli(777)})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	must(t, in.Pipe("k", "first", 100))
	err := in.Pipe("k", "negative", -5)
	rs, rerr := out.ReadRecords()
	must(t, rerr)
	return err, rs, d
}

func TestNegativeTimestampUnderFailOnInvalidStopsWithError(t *testing.T) {
	err, rs, _ := negativeTimestampDriver(t, record.FailOnInvalidTimestamp())
	if !errors.Is(err, record.ErrInvalidTimestamp) || !strings.Contains(err.Error(), "in-0@1") {
		t.Errorf("error = %v, want ErrInvalidTimestamp naming in-0@1", err)
	}
	if len(rs) != 1 {
		t.Errorf("got %d records, want only the valid one", len(rs))
	}
}

func TestNegativeTimestampUnderLogAndSkipIsSkippedAndCounted(t *testing.T) {
	err, rs, d := negativeTimestampDriver(t, record.LogAndSkipOnInvalidTimestamp())
	must(t, err)
	if len(rs) != 1 || rs[0].Value() != "first" {
		t.Errorf("got %v, want only the valid record", rs)
	}
	st, _ := d.Stats(0)
	if st.SkippedInvalidTimestamp.Load() != 1 || st.Dropped() != 1 {
		t.Errorf("skipped %d (dropped %d), want 1", st.SkippedInvalidTimestamp.Load(), st.Dropped())
	}
}

func TestNegativeTimestampUnderUsePartitionTimeTakesPartitionTime(t *testing.T) {
	err, rs, _ := negativeTimestampDriver(t, record.UsePartitionTimeOnInvalidTimestamp())
	must(t, err)
	if len(rs) != 2 || rs[1].Value() != "negative" || rs[1].Timestamp() != 100 {
		t.Errorf("got %v, want the negative record stamped with partition time 100", rs)
	}
}

func TestNegativeTimestampUnderUsePartitionTimeFailsWhilePartitionTimeUnknown(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in").
		WithTimestampExtractor(record.UsePartitionTimeOnInvalidTimestamp())
	processor.AddSink(b, "out", "out", record.String(), record.String(), "src")
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	if err := in.Pipe("k", "v", -1); !errors.Is(err, record.ErrInvalidTimestamp) {
		t.Errorf("error = %v, want ErrInvalidTimestamp", err)
	}
}

func TestNegativeTimestampUnderWallClockTakesWallClockTime(t *testing.T) {
	err, rs, _ := negativeTimestampDriver(t, record.WallclockTimestamp())
	must(t, err)
	if len(rs) != 2 || rs[0].Timestamp() != 777 || rs[1].Timestamp() != 777 {
		t.Errorf("got %v, want both records at the virtual wall clock 777", rs)
	}
}

func TestAppDefaultExtractorAppliesAndSourceExtractorOverridesIt(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "a", record.String(), record.String(), "a")
	processor.AddSource(b, "b", record.String(), record.String(), "b").WithTimestampExtractor(record.FailOnInvalidTimestamp())
	processor.AddSink(b, "out", "out", record.String(), record.String(), "a", "b")
	d := newDriver(t, b, testdriver.Config{DefaultTimestampExtractor: record.LogAndSkipOnInvalidTimestamp()})
	must(t, d.PipeRaw("a", []byte("k"), []byte("v"), -1))
	if err := d.PipeRaw("b", []byte("k"), []byte("v"), -1); !errors.Is(err, record.ErrInvalidTimestamp) {
		t.Errorf("source extractor did not override the default: %v", err)
	}
}

func TestValueTimestampExtractorReadsEventTimeFromPayload(t *testing.T) {
	type beat struct {
		Patient string `json:"patient"`
		At      int64  `json:"at"`
	}
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.JSON[beat](), "beats").
		WithValueTimestamp(func(_ string, v beat, _ *record.ConsumerRecord, _ int64) (int64, error) { return v.At, nil })
	processor.AddSink(b, "out", "out", record.String(), record.JSON[beat](), "src")
	d := newDriver(t, b, testdriver.Config{})
	must(t, d.PipeRaw("beats", []byte("p1"), []byte(`{"patient":"p1","at":4242}`), 1))
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.JSON[beat]())
	r, err := out.ReadRecord()
	must(t, err)
	if r.Timestamp() != 4242 || r.Value().Patient != "p1" {
		t.Errorf("got %v, want the payload's time 4242", r)
	}
}

func TestNullKeyAndNullValuePassThroughThreeNodeGraphAndOutOfSink(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "a", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	}), "src")
	processor.AddProcessor(b, "b", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r.WithHeaders(r.Headers().Add("seen-by", []byte("b"))))
	}), "a")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "b")
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	base, _ := record.New("", "", 5)
	must(t, in.PipeRecord(base.WithNullKey().WithValue("has-value")))
	must(t, in.PipeRecord(base.WithKey("has-key").WithNullValue()))
	must(t, in.PipeRecord(base.WithNullKey().WithNullValue()))
	must(t, in.PipeRecord(base)) // empty key and value: not null
	rs, err := out.ReadRecords()
	must(t, err)
	if len(rs) != 4 {
		t.Fatalf("got %d records, want 4", len(rs))
	}
	checks := []struct{ nullKey, nullValue bool }{{true, false}, {false, true}, {true, true}, {false, false}}
	for i, c := range checks {
		if rs[i].KeyIsNull() != c.nullKey || rs[i].ValueIsNull() != c.nullValue {
			t.Errorf("record %d = %v: null key %v value %v, want %v %v", i, rs[i], rs[i].KeyIsNull(), rs[i].ValueIsNull(), c.nullKey, c.nullValue)
		}
		if v, ok := rs[i].Headers().Last("seen-by"); !ok || string(v) != "b" {
			t.Errorf("record %d lost its header", i)
		}
	}
	if rs[1].Key() != "has-key" || rs[0].Value() != "has-value" {
		t.Errorf("non-null parts changed: %v %v", rs[0], rs[1])
	}
}

func TestForwardToUnknownChildIsAnError(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "router", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.ForwardTo(r.Value(), r)
	}), "src")
	processor.AddSink(b, "left", "left", record.String(), record.String(), "router")
	processor.AddSink(b, "right", "right", record.String(), record.String(), "router")
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	must(t, in.Pipe("k", "right", 1))
	if right := testdriver.CreateOutputTopic(d, "right", record.String(), record.String()); right.Len() != 1 {
		t.Errorf("ForwardTo(right) delivered %d records", right.Len())
	}
	if left := testdriver.CreateOutputTopic(d, "left", record.String(), record.String()); !left.IsEmpty() {
		t.Errorf("ForwardTo(right) also reached left")
	}
	err := in.Pipe("k", "middle", 2)
	var pe *handler.ProcessingError
	if !errors.Is(err, processor.ErrUnknownChild) || !errors.As(err, &pe) || pe.Node != "router" {
		t.Errorf("error = %v, want ErrUnknownChild from node router", err)
	}
}

func TestForwardIsDepthFirst(t *testing.T) {
	var calls []string
	logger := func(name string) processor.Supplier[string, string, string, string] {
		return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
			calls = append(calls, name+":enter")
			err := ctx.Forward(r)
			calls = append(calls, name+":exit")
			return err
		})
	}
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "a", logger("a"), "src")
	processor.AddProcessor(b, "a1", logger("a1"), "a")
	processor.AddProcessor(b, "a2", logger("a2"), "a")
	processor.AddProcessor(b, "b", logger("b"), "src")
	processor.AddProcessor(b, "a1x", logger("a1x"), "a1")
	d := newDriver(t, b, testdriver.Config{})
	must(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("k", "v", 1))
	want := "a:enter a1:enter a1x:enter a1x:exit a1:exit a2:enter a2:exit a:exit b:enter b:exit"
	if got := strings.Join(calls, " "); got != want {
		t.Errorf("calls:\n got %s\nwant %s", got, want)
	}
}

// panicky panics on value "boom" and counts what it processed.
func panicky(seen *[]string) processor.Supplier[string, string, string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if r.Value() == "boom" {
			panic("user bug")
		}
		*seen = append(*seen, r.Value())
		return ctx.Forward(r)
	})
}

func panickyDriver(t *testing.T, h handler.ProcessingHandler, seen *[]string) *testdriver.InputTopic[string, string] {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "fine", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	}), "src")
	processor.AddProcessor(b, "fragile", panicky(seen), "fine")
	d := newDriver(t, b, testdriver.Config{ProcessingHandler: h})
	t.Cleanup(func() {
		st, _ := d.Stats(0)
		t.Logf("dropped for processing errors: %d", st.DroppedProcessingError.Load())
	})
	return testdriver.CreateInputTopic(d, "in", record.String(), record.String())
}

func TestPanickingProcessorUnderLogAndFailStopsWithLocatedError(t *testing.T) {
	var seen []string
	in := panickyDriver(t, nil, &seen)
	must(t, in.Pipe("k", "ok", 1))
	err := in.Pipe("k", "boom", 2)
	var pe *handler.ProcessingError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a ProcessingError", err)
	}
	if !errors.Is(err, handler.ErrPanic) || pe.Panic != "user bug" || pe.TaskID != "0_0" || pe.Node != "fragile" ||
		pe.Topic != "in" || pe.Partition != 0 || pe.Offset != 1 || len(pe.Stack) == 0 {
		t.Errorf("ProcessingError = %+v", pe)
	}
	for _, frag := range []string{"task 0_0", `node "fragile"`, `topic "in"`, "partition 0", "offset 1", "user bug"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("message %q lacks %q", err.Error(), frag)
		}
	}
}

func TestPanickingProcessorUnderLogAndContinueDropsAndCountsRecord(t *testing.T) {
	var seen []string
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "fragile", panicky(&seen), "src")
	d := newDriver(t, b, testdriver.Config{ProcessingHandler: handler.LogAndContinue{}})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	must(t, in.Pipe("k", "a", 1))
	must(t, in.Pipe("k", "boom", 2))
	must(t, in.Pipe("k", "b", 3))
	if strings.Join(seen, " ") != "a b" {
		t.Errorf("processed %v, want a b", seen)
	}
	st, _ := d.Stats(0)
	if st.DroppedProcessingError.Load() != 1 || st.Processed.Load() != 3 {
		t.Errorf("dropped %d processed %d, want 1 and 3", st.DroppedProcessingError.Load(), st.Processed.Load())
	}
}

func TestPunctuatorErrorGoesToProcessingHandler(t *testing.T) {
	boom := errors.New("punctuator failed")
	p := &ticker{onInit: func(ctx processor.Context[string, string]) error {
		_, err := ctx.Schedule(time.Second, punctuate.WallClock, func(int64) error { return boom })
		return err
	}}
	d, _, _ := tickerDriver(t, p)
	err := d.AdvanceWallClock(time.Second)
	var pe *handler.ProcessingError
	if !errors.Is(err, boom) || !errors.As(err, &pe) || !pe.Punctuation || pe.Node != "ticker" || pe.Offset != -1 {
		t.Errorf("error = %v (%+v), want the punctuator's error located at node ticker", err, pe)
	}
}

func TestUndeserializableRecordUnderEachHandler(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    handler.DeserializationHandler
		fail bool
	}{{"default fails", nil, true}, {"log and continue skips", handler.LogAndContinue{}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := processor.NewBuilder()
			processor.AddSource(b, "src", record.String(), record.Int64(), "in")
			processor.AddSink(b, "out", "out", record.String(), record.Int64(), "src")
			d := newDriver(t, b, testdriver.Config{DeserializationHandler: tc.h})
			err := d.PipeRaw("in", []byte("k"), []byte("not eight bytes"), 1)
			var de *record.DeserializationError
			if tc.fail {
				if !errors.As(err, &de) || de.Part != "value" || de.Offset != 0 {
					t.Fatalf("error = %v, want a DeserializationError for the value at offset 0", err)
				}
				return
			}
			must(t, err)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
			must(t, in.Pipe("k", 7, 2))
			out := testdriver.CreateOutputTopic(d, "out", record.String(), record.Int64())
			if vs, _ := out.ReadValues(); len(vs) != 1 || vs[0] != 7 {
				t.Errorf("outputs %v, want [7]", vs)
			}
			st, _ := d.Stats(0)
			if st.SkippedDeserialization.Load() != 1 {
				t.Errorf("skipped %d, want 1", st.SkippedDeserialization.Load())
			}
		})
	}
}

// counter counts per key in store "counts" and forwards the new count.
func counter() processor.Processor[string, string, string, int64] { return &countProc{} }

type countProc struct {
	ctx    processor.Context[string, int64]
	counts store.KeyValueStore[string, int64]
}

func (p *countProc) Init(ctx processor.Context[string, int64]) error {
	p.ctx = ctx
	var err error
	p.counts, err = processor.KeyValueStore[string, int64](ctx, "counts")
	return err
}

func (p *countProc) Process(r record.Record[string, string]) error {
	n, _, err := p.counts.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	if err := p.counts.Put(r.Key(), n); err != nil {
		return err
	}
	return p.ctx.Forward(record.WithValue(r, n))
}

func (p *countProc) Close() error { return nil }

func TestOutputWrittenToSourceTopicIsFedBack(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "lines")
	processor.AddProcessor(b, "rekey", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r.WithKey(r.Value()))
	}), "src")
	processor.AddSink(b, "to-repartition", "by-word", record.String(), record.String(), "rekey")
	processor.AddSource(b, "by-word", record.String(), record.String(), "by-word")
	processor.AddProcessor(b, "count", counter, "by-word").WithStores("counts")
	processor.AddSink(b, "out", "counts", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "lines", record.String(), record.String())
	for i, w := range []string{"go", "kafka", "go"} {
		must(t, in.Pipe("", w, int64(i)))
	}
	got, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, "counts", record.String(), record.Int64()))
	must(t, err)
	if len(got) != 2 || got["go"] != 2 || got["kafka"] != 1 {
		t.Errorf("counts %v", got)
	}
	counts, err := testdriver.KeyValueStore[string, int64](d, "counts")
	must(t, err)
	if n, ok, err := counts.Get("go"); err != nil || !ok || n != 2 {
		t.Errorf("store go = %d %v %v", n, ok, err)
	}
	if _, err := testdriver.KeyValueStore[string, string](d, "counts"); err == nil {
		t.Error("store lookup with wrong types succeeded")
	}
}

func TestStoreLookupFailsForUnconnectedStoreAndWrongTypes(t *testing.T) {
	var errUnconnected, errTypes error
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "owner", counter, "src").WithStores("counts")
	processor.AddProcessor(b, "stranger", func() processor.Processor[string, string, string, string] {
		return &ticker{onInit: func(ctx processor.Context[string, string]) error {
			_, errUnconnected = processor.KeyValueStore[string, int64](ctx, "counts")
			return nil
		}}
	}, "src")
	processor.AddProcessor(b, "confused", func() processor.Processor[string, string, string, string] {
		return &ticker{onInit: func(ctx processor.Context[string, string]) error {
			_, errTypes = processor.KeyValueStore[string, string](ctx, "counts")
			return nil
		}}
	}, "src").WithStores("counts")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	newDriver(t, b, testdriver.Config{})
	if !errors.Is(errUnconnected, processor.ErrStoreNotConnected) || !strings.Contains(errUnconnected.Error(), `"stranger"`) {
		t.Errorf("unconnected lookup: %v", errUnconnected)
	}
	if !errors.Is(errTypes, processor.ErrStoreType) || !strings.Contains(errTypes.Error(), "is a key-value store of (string, int64), not a key-value store of (string, string)") ||
		strings.Contains(errTypes.Error(), "*store.") {
		t.Errorf("wrong-type lookup: %v, want the kinds and types in words, no Go type names", errTypes)
	}
}

func TestContextCommitRequestsACommit(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "committer", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		ctx.Commit()
		md, ok := ctx.RecordMetadata()
		if !ok || md.Topic != "in" || md.Offset != 0 {
			return fmt.Errorf("metadata %v %v", md, ok)
		}
		if ctx.TaskID().String() != "0_0" || ctx.ApplicationID() != "app" || ctx.NodeName() != "committer" {
			return fmt.Errorf("context identity %v %s %s", ctx.TaskID(), ctx.ApplicationID(), ctx.NodeName())
		}
		return nil
	}), "src")
	d := newDriver(t, b, testdriver.Config{ApplicationID: "app"})
	must(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("k", "v", 1))
	st, _ := d.Stats(0)
	if st.Commits.Load() != 1 {
		t.Errorf("commits = %d, want 1", st.Commits.Load())
	}
}

func TestOutputTopicReadsOneAllAndReportsEmpty(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.Int64(), "in")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "src")
	d := newDriver(t, b, testdriver.Config{})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.Int64())
	if !out.IsEmpty() {
		t.Fatal("new output not empty")
	}
	if _, err := out.ReadRecord(); !errors.Is(err, testdriver.ErrNoRecord) {
		t.Errorf("read from empty: %v", err)
	}
	must(t, in.PipeKeyValues(10, 5, testdriver.KV[string, int64]{"a", 1}, testdriver.KV[string, int64]{"b", 2},
		testdriver.KV[string, int64]{"a", 3}))
	if out.Len() != 3 {
		t.Fatalf("Len = %d", out.Len())
	}
	kv, err := out.ReadKeyValue()
	must(t, err)
	if kv.Key != "a" || kv.Value != 1 {
		t.Errorf("first = %+v", kv)
	}
	rs, err := out.ReadRecords()
	must(t, err)
	if len(rs) != 2 || rs[0].Timestamp() != 15 || rs[1].Timestamp() != 20 {
		t.Errorf("rest = %v", rs)
	}
	if !out.IsEmpty() {
		t.Error("not empty after reading all")
	}
}

func TestGlobalStoreIsFedFromItsTopicAndReadableByProcessors(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("prices"), record.String(), record.Int64()),
		"prices", record.String(), record.Int64())
	processor.AddSource(b, "orders", record.String(), record.Int64(), "orders")
	processor.AddProcessor(b, "total", func() processor.Processor[string, int64, string, int64] {
		var prices store.KeyValueStore[string, int64]
		return &funcProc[string, int64, string, int64]{
			init: func(ctx processor.Context[string, int64]) (err error) {
				prices, err = processor.KeyValueStore[string, int64](ctx, "prices")
				return err
			},
			process: func(ctx processor.Context[string, int64], r record.Record[string, int64]) error {
				p, ok, err := prices.Get(r.Key())
				if err != nil || !ok {
					return err
				}
				return ctx.Forward(r.WithValue(p * r.Value()))
			},
		}
	}, "orders")
	processor.AddSink(b, "out", "totals", record.String(), record.Int64(), "total")
	d := newDriver(t, b, testdriver.Config{})
	prices := testdriver.CreateInputTopic(d, "prices", record.String(), record.Int64())
	orders := testdriver.CreateInputTopic(d, "orders", record.String(), record.Int64())
	must(t, prices.Pipe("tea", 3, 1))
	must(t, orders.Pipe("tea", 4, 2))
	must(t, orders.Pipe("cake", 1, 3)) // no price: nothing
	must(t, prices.Pipe("tea", 5, 4))
	must(t, orders.Pipe("tea", 2, 5))
	got, err := testdriver.CreateOutputTopic(d, "totals", record.String(), record.Int64()).ReadValues()
	must(t, err)
	if fmt.Sprint(got) != "[12 10]" {
		t.Errorf("totals %v, want [12 10]", got)
	}
}

type funcProc[KI, VI, KO, VO any] struct {
	ctx     processor.Context[KO, VO]
	init    func(processor.Context[KO, VO]) error
	process func(processor.Context[KO, VO], record.Record[KI, VI]) error
}

func (f *funcProc[KI, VI, KO, VO]) Init(ctx processor.Context[KO, VO]) error {
	f.ctx = ctx
	return f.init(ctx)
}
func (f *funcProc[KI, VI, KO, VO]) Process(r record.Record[KI, VI]) error { return f.process(f.ctx, r) }
func (f *funcProc[KI, VI, KO, VO]) Close() error                          { return nil }

// A panicking timestamp extractor is a bug like an extractor's error: it
// stops the task even under log-and-continue, never a quiet skip.
func TestPanickingTimestampExtractorFailsEvenUnderLogAndContinue(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in").
		WithTimestampExtractor(record.TimestampExtractorFunc(func(*record.ConsumerRecord, int64) (int64, error) {
			panic("extractor bug")
		}))
	processor.AddSink(b, "out", "out", record.String(), record.String(), "src")
	d := newDriver(t, b, testdriver.Config{DeserializationHandler: handler.LogAndContinue{}})
	err := d.PipeRaw("in", []byte("k"), []byte("v"), 1)
	var de *record.DeserializationError
	if !errors.Is(err, handler.ErrPanic) || errors.As(err, &de) || !strings.Contains(err.Error(), "timestamp extractor") {
		t.Fatalf("error = %v, want a fatal timestamp-extractor panic, not a deserialization error", err)
	}
}

// Records a sink writes to a global store's topic reach the store, as the
// runtime's global goroutine would apply them; records the store cannot take
// are skipped, logged and counted, not fatal.
func TestGlobalStoreTakesSinkOutputAndSkipsRecordsItCannotRead(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("prices"), record.String(), record.Int64()),
		"prices", record.String(), record.Int64())
	processor.AddSource(b, "updates", record.String(), record.Int64(), "price-updates")
	processor.AddSink(b, "to-prices", "prices", record.String(), record.Int64(), "updates")
	d := newDriver(t, b, testdriver.Config{})
	must(t, testdriver.CreateInputTopic(d, "price-updates", record.String(), record.Int64()).Pipe("tea", 3, 1))
	prices, err := testdriver.KeyValueStore[string, int64](d, "prices")
	must(t, err)
	if v, ok, err := prices.Get("tea"); err != nil || !ok || v != 3 {
		t.Errorf("global store has tea=%d %v %v, want 3 written through the sink", v, ok, err)
	}
	must(t, d.PipeRaw("prices", nil, []byte("12345678"), 2))
	must(t, d.PipeRaw("prices", []byte("cake"), []byte("short"), 3))
	want := map[string]int64{processor.GlobalSkipNullKey: 1, processor.GlobalSkipDeserialization: 1}
	if got := d.SkippedGlobalRecords(); !maps.Equal(got, want) {
		t.Errorf("skipped %v, want %v", got, want)
	}
}
