package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// committedOffset reads the offset the application's group committed for
// one partition (negative if none).
func committedOffset(t testing.TB, bootstrap, group, topic string, partition int32) int64 {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": group,
		"enable.auto.commit": false, "go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer c.Close()
	tps, err := c.Committed([]kafka.TopicPartition{{Topic: &topic, Partition: partition}}, 10_000)
	must(t, err)
	return int64(tps[0].Offset)
}

// closeWithin closes the App and fails the test if Close does not return
// within d (a hang, not a slow shutdown).
func closeWithin(t *testing.T, r *running, d time.Duration) error {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- r.app.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
	return nil
}

// A run of undeserializable records longer than the partition's buffer
// bound, skipped under LogAndContinue, must not leave the partition paused
// for good: records produced afterwards are processed.
func TestReviewSkippedRecordsDoNotStallTheirPartition(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
	var bad []kv
	for i := 0; i < 60; i++ {
		bad = append(bad, kv{fmt.Sprintf("bad%d", i), "not an int64", int64(100 + i)})
	}
	produce(t, c.Bootstrap(), "nums", bad)
	app := start(t, int64Source(t), streams.Config{ApplicationID: "review-stall", BootstrapServers: c.Bootstrap(),
		DeserializationHandler: handler.LogAndContinue{}, BufferedRecordsPerPartition: 10, CommitInterval: 100 * time.Millisecond,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
	waitState(t, app.app, streams.Running, 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // every bad record is fetched and skipped
	produce(t, c.Bootstrap(), "nums", []kv{{"a", be64(1), 1000}, {"b", be64(2), 1001}, {"c", be64(3), 1002}})
	out := consumeUntil(t, c.Bootstrap(), "doubled", false, 15*time.Second, func(o []consumed) bool { return len(o) >= 3 }, app)
	if len(out) != 3 {
		t.Fatalf("%d of 3 good records came out after a run of skipped ones: the partition stalled", len(out))
	}
}

// A task whose processor failed must not report the failed record as
// processed to a commit that happens before the poller notices the
// failure (here: the shutdown commit), and Run must return the failure.
func TestReviewFailedRecordIsNotCommittedAndFailureNotSwallowedOnClose(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", []kv{{"a", "ok", 1}, {"b", "bad", 2}, {"c", "ok", 3}})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "check", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if r.Value() == "bad" {
			once.Do(func() { close(entered) })
			<-release
			return errors.New("bad record")
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "check")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "review-fail", BootstrapServers: c.Bootstrap(), CommitInterval: time.Hour})
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the bad record was not reached")
	}
	closed := make(chan error, 1)
	go func() { closed <- app.app.Close() }()
	time.Sleep(500 * time.Millisecond) // the poller is in its shutdown commit, waiting for the task
	close(release)
	var runErr error
	select {
	case runErr = <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "bad record") {
		t.Errorf("Close returned %v, want the task's processing failure", runErr)
	}
	if off := committedOffset(t, c.Bootstrap(), "review-fail", "in", 0); off > 1 {
		t.Errorf("committed offset %d: the failed record at offset 1 was committed as processed and is lost", off)
	}
}

// uncachedCounts counts per key in an uncached (write-through) RocksDB
// store, so every update reaches the store and its changelog at once.
func uncachedCounts(t testing.TB, in, out string, delay time.Duration) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), in)
	processor.AddProcessor(b, "slow", slow(delay), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "slow").WithStores("counts")
	processor.AddSink(b, "out", out, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

// A clean stop under exactly-once must not let tasks process records after
// the final commit: their store writes would be checkpointed while their
// changelog writes and outputs are never committed, so the restarted
// instance would count them twice.
func TestReviewExactlyOnceCleanStopMidStreamHoldsEachResultOnce(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 3, "out": 3})
	input := events(10, 150)
	produce(t, c.Bootstrap(), "in", input)
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "review-eos-stop", BootstrapServers: c.Bootstrap(), StateDir: dir,
		ProcessingGuarantee: streams.ExactlyOnceV2, BufferedRecordsPerPartition: 20}
	first := start(t, uncachedCounts(t, "in", "out", time.Millisecond), cfg)
	before := consumeUntil(t, c.Bootstrap(), "out", true, 30*time.Second, func(o []consumed) bool { return len(o) >= 300 }, first)
	must(t, first.stop(t)) // clean stop, mid-stream
	if len(before) >= len(input) {
		t.Fatalf("the first instance finished before the stop (%d outputs); the test proves nothing", len(before))
	}
	second := start(t, uncachedCounts(t, "in", "out", 0), cfg)
	expectEachCountOnce(t, c.Bootstrap(), "out", 30*time.Second, input, second)
}

