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
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// merge reads two co-partitioned topics into one output.
func mergeTopology(t *testing.T, topics ...string) *processor.Topology {
	b := processor.NewBuilder()
	var parents []string
	for _, tp := range topics {
		processor.AddSource(b, "src-"+tp, record.String(), record.String(), tp)
		parents = append(parents, "src-"+tp)
	}
	processor.AddProcessor(b, "merge", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	}), parents...)
	processor.AddSink(b, "out", "out", record.String(), record.String(), "merge")
	topo, err := b.Build()
	must(t, err)
	return topo
}

func TestSourceTopicDeletedWhileRunningFailsTheAppNamingIt(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", []kv{{"a", "1", 1}})
	app := start(t, mergeTopology(t, "in"), streams.Config{ApplicationID: "deleted", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond})
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 1 }, app)
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3})
	must(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := admin.DeleteTopics(ctx, []string{"in"})
	must(t, err)
	if res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("delete topic: %v", res[0].Error)
	}
	select {
	case err := <-app.done:
		if !errors.Is(err, streams.ErrMissingSourceTopic) || !strings.Contains(err.Error(), `"in"`) {
			t.Fatalf("Run: %v, want ErrMissingSourceTopic naming in", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the App is still %s 30s after its source topic was deleted", app.app.State())
	}
}

func TestEmptyCoPartitionedInputDoesNotHoldRecordsForMaxTaskIdle(t *testing.T) {
	c := cluster(t, map[string]int32{"left": 1, "right": 1, "out": 1})
	produce(t, c.Bootstrap(), "left", []kv{{"a", "1", 1}, {"b", "2", 2}})
	const idle = 30 * time.Second
	app := start(t, mergeTopology(t, "left", "right"), streams.Config{ApplicationID: "empty-side", BootstrapServers: c.Bootstrap(),
		MaxTaskIdle: idle})
	began := time.Now()
	out := consumeUntil(t, c.Bootstrap(), "out", false, idle/2, func(o []consumed) bool { return len(o) >= 2 }, app)
	if len(out) < 2 {
		t.Fatalf("%d of 2 records processed within %v: the empty topic held them (MaxTaskIdle %v)", len(out), idle/2, idle)
	}
	t.Logf("processed after %v", time.Since(began))
}

func TestTaskAssignedOnlySomeOfItsCoPartitionedPartitionsIsRefused(t *testing.T) {
	c := cluster(t, map[string]int32{"a": 2, "b": 2, "out": 2})
	cfg := streams.Config{ApplicationID: "partial", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	// Two members of one group subscribe to different topics: with the
	// range assignor, the one reading a and b gets all of b but half of a.
	both := start(t, mergeTopology(t, "a", "b"), cfg)
	onlyA := start(t, mergeTopology(t, "a"), cfg)
	select {
	case err := <-both.done:
		if !errors.Is(err, streams.ErrPartialAssignment) || !strings.Contains(err.Error(), "but not a-") {
			t.Fatalf("Run: %v, want ErrPartialAssignment naming the missing partition of a", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("the member reading a and b is still %s", both.app.State())
	}
	_ = onlyA
}

func TestBrokerOutageWithOutputsInFlightFailsWithinTheDeliveryTimeout(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", rounds(10, 300))
	var mu sync.Mutex
	var pendingError time.Time
	const delivery = 3 * time.Second
	cfg := streams.Config{ApplicationID: "outage", BootstrapServers: c.Bootstrap(), CommitInterval: time.Second, CloseTimeout: 2 * time.Second,
		ProducerConfig: map[string]any{"delivery.timeout.ms": int(delivery.Milliseconds())},
		StateListener: func(_, to streams.State) {
			if to == streams.PendingError {
				mu.Lock()
				pendingError = time.Now()
				mu.Unlock()
			}
		}}
	app := start(t, countTopology(t, "in", "out", time.Millisecond), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 100 }, app)
	c.Close() // outputs in flight: the broker is gone
	down := time.Now()
	select {
	case err := <-app.done:
		if err == nil {
			t.Fatal("Run returned nil after the broker went away with outputs in flight")
		}
		ran := time.Since(down)
		mu.Lock()
		pe := pendingError.Sub(down)
		mu.Unlock()
		t.Logf("PENDING_ERROR after %v, Run returned after %v: %v", pe, ran, err)
		if pe <= 0 || pe > delivery+3*time.Second {
			t.Errorf("PENDING_ERROR %v after the outage, want within the delivery timeout %v (+3s)", pe, delivery)
		}
		if ran > delivery+15*time.Second {
			t.Errorf("Run returned %v after the outage, want within the delivery timeout plus the close bound", ran)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still %s a minute after the broker went away", app.app.State())
	}
}

// ticker forwards, on every stream-time punctuation, a record saying when.
func tickerTopology(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "tick", func() processor.Processor[string, string, string, string] { return &streamTicker{} }, "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "tick")
	topo, err := b.Build()
	must(t, err)
	return topo
}

type streamTicker struct{}

func (s *streamTicker) Init(ctx processor.Context[string, string]) error {
	_, err := ctx.Schedule(time.Second, punctuate.StreamTime, func(ts int64) error {
		r, err := record.New("tick", fmt.Sprint(ts), ts)
		if err != nil {
			return err
		}
		return ctx.Forward(r)
	})
	return err
}
func (s *streamTicker) Process(record.Record[string, string]) error { return nil }
func (s *streamTicker) Close() error                                { return nil }

func TestStreamTimePunctuatorFiresAfterARestartWithoutANewRecord(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", []kv{{"a", "x", 10_000}, {"b", "x", 10_500}})
	cfg := streams.Config{ApplicationID: "tick-restart", BootstrapServers: c.Bootstrap(), CommitInterval: 50 * time.Millisecond}
	first := start(t, tickerTopology(t), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 1 }, first)
	must(t, first.stop(t))
	second := start(t, tickerTopology(t), cfg)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 20*time.Second, func(o []consumed) bool { return len(o) >= 2 }, second)
	if len(out) < 2 || string(out[1].value) != "10500" {
		t.Fatalf("outputs %v: the restarted punctuator did not fire at the restored stream time 10500", out)
	}
}

func TestKilledExactlyOnceInstanceBlocksReadCommittedReadersForTheTransactionTimeoutOnly(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	input := rounds(5, 40)
	produce(t, c.Bootstrap(), "in", input)
	cfg := streams.Config{ApplicationID: "txn-timeout", BootstrapServers: c.Bootstrap(), ProcessingGuarantee: streams.ExactlyOnceV2,
		SessionTimeout: time.Second, BufferedRecordsPerPartition: 10}
	a := cfg
	a.StateDir = t.TempDir()
	first := start(t, countTopology(t, "in", "out", 20*time.Millisecond), a)
	consumeUntil(t, c.Bootstrap(), "out", true, 30*time.Second, func(o []consumed) bool { return len(o) >= 20 }, first)
	must(t, streams.Crash(first.app)) // its open transaction stays open on the broker
	killed := time.Now()
	b := cfg
	b.StateDir = t.TempDir() // another instance: another transactional id, which cannot abort the first's
	second := start(t, countTopology(t, "in", "out", 0), b)
	out := consumeUntil(t, c.Bootstrap(), "out", true, 45*time.Second, func(o []consumed) bool { return len(o) >= len(input) }, second)
	took := time.Since(killed)
	if len(out) < len(input) {
		t.Fatalf("%d of %d results readable 45s after the kill", len(out), len(input))
	}
	t.Logf("read_committed readers saw every result %v after the kill", took)
	if took > 25*time.Second {
		t.Errorf("readers were blocked %v by the killed instance's transaction; the transaction timeout is 10s", took)
	}
}

func TestSecondMemberWithTheSameInstanceIDStopsWithTheFencingError(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "out": 2})
	cfg := streams.Config{ApplicationID: "static", BootstrapServers: c.Bootstrap(), InstanceID: "the-one", CommitInterval: 100 * time.Millisecond}
	first := start(t, mergeTopology(t, "in"), cfg)
	waitState(t, first.app, streams.Running, 30*time.Second)
	second := start(t, mergeTopology(t, "in"), cfg)
	produce(t, c.Bootstrap(), "in", rounds(4, 5))
	var fenced error
	select {
	case fenced = <-first.done:
	case fenced = <-second.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("neither member stopped: %s and %s", first.app.State(), second.app.State())
	}
	if fenced == nil || !strings.Contains(strings.ToLower(fenced.Error()), "fenc") {
		t.Fatalf("Run: %v, want the fencing error", fenced)
	}
}

