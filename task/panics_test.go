package task

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

func TestZeroTaskRunsNothingAndAnswersWithErrIllegalTransition(t *testing.T) {
	var tk Task
	noPanic(t, "zero Task", func() {
		for name, err := range map[string]error{
			"InitializeStores":    tk.InitializeStores(),
			"CompleteRestoration": tk.CompleteRestoration(),
			"AddRecords":          tk.AddRecords("t", 0, []record.ConsumerRecord{{Topic: "t"}}),
			"SetLag":              tk.SetLag("t", 0, 0),
			"SetPartitionTime":    tk.SetPartitionTime("t", 0, 1),
			"Suspend":             tk.Suspend(),
			"Resume":              tk.Resume(),
		} {
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("%s = %v, want ErrIllegalTransition", name, err)
			}
		}
		if ok, err := tk.Process(); ok || err == nil {
			t.Errorf("Process = %v, %v; want false and an error", ok, err)
		}
		if _, err := tk.Commit(); err == nil {
			t.Error("Commit of a zero Task succeeded")
		}
		if ok, err := tk.PunctuateWallClock(); ok || err != nil {
			t.Errorf("PunctuateWallClock = %v, %v", ok, err)
		}
		tk.Cancel()
		if tk.StreamTime() != record.UnknownTime {
			t.Errorf("StreamTime = %d", tk.StreamTime())
		}
		if tk.WallClockTime() <= 0 {
			t.Errorf("WallClockTime = %d, want the system clock", tk.WallClockTime())
		}
		if tk.Stats() == nil || tk.Stats().Dropped() != 0 {
			t.Error("Stats of a zero Task is not empty")
		}
		if len(tk.Partitions()) != 0 || len(tk.Stores()) != 0 {
			t.Error("a zero Task has partitions or stores")
		}
		if _, ok := tk.Store("s"); ok {
			t.Error("a zero Task has a store")
		}
		_, _ = tk.NextWallClockPunctuation()
		if err := tk.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		if tk.State() != Closed {
			t.Errorf("state after Close = %v", tk.State())
		}
	})
}

// scheduleInInit schedules with the interval given and keeps what it got.
type scheduleInInit struct {
	interval time.Duration
	typ      punctuate.Type
	got      punctuate.Cancellable
	err      error
}

func (p *scheduleInInit) Init(ctx processor.Context[string, string]) error {
	p.got, p.err = ctx.Schedule(p.interval, p.typ, func(int64) error { return nil })
	return nil
}
func (p *scheduleInInit) Process(record.Record[string, string]) error { return nil }
func (p *scheduleInInit) Close() error                                { return nil }

func TestScheduleThatFailsReturnsANilCancellable(t *testing.T) {
	for _, typ := range []punctuate.Type{punctuate.StreamTime, punctuate.WallClock, punctuate.Type(9)} {
		p := &scheduleInInit{interval: 0, typ: typ}
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] { return p }, "in")
		topo, err := b.Build()
		must(t, err)
		runningTask(t, Config{Topology: topo, Clock: &fakeClock{}})
		if p.err == nil {
			t.Errorf("%v: Schedule(0) returned no error", typ)
		}
		if p.got != nil {
			t.Errorf("%v: Schedule failed but returned a non-nil Cancellable %#v", typ, p.got)
		}
	}
}

// panickyStore panics in the method named by where.
type panickyStore struct{ name, where string }

func (s *panickyStore) Name() string { return s.name }
func (s *panickyStore) Init(store.InitContext) error {
	if s.where == "init" {
		panic("init")
	}
	return nil
}
func (s *panickyStore) Flush() error { return nil }
func (s *panickyStore) Close() error {
	if s.where == "close" {
		panic("close")
	}
	return nil
}
func (s *panickyStore) Persistent() bool { return false }

type panickyStoreBuilder struct{ name, where string }

func (b panickyStoreBuilder) Name() string { return b.name }
func (b panickyStoreBuilder) Build() (store.StateStore, error) {
	return &panickyStore{b.name, b.where}, nil
}
func (panickyStoreBuilder) Types() (k, v reflect.Type) { return nil, nil }

func TestAStoreThatPanicsInInitOrCloseIsAnErrorOfTheTask(t *testing.T) {
	for _, where := range []string{"init", "close"} {
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "p", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error { return nil }), "in")
		b.AddStore(panickyStoreBuilder{name: "s", where: where}, "p")
		topo, err := b.Build()
		must(t, err)
		tk, err := New(Config{Topology: topo, Collector: &memCollector{}, Clock: &fakeClock{}})
		must(t, err)
		noPanic(t, where, func() {
			err = tk.InitializeStores()
			if where == "close" {
				must(t, err)
				must(t, tk.CompleteRestoration())
				err = tk.Close()
			} else {
				_ = tk.Close()
			}
		})
		if !errors.Is(err, handler.ErrPanic) || !strings.Contains(err.Error(), where) {
			t.Errorf("%s: error = %v, want one wrapping handler.ErrPanic", where, err)
		}
	}
}