// While a transaction fails and is aborted, tasks with more input must not
// go on producing (into the aborting transaction, or into the next one
// before they are closed): the App recovers and the output holds each
// result once.
func TestReviewAbortWithContinuousInputRecoversExactlyOnce(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1})
	input := events(3, 100)
	produce(t, c.Bootstrap(), "in", input)
	app := start(t, countTopology(t, "in", "late-out", 2*time.Millisecond), streams.Config{ApplicationID: "review-abort",
		BootstrapServers: c.Bootstrap(), ProcessingGuarantee: streams.ExactlyOnceV2,
		ProducerConfig: map[string]any{"message.timeout.ms": 1000}})
	time.Sleep(3 * time.Second) // transactions fail while input remains
	if app.app.State() == streams.Error {
		t.Fatalf("the App failed while recovering from an aborted transaction: %v", app.stop(t))
	}
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3})
	must(t, err)
	defer admin.Close()
	_, err = admin.CreateTopics(context.Background(), []kafka.TopicSpecification{{Topic: "late-out", NumPartitions: 1, ReplicationFactor: 1}})
	must(t, err)
	expectEachCountOnce(t, c.Bootstrap(), "late-out", 25*time.Second, input, app)
}

// An instance assigned many tasks with logged stores (here 200, a fresh
// application with empty changelogs) must start: the restorer must not
// block handing results to a poller that blocks handing it tasks.
func TestReviewManyLoggedTasksStart(t *testing.T) {
	c := cluster(t, map[string]int32{"wide": 200, "wide-out": 1})
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "wide")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "in").WithStores("counts")
	processor.AddSink(b, "out", "wide-out", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	app, err := streams.New(topo, streams.Config{ApplicationID: "review-wide", BootstrapServers: c.Bootstrap(),
		StateDir: t.TempDir(), SessionTimeout: 2 * time.Second, StartupTimeout: 20 * time.Second})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(25 * time.Second)
	for app.State() != streams.Running && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	state := app.State()
	cancel()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return after cancel (state %s): the poller and the restorer are deadlocked", state)
	}
	if state != streams.Running {
		t.Fatalf("state %s after 25s with 200 logged tasks, want RUNNING", state)
	}
}

// Run must return when its context ends while global stores are being
// restored (or when restoring them fails), not hang.
func TestReviewRunReturnsWhenCancelledDuringGlobalRestore(t *testing.T) {
	c := cluster(t, map[string]int32{"customers": 1, "orders": 1, "enriched": 1})
	produce(t, c.Bootstrap(), "customers", []kv{{"c1", "Ada", 1}})
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("customers"), record.String(), record.String()),
		"customers", record.String(), record.String())
	processor.AddSource(b, "orders", record.String(), record.String(), "orders")
	processor.AddSink(b, "out", "enriched", record.String(), record.String(), "orders")
	topo, err := b.Build()
	must(t, err)
	app, err := streams.New(topo, streams.Config{ApplicationID: "review-global", BootstrapServers: c.Bootstrap(),
		StateDir: t.TempDir(), StartupTimeout: 10 * time.Second})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // ended before the global stores are restored
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return: closing the global stores after a failed start hangs")
	}
}

// poisonCounts counts per key (committing after every record) and routes
// the key "poison" to a topic that does not exist, so the transaction
// holding it cannot commit.
func poisonCounts(t testing.TB) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] {
		return &committingCounter{}
	}, "in").WithStores("counts")
	processor.AddSinkFunc(b, "out", func(r record.Record[string, int64]) string {
		if r.Key() == "poison" {
			return "missing"
		}
		return "out"
	}, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

type committingCounter struct{ counter }

func (c *committingCounter) Process(r record.Record[string, string]) error {
	if err := c.counter.Process(r); err != nil {
		return err
	}
	if r.Key() != "poison" {
		c.ctx.Commit()
	}
	return nil
}

// A transaction that fails at shutdown is aborted and the tasks are
// re-created (restoring) before the shutdown closes them; a task closed
// while restoring must not get a checkpoint claiming state it does not
// hold, or the next start skips restoring it.
func TestReviewAbortAtShutdownDoesNotCheckpointUnrestoredState(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "review-poison", BootstrapServers: c.Bootstrap(), StateDir: dir,
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: time.Hour,
		ProducerConfig: map[string]any{"message.timeout.ms": 1000}}
	first := start(t, poisonCounts(t), cfg)
	produce(t, c.Bootstrap(), "in", []kv{{"a", "1", 1}, {"a", "2", 2}, {"a", "3", 3}, {"b", "1", 4}, {"b", "2", 5}})
	consumeUntil(t, c.Bootstrap(), "out", true, 20*time.Second, func(o []consumed) bool { return len(o) >= 5 }, first)
	produce(t, c.Bootstrap(), "in", []kv{{"poison", "x", 6}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if kvs, err := streams.KeyValueStore[string, int64](first.app, "counts"); err == nil {
			if n, ok, _ := kvs.Get("poison"); ok && n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the poison record was not processed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeWithin(t, first, 20*time.Second) // its final transaction fails and is aborted

	second := start(t, poisonCounts(t), cfg)
	waitState(t, second.app, streams.Running, 20*time.Second)
	kvs, err := streams.KeyValueStore[string, int64](second.app, "counts")
	must(t, err)
	for k, want := range map[string]int64{"a": 3, "b": 2} {
		if n, _, err := kvs.Get(k); err != nil || n != want {
			t.Errorf("restarted store: %s = %d (%v), want %d (committed state lost)", k, n, err, want)
		}
	}
}

// produceN writes n distinct keys to one partition of a topic.
func produceN(t testing.TB, bootstrap, topic string, partition int32, n int) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "go.logs.channel.enable": false,
		"go.delivery.reports": false, "linger.ms": 5, "log_level": 3})
	must(t, err)
	defer p.Close()
	for i := 0; i < n; i++ {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
			Key: []byte(fmt.Sprintf("key-%06d", i)), Value: []byte(be64(int64(i)))}
		for {
			err := p.Produce(m, nil)
			if err == nil {
				break
			}
			if ke, ok := err.(kafka.Error); ok && ke.Code() == kafka.ErrQueueFull {
				p.Flush(100)
				continue
			}
			t.Fatal(err)
		}
	}
	if left := p.Flush(30_000); left > 0 {
		t.Fatalf("%d records not delivered", left)
	}
}

