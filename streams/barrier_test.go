package streams_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

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

// abortTopology forwards every record to "out", except: the first "poison"
// goes to "fail-out", whose produce requests the broker refuses, so the
// open transaction must abort; the first "zombie" call waits until release
// is closed, then forwards its record (and returns the forward's error); the
// first "slow" call sleeps slowPause, then forwards.
func abortTopology(t *testing.T, zombieIn *atomic.Bool, release chan struct{}, slowPause time.Duration) *processor.Topology {
	var poisoned, slowIn atomic.Bool
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "p", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		switch {
		case r.Key() == "poison" && poisoned.CompareAndSwap(false, true):
			return ctx.Forward(r.WithKey("poison-to-fail-out"))
		case r.Key() == "zombie" && zombieIn.CompareAndSwap(false, true):
			<-release
			return ctx.Forward(r)
		case r.Key() == "slow" && slowIn.CompareAndSwap(false, true):
			time.Sleep(slowPause)
			return ctx.Forward(r)
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSinkFunc(bld, "out", func(r record.Record[string, string]) string {
		if r.Key() == "poison-to-fail-out" {
			return "fail-out"
		}
		return "out"
	}, record.String(), record.String(), "p")
	topo, err := bld.Build()
	must(t, err)
	return topo
}

// failingCluster is an embedded cluster whose broker answers every produce
// request for failTopic with a retriable error, so records for it time out
// in flight and a transaction holding one must abort.
func failingCluster(t *testing.T, topics map[string]int32, failTopic string) string {
	t.Helper()
	return refusingCluster(t, topics, failTopic, kerr.NotEnoughReplicas.Code)
}

// refusingCluster is an embedded cluster whose broker answers every produce
// request for failTopic with the error code.
func refusingCluster(t *testing.T, topics map[string]int32, failTopic string, code int16) string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	for topic, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, topic))
	}
	c, err := kfake.NewCluster(opts...)
	must(t, err)
	t.Cleanup(c.Close)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		preq := req.(*kmsg.ProduceRequest)
		hit := false
		for _, tp := range preq.Topics {
			hit = hit || tp.Topic == failTopic
		}
		if !hit {
			return nil, nil, false
		}
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range preq.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return strings.Join(c.ListenAddrs(), ",")
}

// A transaction that fails outside a commit (a record times out in flight,
// so the next produce call of a task is refused and the task fails with a
// transaction failure) is aborted and every task restarts from the
// committed offsets. The bug: recoverFromAbort aborts the transaction and
// begins the next one before it closes the tasks, so a task still inside a
// processor call (here 0_1, on "zombie") writes into the new transaction
// before it takes its close. That write belongs to a task incarnation that
// is thrown away: its input offset is never committed, the new 0_1
// processes "zombie" again, and the next commit commits both outputs.
func TestTransactionAbortedOutsideACommitLetsNoClosingTaskWriteIntoTheNextTransaction(t *testing.T) {
	bootstrap := failingCluster(t, map[string]int32{"in": 2, "out": 2, "fail-out": 1}, "fail-out")
	var zombieIn atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	releaseSoon := func() { once.Do(func() { time.AfterFunc(time.Second, func() { close(release) }) }) }
	t.Cleanup(releaseSoon)
	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel), zaptest.WrapOptions(zap.Hooks(func(e zapcore.Entry) error {
		if strings.HasPrefix(e.Message, "transaction failed; aborting") {
			releaseSoon() // by then the abort is done and the next transaction open
		}
		return nil
	})))
	app := start(t, abortTopology(t, &zombieIn, release, 0), streams.Config{ApplicationID: "abort-zombie", BootstrapServers: bootstrap,
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: time.Hour, CloseTimeout: 10 * time.Second, Logger: logger,
		ProducerConfig: map[string]any{"message.timeout.ms": 1000}})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, bootstrap, "in", 1, "zombie")
	waitFor(t, 10*time.Second, "task 0_1 is inside its call", zombieIn.Load)
	produceTo(t, bootstrap, "in", 0, "poison")
	time.Sleep(2500 * time.Millisecond)      // the poison timed out: the transaction must abort
	produceTo(t, bootstrap, "in", 0, "next") // its produce call is refused: 0_0 fails, the App recovers
	waitFor(t, 20*time.Second, "the App recovers from the failed transaction", func() bool {
		select {
		case <-release:
			return true
		default:
			return false
		}
	})
	time.Sleep(2 * time.Second)                  // the tasks restart and process everything again
	must(t, closeWithin(t, app, 30*time.Second)) // the final commit
	seen := map[string]int{}
	for _, r := range consumeUntil(t, bootstrap, "out", true, 5*time.Second, func([]consumed) bool { return false }) {
		seen[string(r.key)]++
	}
	if seen["zombie"] != 1 || seen["poison"] != 1 || seen["next"] != 1 {
		t.Fatalf("committed outputs %v, want zombie=1 poison=1 next=1", seen)
	}
}

