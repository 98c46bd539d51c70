package testdriver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// keeper keeps its Context, as a processor that hands work to goroutines of
// its own does, and records what Forward does inside Close.
type keeper struct {
	ctx          processor.Context[string, string]
	forwardClose error
}

func (k *keeper) Init(ctx processor.Context[string, string]) error {
	k.ctx = ctx
	return nil
}
func (k *keeper) Process(r record.Record[string, string]) error { return k.ctx.Forward(r) }
func (k *keeper) Close() error {
	r, _ := record.New("late", "from-close", 5)
	k.forwardClose = k.ctx.Forward(r)
	return nil
}

func TestProcessorContextIsCancelledAndRefusesForwardAndScheduleAfterClose(t *testing.T) {
	k := &keeper{}
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "keep", func() processor.Processor[string, string, string, string] { return k }, "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "keep")
	topo, err := b.Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{})
	must(t, err)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	must(t, in.Pipe("a", "1", 1))
	if k.ctx.Err() != nil {
		t.Fatalf("context of a running task is done: %v", k.ctx.Err())
	}
	select {
	case <-k.ctx.Done():
		t.Fatal("Done is closed while the task runs")
	default:
	}
	must(t, d.Close())

	select {
	case <-k.ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed after the task closed")
	}
	if !errors.Is(context.Cause(k.ctx), processor.ErrTaskClosed) {
		t.Errorf("cause = %v, want ErrTaskClosed", context.Cause(k.ctx))
	}
	if !errors.Is(k.forwardClose, processor.ErrTaskClosed) {
		t.Errorf("Forward inside Close = %v, want ErrTaskClosed", k.forwardClose)
	}
	// A goroutine that kept the Context (a zombie after a rebalance) can
	// reach no output.
	done := make(chan [3]error)
	go func() {
		r, _ := record.New("zombie", "x", 9)
		_, serr := k.ctx.Schedule(time.Second, punctuate.StreamTime, func(int64) error { return nil })
		done <- [3]error{k.ctx.Forward(r), k.ctx.ForwardTo("out", r), serr}
	}()
	for i, err := range <-done {
		if !errors.Is(err, processor.ErrTaskClosed) {
			t.Errorf("call %d after close = %v, want ErrTaskClosed", i, err)
		}
	}
	got, err := out.ReadRecords()
	must(t, err)
	if len(got) != 1 || got[0].Key() != "a" {
		t.Errorf("outputs = %v, want only the record processed while running", got)
	}
}