func TestClientLogLinesGoThroughTheAppLogger(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	app := start(t, int64Source(t), streams.Config{ApplicationID: "logs", BootstrapServers: "127.0.0.1:1",
		StartupTimeout: 2 * time.Second, Logger: zap.New(core)})
	<-app.done
	if logs.FilterLoggerName("librdkafka").Len() == 0 {
		t.Fatalf("no librdkafka log line reached the logger (%d entries in all)", logs.Len())
	}
}

func TestPanickingHandlersStopTheAppWithAnErrorInsteadOfCrashing(t *testing.T) {
	t.Run("production", func(t *testing.T) {
		c := cluster(t, map[string]int32{"in": 1, "out": 1})
		produce(t, c.Bootstrap(), "in", []kv{{"bad", "0", 1}})
		app := start(t, retimeTopology(t), streams.Config{ApplicationID: "panic-prod", BootstrapServers: c.Bootstrap(),
			ProductionHandler: productionFunc(func(*handler.ProducerRecord, error) handler.Response { panic("handler bug") })})
		select {
		case err := <-app.done:
			if !errors.Is(err, handler.ErrHandlerPanic) {
				t.Fatalf("Run: %v, want ErrHandlerPanic", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the App kept running")
		}
	})
	t.Run("deserialization", func(t *testing.T) {
		c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
		produce(t, c.Bootstrap(), "nums", []kv{{"a", "not eight bytes", 1}})
		app := start(t, int64Source(t), streams.Config{ApplicationID: "panic-deser", BootstrapServers: c.Bootstrap(),
			DeserializationHandler: panicDeser{}})
		select {
		case err := <-app.done:
			if !errors.Is(err, handler.ErrHandlerPanic) {
				t.Fatalf("Run: %v, want ErrHandlerPanic", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the App kept running")
		}
	})
}

type panicDeser struct{}

func (panicDeser) OnDeserializationError(*handler.ErrorContext, *record.ConsumerRecord, error) handler.Response {
	panic("handler bug")
}

// A record the broker refuses for good (too large for it) cannot be
// delivered by retrying: under exactly-once the App stops with the error
// instead of aborting and retrying the same transaction forever.
func TestRecordTheBrokerRefusesForGoodStopsAnExactlyOnceApp(t *testing.T) {
	bootstrap := refusingCluster(t, map[string]int32{"in": 1, "out": 1}, "out", kerr.MessageTooLarge.Code)
	produce(t, bootstrap, "in", []kv{{"a", "1", 1}})
	app := start(t, mergeTopology(t, "in"), streams.Config{ApplicationID: "too-large", BootstrapServers: bootstrap,
		ProcessingGuarantee: streams.ExactlyOnceV2})
	select {
	case err := <-app.done:
		if err == nil || !strings.Contains(err.Error(), "failed permanently") || !strings.Contains(err.Error(), "out-0") {
			t.Fatalf("Run: %v, want a permanent delivery failure naming out-0", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("the App is still %s: it keeps aborting and retrying", app.app.State())
	}
}
