package streams_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// slowCloser blocks on "block" (ignoring its context) until release is
// closed, forwards everything else, and takes closeTime to close.
type slowCloser struct {
	ctx       processor.Context[string, string]
	release   chan struct{}
	entered   *atomic.Bool
	closeTime time.Duration
}

func (p *slowCloser) Init(ctx processor.Context[string, string]) error { p.ctx = ctx; return nil }

func (p *slowCloser) Process(r record.Record[string, string]) error {
	if r.Key() == "block" {
		p.entered.Store(true)
		<-p.release
		return nil
	}
	return p.ctx.Forward(r)
}

func (p *slowCloser) Close() error { time.Sleep(p.closeTime); return nil }

// A task stuck in a processor call at shutdown is given up on after
// CloseTimeout; the others are healthy and must close normally (clean,
// with their checkpoints), and Run must name only the stuck task.
//
// The bug this proves fixed: the shutdown's final commit waited for the stuck task until the
// close deadline (awaitRound with closing set uses the deadline as its soft
// limit), and closeAll then closes the tasks one after the other against
// that same, already passed, deadline: every task after the stuck one gets
// `time.After(<= 0)` for its close reply and is given up on too, even one
// that closes in a fraction of a second (here 0_1, whose processor takes
// 200 ms to close). The same happens on a revoke or a failure shutdown with
// a task stuck earlier in id order. Run reports ErrTaskStuck for healthy
// tasks, they close dirty on their own goroutines after Run returned (no
// checkpoint: under exactly-once the next start wipes and restores their
// stores in full).
func TestOneTaskStuckAtShutdownDoesNotMakeTheRuntimeGiveUpOnTheOthers(t *testing.T) {
	cl := cluster(t, map[string]int32{"in": 2, "out": 2})
	release := make(chan struct{})
	var entered atomic.Bool
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "p", func() processor.Processor[string, string, string, string] {
		return &slowCloser{release: release, entered: &entered, closeTime: 200 * time.Millisecond}
	}, "in")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "p")
	topo, err := bld.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "stuck-one", BootstrapServers: cl.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, CloseTimeout: 2 * time.Second})
	t.Cleanup(func() {
		// Tasks given up on close on their own goroutines once their call
		// returns: let them finish (and log) before the test ends.
		close(release)
		time.Sleep(time.Second)
	})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, cl.Bootstrap(), "in", 0, "block")
	waitFor(t, 10*time.Second, "task 0_0 is inside its call", entered.Load)
	produceTo(t, cl.Bootstrap(), "in", 1, "free")
	consumeUntil(t, cl.Bootstrap(), "out", false, 10*time.Second, func(o []consumed) bool { return len(o) >= 1 }, app)
	err = closeWithin(t, app, 20*time.Second)
	if !errors.Is(err, streams.ErrTaskStuck) || !strings.Contains(err.Error(), "0_0") {
		t.Fatalf("Close: %v, want ErrTaskStuck naming task 0_0", err)
	}
	if strings.Contains(err.Error(), "0_1") {
		t.Fatalf("Close: %v: the healthy task 0_1 was given up on", err)
	}
}
