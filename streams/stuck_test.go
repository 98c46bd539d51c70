package streams_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// produceTo writes values to one partition of topic.
func produceTo(t testing.TB, bootstrap, topic string, partition int32, values ...string) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "go.delivery.reports": false, "go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer p.Close()
	for _, v := range values {
		must(t, p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
			Key: []byte(v), Value: []byte(v)}, nil))
	}
	if n := p.Flush(10_000); n > 0 {
		t.Fatalf("%d records not delivered", n)
	}
}

// blocker forwards every record; on "block" it forwards it (first, when
// dirty, else after) and meanwhile waits until its task's context ends (cancelled) or release is closed
// (ignoring its context when ignoreCtx is set).
type blocker struct {
	release   chan struct{}
	ignoreCtx bool
	// dirty: forward "block" before blocking. A small record stays in
	// the task's batch until the call returns; with bigValue set it goes
	// to the producer at once (it is near message.max.bytes), so under
	// exactly-once the task has written into the open transaction.
	dirty    bool
	bigValue bool
	entered  atomic.Bool
	sawDone  atomic.Bool
	returned atomic.Bool
}

func (b *blocker) topology(t *testing.T) *processor.Topology {
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "maybe-block", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if r.Key() != "block" || b.dirty {
			if r.Key() == "block" && b.bigValue {
				r = r.WithValue(strings.Repeat("x", 999_000))
			}
			if err := ctx.Forward(r); err != nil {
				return err
			}
		}
		if r.Key() != "block" {
			return nil
		}
		b.entered.Store(true)
		defer b.returned.Store(true)
		done := ctx.Done()
		if b.ignoreCtx {
			done = nil
		}
		select {
		case <-done:
			b.sawDone.Store(true)
			return ctx.Err()
		case <-b.release:
			if b.dirty {
				return nil
			}
			return ctx.Forward(r)
		}
	}), "in")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "maybe-block")
	topo, err := bld.Build()
	must(t, err)
	return topo
}

// blocked returns the App's TaskMetrics.Blocked of task id, in seconds.
func blocked(app *streams.App, id string) float64 {
	for _, tm := range app.Metrics().Tasks {
		if tm.ID.String() == id {
			return tm.Blocked.Seconds()
		}
	}
	return 0
}

func TestStuckProcessorDoesNotHoldOtherTasksAndFailsTheAppAfterTaskTimeout(t *testing.T) {
	for _, c := range []struct {
		name            string
		g               streams.Guarantee
		dirty, bigValue bool
		othersHeld      bool
	}{
		{"at_least_once", streams.AtLeastOnce, true, false, false},
		// Under exactly-once the instance commits one transaction: a stuck
		// task that wrote into it holds the others' commits, one that did
		// not does not, and neither does one whose output is still in its
		// batch (it reaches the producer, through the gate, only once the
		// call returns).
		{"exactly_once_v2/clean", streams.ExactlyOnceV2, false, false, false},
		{"exactly_once_v2/wrote_into_its_batch", streams.ExactlyOnceV2, true, false, false},
		{"exactly_once_v2/wrote_into_the_transaction", streams.ExactlyOnceV2, true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) { stuckTask(t, c.g, c.dirty, c.bigValue, c.othersHeld) })
	}
}

func stuckTask(t *testing.T, g streams.Guarantee, dirty, bigValue, othersHeld bool) {
	cl := cluster(t, map[string]int32{"in": 2, "out": 2})
	b := &blocker{release: make(chan struct{}), dirty: dirty, bigValue: bigValue}
	defer close(b.release)
	const taskTimeout = 6 * time.Second
	cfg := streams.Config{ApplicationID: "stuck", BootstrapServers: cl.Bootstrap(), ProcessingGuarantee: g,
		CommitInterval: 100 * time.Millisecond, TaskTimeout: taskTimeout, CloseTimeout: 2 * time.Second}
	app := start(t, b.topology(t), cfg)
	waitState(t, app.app, streams.Running, 30*time.Second)
	began := time.Now()
	produceTo(t, cl.Bootstrap(), "in", 0, "block")
	waitFor(t, 10*time.Second, "the blocking record is reached", b.entered.Load)
	for i := 0; i < 5; i++ {
		produceTo(t, cl.Bootstrap(), "in", 1, "free")
		time.Sleep(200 * time.Millisecond)
	}
	countFree := func(o []consumed) int {
		n := 0
		for _, r := range o {
			if string(r.key) == "free" {
				n++
			}
		}
		return n
	}
	out := consumeUntil(t, cl.Bootstrap(), "out", g == streams.ExactlyOnceV2, 3*time.Second, func(o []consumed) bool { return countFree(o) >= 5 })
	free := countFree(out)
	switch {
	case othersHeld && free > 0:
		t.Fatalf("%d outputs of task 0_1 committed while task 0_0 had uncommitted writes in the transaction", free)
	case !othersHeld && free < 5:
		t.Fatalf("task 0_1 produced %d of 5 outputs while task 0_0 was stuck", free)
	case !othersHeld:
		waitFor(t, 5*time.Second, "task 0_1's offsets are committed while 0_0 is stuck", func() bool {
			return committedOffset(t, cl.Bootstrap(), "stuck", "in", 1) == 5
		})
	}
	if s := blocked(app.app, "0_0"); !othersHeld && s <= 0 {
		t.Errorf("task 0_0 blocked %v s while it is stuck, want > 0", s)
	}
	if s := blocked(app.app, "0_1"); s > 0 {
		t.Errorf("task 0_1 blocked %v s, want 0", s)
	}
	if st := app.app.State(); st != streams.Running {
		t.Errorf("state %s before TaskTimeout, want RUNNING", st)
	}
	// Past TaskTimeout the App fails, naming the task; the stuck
	// processor's context is cancelled so its call can end.
	select {
	case err := <-app.done:
		if !errors.Is(err, streams.ErrTaskStuck) || !strings.Contains(err.Error(), "task 0_0") {
			t.Fatalf("Run: %v, want ErrTaskStuck naming task 0_0", err)
		}
		if el := time.Since(began); el < taskTimeout || el > taskTimeout+10*time.Second {
			t.Errorf("Run returned after %v, want soon after TaskTimeout %v", el, taskTimeout)
		}
	case <-time.After(taskTimeout + 30*time.Second):
		t.Fatalf("the App is still %s long after TaskTimeout", app.app.State())
	}
	waitFor(t, 5*time.Second, "the stuck processor's context is done", b.sawDone.Load)
	if committedOffset(t, cl.Bootstrap(), "stuck", "in", 0) >= 1 {
		t.Error("the stuck record's offset was committed")
	}
	if g == streams.ExactlyOnceV2 {
		for _, r := range consumeUntil(t, cl.Bootstrap(), "out", true, 2*time.Second, func([]consumed) bool { return false }) {
			if string(r.key) == "block" {
				t.Error("the stuck task's output was committed")
			}
		}
	}
}