// An exactly-once commit goes on without a late task checked clean (here
// 0_0, inside a slow call), holding the task's sends at its gate; when the
// transaction then fails (0_1's "poison" times out), the App aborts and
// restarts the tasks. The bug: commitAll recovers while it still holds the
// late task's gate (it opens it in a deferred call, after the recovery), so
// the late task, whose call ends with a forward, waits at the gate and can
// neither answer its commit request nor take its close: the recovery waits
// CloseTimeout for it, gives up on it, and may then fail to reopen it
// while its goroutine still holds its state directory.
func TestTransactionFailingWhileATaskIsLateRecoversWithoutWaitingForTheCloseTimeout(t *testing.T) {
	bootstrap := failingCluster(t, map[string]int32{"in": 2, "out": 2, "fail-out": 1}, "fail-out")
	var zombieIn atomic.Bool
	gaveUp := make(chan string, 8)
	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel), zaptest.WrapOptions(zap.Hooks(func(e zapcore.Entry) error {
		if strings.HasPrefix(e.Message, "giving up on a task") {
			select {
			case gaveUp <- e.Message:
			default:
			}
		}
		return nil
	})))
	app := start(t, abortTopology(t, &zombieIn, nil, 4*time.Second), streams.Config{ApplicationID: "abort-late", BootstrapServers: bootstrap,
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: 100 * time.Millisecond, CloseTimeout: 20 * time.Second, Logger: logger,
		ProducerConfig: map[string]any{"message.timeout.ms": 1000}})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, bootstrap, "in", 0, "slow")
	time.Sleep(200 * time.Millisecond) // 0_0 is inside its call
	produceTo(t, bootstrap, "in", 1, "poison")
	out := consumeUntil(t, bootstrap, "out", true, 12*time.Second, func(o []consumed) bool { return len(o) >= 2 }, app)
	select {
	case msg := <-gaveUp:
		t.Fatalf("the recovery gave up on a task: %s", msg)
	default:
	}
	seen := map[string]int{}
	for _, r := range out {
		seen[string(r.key)]++
	}
	if seen["slow"] != 1 || seen["poison"] != 1 {
		t.Fatalf("committed outputs %v 12s after the failed transaction, want slow=1 poison=1", seen)
	}
}

