package task

import (
	"errors"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// ticker schedules a stream-time punctuator that forwards the time it fired
// at; process forwards each record, or fails when fail is set.
func tickerTopology(t *testing.T, fail error, fired *[]int64) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "tick", func() processor.Processor[string, string, string, string] {
		return &tickProc{fail: fail, fired: fired}
	}, "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "tick")
	topo, err := b.Build()
	must(t, err)
	return topo
}

type tickProc struct {
	ctx   processor.Context[string, string]
	fail  error
	fired *[]int64
}

func (p *tickProc) Init(ctx processor.Context[string, string]) error {
	p.ctx = ctx
	_, err := ctx.Schedule(time.Second, punctuate.StreamTime, func(ts int64) error {
		*p.fired = append(*p.fired, ts)
		return nil
	})
	return err
}

func (p *tickProc) Process(r record.Record[string, string]) error {
	if p.fail != nil {
		return p.fail
	}
	return p.ctx.Forward(r)
}

func (p *tickProc) Close() error { return nil }

func TestStreamTimePunctuatorFiresAtRestoredStreamTimeWithoutANewRecord(t *testing.T) {
	var fired []int64
	tk, err := New(Config{ID: processor.TaskID{Partition: 2}, Topology: tickerTopology(t, nil, &fired), Collector: &memCollector{}})
	must(t, err)
	t.Cleanup(func() { must(t, tk.Close()) })
	must(t, tk.InitializeStores())
	must(t, tk.SetPartitionTime("in", 2, 5_500)) // from committed metadata
	must(t, tk.CompleteRestoration())
	if len(fired) != 1 || fired[0] != 5_500 {
		t.Fatalf("punctuator fired at %v after restoration, want once at the restored stream time 5500", fired)
	}
	// The grid continues from the restored time: the next point is 6000.
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{raw("in", 0, 5_900, "a"), raw("in", 1, 6_000, "b")}))
	drain(t, tk)
	if len(fired) != 2 || fired[1] != 6_000 {
		t.Fatalf("fired %v, want [5500 6000]", fired)
	}
}

func TestStreamTimePunctuatorWaitsForTheFirstRecordWithoutRestoredTime(t *testing.T) {
	var fired []int64
	runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: tickerTopology(t, nil, &fired)})
	if len(fired) != 0 {
		t.Fatalf("punctuator fired at %v before any record or restored time", fired)
	}
}

type panickingHandler struct{}

func (panickingHandler) OnProcessingError(*handler.ErrorContext, *handler.ProcessingError) handler.Response {
	panic("handler bug")
}

func (panickingHandler) OnDeserializationError(*handler.ErrorContext, *record.ConsumerRecord, error) handler.Response {
	panic("handler bug")
}

func TestPanickingProcessingHandlerFailsTheTaskInsteadOfCrashing(t *testing.T) {
	for _, c := range []struct {
		name string
		proc processor.Supplier[string, string, string, string]
	}{
		{"error", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error {
			return errors.New("boom")
		})},
		{"panic", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error {
			panic("processor bug")
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := processor.NewBuilder()
			processor.AddSource(b, "in", record.String(), record.String(), "in")
			processor.AddProcessor(b, "p", c.proc, "in")
			topo, err := b.Build()
			must(t, err)
			tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: topo, ProcessingHandler: panickingHandler{}})
			must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{raw("in", 7, 1, "a")}))
			_, err = tk.Process()
			if !errors.Is(err, handler.ErrHandlerPanic) {
				t.Fatalf("Process = %v, want an error wrapping ErrHandlerPanic", err)
			}
		})
	}
}

func TestPanickingDeserializationHandlerFailsTheTaskInsteadOfCrashing(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	topo, err := b.Build()
	must(t, err)
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: topo, DeserializationHandler: panickingHandler{}})
	// The head record is decoded when it arrives.
	err = tk.AddRecords("in", 2, []record.ConsumerRecord{raw("in", 3, 1, "not eight bytes")})
	if !errors.Is(err, handler.ErrHandlerPanic) {
		t.Fatalf("AddRecords = %v, want an error wrapping ErrHandlerPanic", err)
	}
}

func TestRecordFailingAfterCancelSkipsTheHandlerAndIsNotCommitted(t *testing.T) {
	var fired []int64
	asked := 0
	h := handlerFunc(func(*handler.ProcessingError) handler.Response { asked++; return handler.ContinueWith() })
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: tickerTopology(t, errors.New("call aborted"), &fired),
		ProcessingHandler: h})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{raw("in", 0, 1, "a"), raw("in", 1, 2, "b")}))
	if _, err := tk.Process(); err != nil { // the handler skips it
		t.Fatal(err)
	}
	tk.Cancel()
	_, err := tk.Process()
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("Process after Cancel = %v, want ErrCancelled", err)
	}
	if asked != 1 {
		t.Fatalf("handler asked %d times, want once (not for the cancelled record)", asked)
	}
}

type handlerFunc func(*handler.ProcessingError) handler.Response

func (f handlerFunc) OnProcessingError(_ *handler.ErrorContext, pe *handler.ProcessingError) handler.Response {
	return f(pe)
}

type refusingChangelog struct{}

func (refusingChangelog) Log(string, []byte, []byte, int64) error {
	return errors.New("broker said no")
}

func TestRefusedChangelogWriteFailsTheTaskUnderLogAndContinue(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "put", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		s, err := processor.KeyValueStore[string, string](ctx, "s")
		if err != nil {
			return err
		}
		return s.Put(r.Key(), r.Value())
	}), "in").WithStores("s")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("s"), record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: topo, ProcessingHandler: handler.LogAndContinue{},
		Changelog: refusingChangelog{}})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{raw("in", 0, 1, "a")}))
	_, err = tk.Process()
	if !errors.Is(err, store.ErrChangelogWrite) {
		t.Fatalf("Process = %v, want the changelog failure (no handler may skip it)", err)
	}
	if n := tk.Stats().DroppedProcessingError.Load(); n != 0 {
		t.Errorf("%d records dropped as processing errors", n)
	}
}