func TestCloseIsBoundedWhileAProcessorIgnoresItsContext(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	b := &blocker{release: make(chan struct{}), ignoreCtx: true}
	const closeTimeout = 2 * time.Second
	app := start(t, b.topology(t), streams.Config{ApplicationID: "close-bounded", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, CloseTimeout: closeTimeout})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, c.Bootstrap(), "in", 0, "block")
	waitFor(t, 10*time.Second, "the blocking record is reached", b.entered.Load)
	began := time.Now()
	err := app.app.Close()
	if el := time.Since(began); el > closeTimeout+6*time.Second {
		t.Errorf("Close took %v with CloseTimeout %v", el, closeTimeout)
	}
	if !errors.Is(err, streams.ErrTaskStuck) || !strings.Contains(err.Error(), "0_0") {
		t.Errorf("Close: %v, want ErrTaskStuck naming the task given up on", err)
	}
	if b.returned.Load() {
		t.Fatal("the processor returned; the test proves nothing")
	}
	// The call returns later and forwards its record: a zombie write,
	// which reaches no output.
	close(b.release)
	waitFor(t, 5*time.Second, "the processor returns", b.returned.Load)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 2*time.Second, func([]consumed) bool { return false })
	if len(out) != 0 {
		t.Errorf("out holds %d records, want none: the task was given up on before it forwarded", len(out))
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowOnce forwards every record; "slow" it forwards only after a pause
// longer than a commit waits for a task, so the task is late for a commit
// while clean and writes into the next transaction before it answers.
func slowOnceTopology(t *testing.T, pause time.Duration) *processor.Topology {
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddProcessor(bld, "slow-once", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if r.Key() == "slow" {
			time.Sleep(pause)
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSink(bld, "out", "out", record.String(), record.String(), "slow-once")
	topo, err := bld.Build()
	must(t, err)
	return topo
}

func TestTaskLateForACommitJoinsTheNextOneUnderExactlyOnce(t *testing.T) {
	cl := cluster(t, map[string]int32{"in": 2, "out": 2})
	app := start(t, slowOnceTopology(t, 2500*time.Millisecond), streams.Config{ApplicationID: "late-eos", BootstrapServers: cl.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: 100 * time.Millisecond})
	waitState(t, app.app, streams.Running, 30*time.Second)
	produceTo(t, cl.Bootstrap(), "in", 0, "slow", "after")
	for i := 0; i < 10; i++ {
		produceTo(t, cl.Bootstrap(), "in", 1, "free")
		time.Sleep(100 * time.Millisecond)
	}
	out := consumeUntil(t, cl.Bootstrap(), "out", true, 20*time.Second, func(o []consumed) bool { return len(o) >= 12 }, app)
	time.Sleep(500 * time.Millisecond)
	out = consumeUntil(t, cl.Bootstrap(), "out", true, 5*time.Second, func(o []consumed) bool { return len(o) >= 12 })
	seen := map[string]int{}
	for _, o := range out {
		seen[string(o.key)]++
	}
	if seen["slow"] != 1 || seen["after"] != 1 || seen["free"] != 10 {
		t.Fatalf("committed outputs %v, want slow=1 after=1 free=10", seen)
	}
	waitFor(t, 5*time.Second, "both partitions' offsets are committed", func() bool {
		return committedOffset(t, cl.Bootstrap(), "late-eos", "in", 0) == 2 && committedOffset(t, cl.Bootstrap(), "late-eos", "in", 1) == 10
	})
	if st := app.app.State(); st != streams.Running {
		t.Fatalf("state %s, want RUNNING", st)
	}
}