// Close (or the end of Run's context) moves the App to PENDING_SHUTDOWN at
// once, for the whole shutdown, as the State docs say ("Close was called or
// Run's context ended; committing and closing") and as Kafka Streams does.
// The bug: the state stayed RUNNING until every task and client was closed
// and only then passed through PENDING_SHUTDOWN, so for up to CloseTimeout
// (here: a task stuck in a call) a closing App looked healthy. An error
// found while shutting down still ends in ERROR, as Run returns it.
func TestCloseMovesTheAppToPendingShutdownWhileItShutsDown(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	b := &blocker{release: make(chan struct{}), ignoreCtx: true}
	var mu sync.Mutex
	var states []string
	app := start(t, b.topology(t), streams.Config{ApplicationID: "pending-shutdown", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, CloseTimeout: 3 * time.Second,
		StateListener: func(from, to streams.State) {
			mu.Lock()
			states = append(states, to.String())
			mu.Unlock()
		}})
	t.Cleanup(func() {
		close(b.release)
		waitFor(t, 5*time.Second, "the processor returns", b.returned.Load)
		time.Sleep(200 * time.Millisecond) // the task given up on closes
	})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, c.Bootstrap(), "in", 0, "block")
	waitFor(t, 10*time.Second, "the blocking record is reached", b.entered.Load)
	closed := make(chan error, 1)
	go func() { closed <- app.app.Close() }()
	time.Sleep(time.Second) // the shutdown waits for the stuck task
	during := app.app.State()
	var err error
	select {
	case err = <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if during != streams.PendingShutdown {
		t.Errorf("state %s while Close waits for the tasks, want PENDING_SHUTDOWN", during)
	}
	if !errors.Is(err, streams.ErrTaskStuck) {
		t.Fatalf("Close: %v, want ErrTaskStuck", err)
	}
	if st := app.app.State(); st != streams.Error {
		t.Errorf("state %s after Close returned %v, want ERROR", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(states, " "); !strings.HasSuffix(got, "PENDING_SHUTDOWN PENDING_ERROR ERROR") {
		t.Errorf("state changes: %s, want them to end PENDING_SHUTDOWN PENDING_ERROR ERROR", got)
	}
}

// Under exactly-once a task stuck past TaskTimeout fails the App; another
// task, late for the same commit but only slow (checked clean, so its gate
// was held), must still close at once at the shutdown. The bug: when
// awaitRound's last pass held the slow task's gate and then found the
// stuck one (checkStuck), commitAll returned before it deferred opening
// the late tasks' gates, so the gate stayed held for good: the slow task's
// call ends with a forward that waits there, it can answer neither its
// commit request nor its close, and the shutdown waits CloseTimeout for it
// and gives up on it.
func TestTaskStuckPastTaskTimeoutDoesNotLeaveASlowTaskHeldAtItsGate(t *testing.T) {
	cl := cluster(t, map[string]int32{"in": 2, "out": 2})
	var slowIn, slowDone atomic.Bool
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "p", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		switch r.Key() {
		case "block":
			<-ctx.Done()
			return ctx.Err()
		case "slow":
			if slowIn.CompareAndSwap(false, true) {
				defer slowDone.Store(true)
				time.Sleep(8 * time.Second)
			}
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "p")
	topo, err := bld.Build()
	must(t, err)
	const taskTimeout, closeTimeout = 6 * time.Second, 15 * time.Second
	app := start(t, topo, streams.Config{ApplicationID: "stuck-and-slow", BootstrapServers: cl.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: 100 * time.Millisecond,
		TaskTimeout: taskTimeout, CloseTimeout: closeTimeout})
	t.Cleanup(func() { waitFor(t, 15*time.Second, "the slow call returns", slowDone.Load) })
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, cl.Bootstrap(), "in", 0, "block")
	began := time.Now()
	time.Sleep(2 * time.Second)
	produceTo(t, cl.Bootstrap(), "in", 1, "slow") // inside its call (clean) when 0_0 passes TaskTimeout
	waitFor(t, 3*time.Second, "task 0_1 is inside its slow call", slowIn.Load)
	var runErr error
	select {
	case runErr = <-app.done:
	case <-time.After(taskTimeout + closeTimeout + 10*time.Second):
		t.Fatal("Run did not return")
	}
	if !errors.Is(runErr, streams.ErrTaskStuck) || !strings.Contains(runErr.Error(), "task 0_0") {
		t.Fatalf("Run: %v, want ErrTaskStuck naming task 0_0", runErr)
	}
	if el := time.Since(began); el > taskTimeout+closeTimeout/2 {
		t.Errorf("Run returned %v after the task got stuck (TaskTimeout %v): the shutdown waited for the slow task", el, taskTimeout)
	}
}

// Under exactly-once a commit waits for a late task that wrote into the
// transaction (here 0_1, inside a long call after a forward). If another
// task's commit fails meanwhile (here 0_0's: its cache flush writes a
// changelog record the producer refuses), the commit cannot succeed and the
// App must stop with the failure at once. The bug: awaitRound keeps
// waiting for the dirty task although an answer already carries an error,
// so the App stays RUNNING, every task held, with a known fatal error until
// the long call returns (or TaskTimeout passes).
func TestTaskCommitFailingWhileACommitWaitsForADirtyTaskStopsTheAppAtOnce(t *testing.T) {
	cl := cluster(t, map[string]int32{"in": 3, "out": 3})
	var hugeIn, dirtyIn, dirtyDone atomic.Bool
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "p", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		switch r.Key() {
		case "huge": // cached: the changelog write happens at the next commit
			s, err := processor.KeyValueStore[string, string](ctx, "big")
			if err != nil {
				return err
			}
			defer hugeIn.Store(true)
			return s.Put(r.Key(), strings.Repeat("x", 2<<20))
		case "slow-dirty":
			if err := ctx.Forward(r); err != nil {
				return err
			}
			if dirtyIn.CompareAndSwap(false, true) {
				defer dirtyDone.Store(true)
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Second):
				}
			}
			return nil
		case "commit":
			ctx.Commit()
		}
		return ctx.Forward(r)
	}), "in").WithStores("big")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "p")
	bld.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("big"), record.String(), record.String()).WithCaching())
	topo, err := bld.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "fail-while-waiting", BootstrapServers: cl.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: time.Hour,
		TaskTimeout: time.Minute, CloseTimeout: 3 * time.Second})
	t.Cleanup(func() { waitFor(t, 25*time.Second, "the long call returns", dirtyDone.Load) })
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, cl.Bootstrap(), "in", 0, "huge")
	waitFor(t, 10*time.Second, "task 0_0 cached the huge value", hugeIn.Load)
	produceTo(t, cl.Bootstrap(), "in", 1, "slow-dirty")
	waitFor(t, 10*time.Second, "task 0_1 is inside its call", dirtyIn.Load)
	produceTo(t, cl.Bootstrap(), "in", 2, "commit") // task 0_2 asks for a commit
	began := time.Now()
	select {
	case err := <-app.done:
		if err == nil || !strings.Contains(err.Error(), "fail-while-waiting-big-changelog") {
			t.Fatalf("Run: %v, want task 0_0's refused changelog write", err)
		}
		if el := time.Since(began); el > 10*time.Second {
			t.Errorf("Run returned %v after the commit was asked for: the failed commit waited for the dirty task's call", el)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("Run did not return (state %s)", app.app.State())
	}
}
