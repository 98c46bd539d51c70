package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// repartitionConfig is Kafka Streams' repartition-topic configuration, as
// the DSL declares it.
var repartitionConfig = map[string]string{"cleanup.policy": "delete", "retention.ms": "-1",
	"segment.bytes": "52428800", "message.timestamp.type": "CreateTime"}

// rekeyCount reads "in", keys each record by its value, repartitions it
// through the internal topic "rekeyed" and counts per key into "out"
// (store "counts").
func rekeyCount(t testing.TB, partitions int32) *processor.Topology {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "rekeyed", Partitions: partitions, Config: repartitionConfig, Purge: true})
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "rekey", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r.WithKey(r.Value()))
	}), "in")
	processor.AddSink(b, "to-rekeyed", "rekeyed", record.String(), record.String(), "rekey")
	processor.AddSource(b, "from-rekeyed", record.String(), record.String(), "rekeyed")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "from-rekeyed").WithStores("counts")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

// topicPartitions returns a topic's partition count (0: no such topic).
func topicPartitions(t testing.TB, bootstrap, topic string) int {
	t.Helper()
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	must(t, err)
	defer admin.Close()
	md, err := admin.GetMetadata(&topic, false, 10_000)
	must(t, err)
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError {
		return 0
	}
	return len(tm.Partitions)
}

// rekeyInput is 4 keys' worth of values spread over "in"'s partitions:
// value v<i%5> appears want[v] times.
func rekeyInput(n int) ([]kv, map[string]int64) {
	var recs []kv
	want := map[string]int64{}
	for i := range n {
		v := fmt.Sprintf("v%d", i%5)
		recs = append(recs, kv{key: fmt.Sprintf("k%d", i), value: v, ts: int64(i + 1)})
		want[v]++
	}
	return recs, want
}

func TestRepartitionTopicIsCreatedWithTheWritersPartitionCountAndCountsAreExact(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "out": 2})
	recs, want := rekeyInput(200)
	produce(t, c.Bootstrap(), "in", recs)
	app := start(t, rekeyCount(t, 0), streams.Config{ApplicationID: "rep", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond})
	out := consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= len(recs) }, app)
	if n := topicPartitions(t, c.Bootstrap(), "rep-rekeyed"); n != 4 {
		t.Fatalf("rep-rekeyed has %d partitions, want 4 (derived from in)", n)
	}
	if n := topicPartitions(t, c.Bootstrap(), "rekeyed"); n != 0 {
		t.Fatalf("a topic named as declared (rekeyed) exists with %d partitions", n)
	}
	if len(out) != len(recs) {
		t.Errorf("%d outputs, want %d", len(out), len(recs))
	}
	got := lastCounts(out)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count of %q = %d, want %d", k, got[k], n)
		}
	}
}

func TestRepartitionCountsAreExactWithTwoInstancesEachKeyInOneTask(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "out": 2})
	topo := rekeyCount(t, 0)
	cfg := streams.Config{ApplicationID: "rep2", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	a := start(t, topo, cfg)
	b := start(t, topo, cfg)
	// Both members hold tasks before any input: no rebalance mid-run.
	deadline := time.Now().Add(60 * time.Second)
	for len(a.app.LocalTasks()) == 0 || len(b.app.LocalTasks()) == 0 || a.app.State() != streams.Running || b.app.State() != streams.Running {
		if time.Now().After(deadline) {
			t.Fatalf("tasks not spread over both instances: %v / %v (%s, %s)", a.app.LocalTasks(), b.app.LocalTasks(), a.app.State(), b.app.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, want := rekeyInput(400)
	produce(t, c.Bootstrap(), "in", recs)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= len(recs) }, a, b)
	got := lastCounts(out)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count of %q = %d, want %d", k, got[k], n)
		}
	}
	if len(out) != len(recs) {
		t.Errorf("%d outputs, want %d", len(out), len(recs))
	}
	// Each key lives in one task of one instance.
	for k, n := range want {
		var holders []string
		var sum int64
		for name, r := range map[string]*running{"a": a, "b": b} {
			s, err := streams.KeyValueStore[string, int64](r.app, "counts")
			if err != nil {
				continue
			}
			if v, ok, err := s.Get(k); err == nil && ok {
				holders = append(holders, name)
				sum += v
			}
		}
		if len(holders) != 1 || sum != n {
			t.Errorf("key %q held by %v with total %d, want one instance with %d", k, holders, sum, n)
		}
	}
}

// watermarks returns the low and high watermarks of each partition of
// topic.
func watermarks(t testing.TB, bootstrap, topic string, partitions int) (low, high []int64) {
	t.Helper()
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": "watermarks", "log_level": 3})
	must(t, err)
	defer cons.Close()
	low, high = make([]int64, partitions), make([]int64, partitions)
	for p := range partitions {
		low[p], high[p], err = cons.QueryWatermarkOffsets(topic, int32(p), 10_000)
		must(t, err)
	}
	return low, high
}

