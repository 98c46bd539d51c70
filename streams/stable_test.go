package streams_test

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/streams"
)

// TestRestorationWaitsOutAnOpenTransactionThatHidesCommittedChangelogRecords
// is the crash suite's eos-memory-static failure, made deterministic. A
// "zombie" (a crashed instance's producer) leaves a transaction open on a
// changelog; the task's owner goes on counting and committing, so its
// changelog records land after the zombie's open one, hidden from
// read_committed readers: the changelog's last stable offset stays where
// the zombie's transaction began. The owner then crashes. Its successor
// must not restore only up to that offset, which would leave the store
// behind the input offsets committed with the hidden records (each
// count would start over from the older value); it waits until the open
// transaction ends (here: the zombie aborts it after a while, as the
// broker would at its timeout), reads the rest, and every count comes
// out exactly once: 1..30, no value twice, none skipped.
func TestRestorationWaitsOutAnOpenTransactionThatHidesCommittedChangelogRecords(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	input := events(1, 30)
	cfg := streams.Config{ApplicationID: "zombie-txn", BootstrapServers: c.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, CommitInterval: 50 * time.Millisecond}
	first := cfg
	first.StateDir = t.TempDir()
	a := start(t, countTopology(t, "in", "out", 0), first)
	produce(t, c.Bootstrap(), "in", input[:10])
	consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 10 }, a)

	// The zombie's open transaction, on the changelog, before the owner's
	// next commits.
	zombie, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "transactional.id": "zombie",
		"transaction.timeout.ms": 60_000, "log_level": 3, "go.logs.channel.enable": false})
	must(t, err)
	defer zombie.Close()
	must(t, zombie.InitTransactions(nil))
	must(t, zombie.BeginTransaction())
	changelog := cfg.ApplicationID + "-counts-changelog"
	dr := make(chan kafka.Event, 1)
	must(t, zombie.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &changelog, Partition: 0},
		Key: []byte("zombie"), Value: make([]byte, 8)}, dr))
	select {
	case ev := <-dr:
		if m := ev.(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatalf("zombie's record: %v", m.TopicPartition.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("zombie's record not delivered within 30s")
	}

	produce(t, c.Bootstrap(), "in", input[10:20])
	consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 20 }, a)
	must(t, streams.Crash(a.app))
	<-a.done

	// The zombie's transaction ends a while after the successor starts.
	aborted := make(chan error, 1)
	go func() {
		time.Sleep(2 * time.Second)
		aborted <- zombie.AbortTransaction(nil)
	}()
	second := cfg
	second.StateDir = t.TempDir() // nothing local: everything is restored
	b := start(t, countTopology(t, "in", "out", 0), second)
	produce(t, c.Bootstrap(), "in", input[20:])
	out := consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 30 }, b)
	must(t, <-aborted)
	time.Sleep(300 * time.Millisecond) // a duplicate, if any, shows up
	out = consumeUntil(t, c.Bootstrap(), "out", true, 10*time.Second, func(o []consumed) bool { return len(o) >= len(out) }, b)
	checkExactCounts(t, out, map[string]int64{"k00": 30})
	must(t, b.stop(t))
}
