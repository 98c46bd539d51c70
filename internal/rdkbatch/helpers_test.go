package rdkbatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/millrace/millrace/kafkatest"
)

// startCluster starts an embedded broker with the given topics, closed
// when the test ends (after everything registered later).
func startCluster(t testing.TB, topics map[string]int32) *kafkatest.Cluster {
	t.Helper()
	cl, err := kafkatest.Start(kafkatest.Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes recs with franz-go (each to its own Partition), waiting
// for every acknowledgement.
func produce(t testing.TB, bootstrap string, recs []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var first error
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if first != nil {
		t.Fatalf("produce: %v", first)
	}
}

// testRecords makes n records spread over parts partitions of topic, with
// a null key on every 7th, a null value on every 11th, an empty value on
// every 13th and two headers (one with a null value) on every 5th.
func testRecords(topic string, parts int32, n int) []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	out := make([]*kgo.Record, n)
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i) % parts, Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if i%7 == 0 {
			r.Key = nil
		}
		if i%11 == 0 {
			r.Value = nil
		} else if i%13 == 0 {
			r.Value = []byte{}
		}
		if i%5 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "h1", Value: fmt.Appendf(nil, "x%d", i)}, {Key: "h2"}}
		}
		out[i] = r
	}
	return out
}

// newConsumer makes a group consumer, closed when the test ends.
func newConsumer(t testing.TB, bootstrap, group string, extra kafka.ConfigMap) *kafka.Consumer {
	t.Helper()
	cm := kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
		"enable.auto.commit": false, "partition.assignment.strategy": "range",
		"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 50,
		"log_level": 3, "go.logs.channel.enable": false}
	for k, v := range extra {
		cm[k] = v
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// member is a group consumer read through a Reader, the way an
// application would wire it: Add before Assign in the rebalance callback.
type member struct {
	c        *kafka.Consumer
	r        *Reader
	buf      []Message
	assigned int // rebalance callbacks that assigned partitions
	revoked  int
	owned    map[int32]bool
	polled   []*kafka.Message // messages c.Poll returned
}

func newMember(t testing.TB, bootstrap, group, topic string, cfg Config, extra kafka.ConfigMap) *member {
	t.Helper()
	c := newConsumer(t, bootstrap, group, extra)
	r, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() }) // runs before the consumer's Close
	m := &member{c: c, r: r, buf: make([]Message, 256), owned: map[int32]bool{}}
	err = c.SubscribeTopics([]string{topic}, func(c *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			m.assigned++
			if err := m.r.Add(e.Partitions); err != nil {
				t.Errorf("add: %v", err)
			}
			for _, tp := range e.Partitions {
				m.owned[tp.Partition] = true
			}
			return c.Assign(e.Partitions)
		case kafka.RevokedPartitions:
			m.revoked++
			m.owned = map[int32]bool{}
			return c.Unassign()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// step reads one batch (waiting up to wait) and serves the consumer
// queue; it returns the batch.
func (m *member) step(t testing.TB, wait time.Duration) []Message {
	t.Helper()
	n, err := m.r.Read(wait, m.buf)
	if err != nil {
		t.Fatal(err)
	}
	for ev := m.c.Poll(0); ev != nil; ev = m.c.Poll(0) {
		switch e := ev.(type) {
		case *kafka.Message:
			m.polled = append(m.polled, e)
		case kafka.Error:
			if e.IsFatal() {
				t.Fatalf("consumer: %v", e)
			}
		}
	}
	return m.buf[:n]
}

// got is a consumed record, copied out of the arena.
type got struct {
	partition int32
	offset    int64
	ts        int64
	key, val  []byte
	headers   []Header
}

func copyOf(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func snapshot(m *Message) got {
	g := got{partition: m.Partition, offset: m.Offset, ts: m.Timestamp, key: copyOf(m.Key), val: copyOf(m.Value)}
	for _, h := range m.Headers {
		g.headers = append(g.headers, Header{Key: copyOf(h.Key), Value: copyOf(h.Value)})
	}
	return g
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(time.Millisecond) // a condition that does not block must not spin
	}
}