func TestRepartitionTopicRecordsBelowTheCommittedOffsetsArePurged(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		t.Run(g.String(), func(t *testing.T) {
			c := cluster(t, map[string]int32{"in": 4, "out": 2})
			recs, want := rekeyInput(200)
			produce(t, c.Bootstrap(), "in", recs)
			app := start(t, rekeyCount(t, 0), streams.Config{ApplicationID: "purge", BootstrapServers: c.Bootstrap(),
				ProcessingGuarantee: g, CommitInterval: 100 * time.Millisecond, RepartitionPurgeInterval: 100 * time.Millisecond})
			out := consumeUntil(t, c.Bootstrap(), "out", g == streams.ExactlyOnceV2, 60*time.Second, func(o []consumed) bool { return len(o) >= len(recs) }, app)
			if got := lastCounts(out); len(got) != len(want) {
				t.Fatalf("counts %v, want %v", got, want)
			}
			// Every partition that received records is purged once commits
			// and purges ran: its log starts past its first records.
			deadline := time.Now().Add(30 * time.Second)
			for {
				low, high := watermarks(t, c.Bootstrap(), "purge-rekeyed", 4)
				purged, written := 0, 0
				for p := range low {
					if high[p] > 0 {
						written++
						if low[p] > 0 {
							purged++
						}
					}
				}
				if written > 0 && purged == written {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("purge-rekeyed: low watermarks %v, high %v: not purged after commits", low, high)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func TestInternalTopicReadWithATableTopicIsCreatedWithTheTablesPartitionCount(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "tbl": 3, "out": 1})
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "rekeyed", Config: repartitionConfig})
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "to-rekeyed", "rekeyed", record.String(), record.String(), "in")
	processor.AddSource(b, "from-rekeyed", record.String(), record.String(), "rekeyed")
	processor.AddSource(b, "tbl", record.String(), record.String(), "tbl")
	processor.AddProcessor(b, "join", pass(), "from-rekeyed", "tbl")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "join")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "copart", BootstrapServers: c.Bootstrap()})
	waitState(t, app.app, streams.Running, 60*time.Second)
	if n := topicPartitions(t, c.Bootstrap(), "copart-rekeyed"); n != 3 {
		t.Fatalf("copart-rekeyed has %d partitions, want 3 (co-partitioned with tbl)", n)
	}
	if n := len(app.app.LocalTasks()); n != 4+3 {
		t.Fatalf("%d tasks, want 7 (4 of the writer, 3 of the join): %v", n, app.app.LocalTasks())
	}
}

func pass() processor.Supplier[string, string, string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	})
}

// runErr runs an App that must fail at start and returns its error.
func runErr(t *testing.T, topo *processor.Topology, cfg streams.Config) error {
	t.Helper()
	cfg.StateDir = t.TempDir()
	cfg.StartupTimeout = 20 * time.Second
	app, err := streams.New(topo, cfg)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = app.Run(ctx)
	if err == nil {
		t.Fatal("Run returned nil, want an error")
	}
	return err
}

func TestInternalTopicExistingWithTheWrongPartitionCountFailsTheStartNamingIt(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "out": 2, "wrong-rekeyed": 2})
	err := runErr(t, rekeyCount(t, 0), streams.Config{ApplicationID: "wrong", BootstrapServers: c.Bootstrap()})
	if !errors.Is(err, streams.ErrInternalTopic) || !strings.Contains(err.Error(), "wrong-rekeyed has 2 partitions, 4") {
		t.Fatalf("Run: %v, want ErrInternalTopic naming wrong-rekeyed with 2 and 4 partitions", err)
	}
}

func TestInternalTopicWithAFixedCountConflictingWithATableTopicIsACoPartitioningError(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "tbl": 3, "out": 1})
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "rekeyed", Partitions: 5})
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "to-rekeyed", "rekeyed", record.String(), record.String(), "in")
	processor.AddSource(b, "from-rekeyed", record.String(), record.String(), "rekeyed")
	processor.AddSource(b, "tbl", record.String(), record.String(), "tbl")
	processor.AddProcessor(b, "join", pass(), "from-rekeyed", "tbl")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "join")
	topo, err := b.Build()
	must(t, err)
	err = runErr(t, topo, streams.Config{ApplicationID: "conflict", BootstrapServers: c.Bootstrap()})
	if !errors.Is(err, streams.ErrCoPartitioning) || !strings.Contains(err.Error(), "conflict-rekeyed=5") || !strings.Contains(err.Error(), "tbl=3") {
		t.Fatalf("Run: %v, want ErrCoPartitioning naming conflict-rekeyed=5 and tbl=3", err)
	}
	if n := topicPartitions(t, c.Bootstrap(), "conflict-rekeyed"); n != 0 {
		t.Fatalf("conflict-rekeyed was created (%d partitions) although the start failed", n)
	}
}