// A restoration that completes while a failing transaction commits must
// not start the task that replaces it after the abort: that task restores
// afresh, and the stale result would start it while the restorer still
// writes its stores (and fail the App when the real result arrives).
func TestReviewStaleRestorationResultDoesNotStartRecreatedTask(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "review-stale-counts-changelog": 2})
	produceN(t, c.Bootstrap(), "review-stale-counts-changelog", 0, 60_000) // task 0_0 restores for a while
	produce(t, c.Bootstrap(), "in", events(4, 5))
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "in").WithStores("counts")
	processor.AddSink(b, "out", "missing-out", record.String(), record.Int64(), "count") // never exists: every transaction with output fails
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "review-stale", BootstrapServers: c.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, ProducerConfig: map[string]any{"message.timeout.ms": 1500},
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if app.app.State() == streams.Error {
			t.Fatalf("the App failed: %v", app.stop(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A global topic whose records were all deleted (log start = end > 0, as
// after retention) holds nothing to restore: the App must start.
func TestReviewGlobalStoreOnTopicWithDeletedRecordsStarts(t *testing.T) {
	c := cluster(t, map[string]int32{"customers": 1, "orders": 1, "enriched": 1})
	produce(t, c.Bootstrap(), "customers", []kv{{"c1", "Ada", 1}, {"c2", "Grace", 2}, {"c3", "Linus", 3}})
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3})
	must(t, err)
	defer admin.Close()
	topic := "customers"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := admin.DeleteRecords(ctx, []kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 3}})
	must(t, err)
	for _, r := range res.DeleteRecordsResults {
		must(t, r.TopicPartition.Error)
	}
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("customers"), record.String(), record.String()),
		"customers", record.String(), record.String())
	processor.AddSource(b, "orders", record.String(), record.String(), "orders")
	processor.AddSink(b, "out", "enriched", record.String(), record.String(), "orders")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "review-global-deleted", BootstrapServers: c.Bootstrap()})
	deadline := time.Now().Add(15 * time.Second)
	for app.app.State() != streams.Running {
		if time.Now().After(deadline) {
			state := app.app.State()
			cancelled := make(chan struct{})
			go func() { app.app.Close(); close(cancelled) }()
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
			}
			t.Fatalf("state %s after 15s: restoring a global store from an emptied topic never ends", state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When more tasks fail at once than the failure channel holds (here 100
// tasks, each on an undeserializable record under the default handler),
// the App must still stop with the error: a task blocked reporting its
// failure never takes the close that shutdown sends it.
func TestReviewManyFailingTasksStopTheApp(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 100, "doubled": 1})
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "go.logs.channel.enable": false,
		"go.delivery.reports": false, "log_level": 3})
	must(t, err)
	topic := "nums"
	for i := int32(0); i < 100; i++ {
		must(t, p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: i},
			Key: []byte("k"), Value: []byte("bad")}, nil))
	}
	if left := p.Flush(30_000); left > 0 {
		t.Fatalf("%d records not delivered", left)
	}
	p.Close()
	app, err := streams.New(int64Source(t), streams.Config{ApplicationID: "review-many-fail", BootstrapServers: c.Bootstrap(),
		StateDir: t.TempDir(), SessionTimeout: 2 * time.Second, StartupTimeout: 20 * time.Second,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.FatalLevel))})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	select {
	case err := <-done:
		var de *record.DeserializationError
		if !errors.As(err, &de) {
			t.Errorf("Run: %v, want a deserialization failure", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("Run did not return after its tasks failed: shutdown deadlocked on a task blocked reporting its failure")
	}
}
