package streams_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/streams"
)

// A transaction that cannot commit (here: its output topic does not exist
// yet, so the records are not delivered) is aborted; the tasks restart from
// the committed offsets with restored state, and once the topic exists the
// output holds each result exactly once.
func TestFailedTransactionAbortsAndResumesFromCommittedOffsets(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1})
	input := events(3, 5)
	produce(t, c.Bootstrap(), "in", input)
	app := start(t, countTopology(t, "in", "late-out", 0), streams.Config{ApplicationID: "abort", BootstrapServers: c.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, ProducerConfig: map[string]any{"message.timeout.ms": 1500}})
	time.Sleep(3 * time.Second) // at least one transaction fails
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3})
	must(t, err)
	defer admin.Close()
	_, err = admin.CreateTopics(context.Background(), []kafka.TopicSpecification{{Topic: "late-out", NumPartitions: 1, ReplicationFactor: 1}})
	must(t, err)
	expectEachCountOnce(t, c.Bootstrap(), "late-out", 60*time.Second, input, app)
}

// Another producer with the App's transactional id fences the App's
// producer; the App replaces it and loses nothing, duplicating nothing.
func TestFencedProducerIsReplacedAndResultsStayExactlyOnce(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "out": 2})
	dir := t.TempDir()
	first := events(4, 50)
	produce(t, c.Bootstrap(), "in", first)
	app := start(t, countTopology(t, "in", "out", 200*time.Microsecond), streams.Config{ApplicationID: "fenced",
		BootstrapServers: c.Bootstrap(), StateDir: dir, ProcessingGuarantee: streams.ExactlyOnceV2})
	consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 50 }, app)
	pid, err := os.ReadFile(filepath.Join(dir, "fenced", "process-id"))
	must(t, err)
	zombie, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3,
		"transactional.id": "fenced-" + strings.TrimSpace(string(pid))})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, zombie.InitTransactions(ctx)) // fences the App's producer
	zombie.Close()
	second := events(4, 50)
	for i := range second {
		second[i].value = strconv.Itoa(100 + i)
	}
	produce(t, c.Bootstrap(), "in", second)
	expectEachCountOnce(t, c.Bootstrap(), "out", 90*time.Second, append(first, second...), app)
}

// The producer is fenced while tasks keep producing: their produce calls
// fail, the App replaces the producer instead of stopping, and results stay
// exactly once.
func TestFencingUnderLoadReplacesTheProducerAndLosesNothing(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "out": 2})
	dir := t.TempDir()
	input := events(4, 400)
	app := start(t, countTopology(t, "in", "out", 300*time.Microsecond), streams.Config{ApplicationID: "fenced-load",
		BootstrapServers: c.Bootstrap(), StateDir: dir, ProcessingGuarantee: streams.ExactlyOnceV2})
	produce(t, c.Bootstrap(), "in", input[:800])
	consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 100 }, app)
	rest := make(chan struct{})
	go func() { // keeps the tasks busy through the fencing
		defer close(rest)
		for i := 800; i < len(input); i += 100 {
			produceQuiet(c.Bootstrap(), "in", input[i:i+100])
		}
	}()
	defer func() { <-rest }()
	pid, err := os.ReadFile(filepath.Join(dir, "fenced-load", "process-id"))
	must(t, err)
	zombie, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3,
		"transactional.id": "fenced-load-" + strings.TrimSpace(string(pid))})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, zombie.InitTransactions(ctx))
	zombie.Close()
	expectEachCountOnce(t, c.Bootstrap(), "out", 90*time.Second, input, app)
	if app.app.State() == streams.Error {
		t.Error("the App stopped instead of replacing its fenced producer")
	}
}

// produceQuiet is produce for background goroutines: errors surface as
// missing output, which the test reports.
func produceQuiet(bootstrap, topic string, recs []kv) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"go.logs.channel.enable": false, "log_level": 3})
	if err != nil {
		return
	}
	defer p.Close()
	for _, r := range recs {
		p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key: []byte(r.key), Value: []byte(r.value), Timestamp: time.UnixMilli(r.ts)}, nil)
	}
	for n := 0; n < len(recs); {
		select {
		case e := <-p.Events():
			if _, ok := e.(*kafka.Message); ok {
				n++
			}
		case <-time.After(10 * time.Second):
			return
		}
	}
}
