package streams_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// lateTasksTopology: every record is written into a cached, logged store
// "seen" (a cache write reaches the changelog only at the next commit's
// flush) and forwarded, except that "slow-clean" is only stored (nothing is
// sent) and then its call sleeps cleanPause, and "slow-dirty" is forwarded
// (the task wrote into the open transaction) and then its call sleeps
// dirtyPause. Each pause happens once. cleanIn and dirtyIn report that the
// calls began.
func lateTasksTopology(t *testing.T, cleanPause, dirtyPause time.Duration, cleanIn, dirtyIn *atomic.Bool) *processor.Topology {
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "p", func() processor.Processor[string, string, string, string] {
		return &lateTasksProcessor{cleanPause: cleanPause, dirtyPause: dirtyPause, cleanIn: cleanIn, dirtyIn: dirtyIn}
	}, "in").WithStores("seen")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "p")
	bld.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("seen"), record.String(), record.String()).WithCaching())
	topo, err := bld.Build()
	must(t, err)
	return topo
}

type lateTasksProcessor struct {
	ctx                    processor.Context[string, string]
	seen                   store.KeyValueStore[string, string]
	cleanPause, dirtyPause time.Duration
	cleanIn, dirtyIn       *atomic.Bool
}

func (p *lateTasksProcessor) Init(ctx processor.Context[string, string]) (err error) {
	p.ctx = ctx
	p.seen, err = processor.KeyValueStore[string, string](ctx, "seen")
	return err
}

func (p *lateTasksProcessor) Process(r record.Record[string, string]) error {
	if err := p.seen.Put(r.Key(), r.Value()); err != nil {
		return err
	}
	switch {
	case r.Key() == "slow-clean" && p.cleanIn.CompareAndSwap(false, true):
		time.Sleep(p.cleanPause)
		return nil
	case r.Key() == "slow-dirty" && p.dirtyIn.CompareAndSwap(false, true):
		if err := p.ctx.Forward(r); err != nil {
			return err
		}
		time.Sleep(p.dirtyPause)
		return nil
	}
	return p.ctx.Forward(r)
}

func (p *lateTasksProcessor) Close() error { return nil }

// Under exactly-once a commit that waits for a late task which wrote into
// the transaction (task 0_1, "slow-dirty") holds the gates of the late
// tasks it checked clean (task 0_0, inside "slow-clean"). The bug: while
// it keeps waiting, awaitRound re-holds 0_0's gate on every pass and never
// opens it, although 0_0 may answer meanwhile. When 0_0's call returns
// (before 0_1's), its commit flushes its cache, and the changelog write
// waits at its held gate; 0_0 is then "committing", which awaitRound waits
// for, and nothing opens the gate: every task waits until 0_0 is past
// TaskTimeout, and the App fails with ErrTaskStuck although no processor
// call is stuck.
func TestLateCleanTaskThatAnswersWhileTheCommitWaitsForADirtyOneIsNotHeldAtItsGate(t *testing.T) {
	cl := cluster(t, map[string]int32{"in": 2, "out": 2, "late-gate-seen-changelog": 2})
	var cleanIn, dirtyIn atomic.Bool
	const taskTimeout = 10 * time.Second
	app := start(t, lateTasksTopology(t, 4*time.Second, 7*time.Second, &cleanIn, &dirtyIn), streams.Config{ApplicationID: "late-gate",
		BootstrapServers: cl.Bootstrap(), ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: 100 * time.Millisecond,
		TaskTimeout: taskTimeout, CloseTimeout: 5 * time.Second})
	waitState(t, app.app, streams.Running, 30*time.Second)
	// 0_0 enters its clean call first, so the commits that wait for 0_1
	// find it late and clean.
	produceTo(t, cl.Bootstrap(), "in", 0, "slow-clean", "after-clean")
	waitFor(t, 10*time.Second, "task 0_0 is inside its call", cleanIn.Load)
	produceTo(t, cl.Bootstrap(), "in", 1, "slow-dirty", "after-dirty")
	waitFor(t, 10*time.Second, "task 0_1 is inside its call", dirtyIn.Load)
	began := time.Now()
	want := map[string]bool{"slow-dirty": true, "after-dirty": true, "after-clean": true}
	out := consumeUntil(t, cl.Bootstrap(), "out", true, taskTimeout+10*time.Second, func(o []consumed) bool {
		n := 0
		for _, r := range o {
			if want[string(r.key)] {
				n++
			}
		}
		return n >= len(want)
	}, app)
	if len(out) < len(want) {
		t.Fatalf("after %v the committed output holds %d records, want %d (state %s)", time.Since(began).Round(time.Millisecond),
			len(out), len(want), app.app.State())
	}
	if st := app.app.State(); st != streams.Running {
		t.Fatalf("state %s, want RUNNING", st)
	}
}
