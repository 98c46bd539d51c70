package rdkbatch

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// allocsPerRead measures the Go allocations of Reads that each return a
// full batch, with the broker in a child process so that nothing else in
// this process allocates meanwhile.
func allocsPerRead(t *testing.T, cfg Config) float64 {
	t.Helper()
	broker := startChildBroker(t, map[string]int32{"in": 2})
	recs := testRecords("in", 2, 20_000)
	for _, r := range recs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "h", Value: []byte("v")})
	}
	produce(t, broker.bootstrap, recs)
	c := newConsumer(t, broker.bootstrap, "g-alloc", kafka.ConfigMap{"queued.min.messages": 100_000})
	r, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	topic := "in"
	tps := []kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning},
		{Topic: &topic, Partition: 1, Offset: kafka.OffsetBeginning}}
	if err := r.Add(tps); err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	buf := make([]Message, 100)
	read := 0
	// Warm up: the first batches size the arena and learn the topic.
	eventually(t, 30*time.Second, "the first records", func() bool {
		n, err := r.Read(100*time.Millisecond, buf)
		if err != nil {
			t.Fatal(err)
		}
		read += n
		return read >= 1000
	})
	// Let librdkafka fetch everything, so every measured Read is full.
	eventually(t, 30*time.Second, "librdkafka holding the rest", func() bool {
		return int(r.queued()) >= len(recs)-read-len(buf)
	})
	short := 0
	allocs := testing.AllocsPerRun(100, func() {
		n, err := r.Read(time.Second, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(buf) {
			short++
		}
	})
	if short > 0 {
		t.Fatalf("%d of 100 measured Reads returned less than a full batch", short)
	}
	return allocs
}

func TestReadAllocatesNothingWithTheReusedArena(t *testing.T) {
	if a := allocsPerRead(t, Config{Headers: true}); a != 0 {
		t.Fatalf("%.2f allocations per Read of 100 records, want 0", a)
	}
}

func TestRetainAllocatesPerReadNotPerRecord(t *testing.T) {
	// One arena and one header slice per Read, whatever the batch holds.
	if a := allocsPerRead(t, Config{Headers: true, Retain: true}); a > 2 {
		t.Fatalf("%.2f allocations per Read of 100 records, want at most 2", a)
	}
}

// Appending and flushing records with headers allocates nothing once the
// Writer's buffers have grown: the per-record produce path of a task.
func TestAppendAndFlushAllocateNothingInSteadyState(t *testing.T) {
	broker := startChildBroker(t, map[string]int32{"out": 1})
	// No delivery reports: the wrapper allocates one per record, in the background.
	p, _ := newProducer(t, broker.bootstrap, kafka.ConfigMap{"queue.buffering.max.messages": 2_000_000, "go.delivery.reports": false})
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	m := OutMessage{Topic: "out", Partition: kafka.PartitionAny, Key: []byte("key"), Value: []byte("value"), Timestamp: 1}
	hv := []byte("hv")
	batch := func() {
		for range 256 {
			if err := w.Append(&m); err != nil {
				t.Fatal(err)
			}
			w.AddHeader("h", hv)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	batch() // grows the buffers and learns the topic
	if a := testing.AllocsPerRun(50, batch) / 256; a != 0 {
		t.Fatalf("%.3f allocations per appended record, want 0", a)
	}
}

// With the own Producer, producing records and having their delivery
// reports served allocates nothing per record in the whole process (the
// poll goroutine included): the reports are counted in C.
func TestOwnProducerDeliveriesAllocateNothingPerRecord(t *testing.T) {
	broker := startChildBroker(t, map[string]int32{"out": 1})
	p := newOwnProducer(t, broker.bootstrap, map[string]string{"queue.buffering.max.messages": "2000000"})
	w := newOwnWriter(t, p)
	m := OutMessage{Topic: "out", Partition: kafka.PartitionAny, Key: []byte("key"), Value: []byte("value"), Timestamp: 1}
	hv := []byte("hv")
	var sent int64
	batch := func() {
		for range 1000 {
			if err := w.Append(&m); err != nil {
				t.Fatal(err)
			}
			w.AddHeader("h", hv)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		sent += 1000
		deadline := time.Now().Add(30 * time.Second)
		for p.Delivered() < sent {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d delivered", p.Delivered(), sent)
			}
			time.Sleep(time.Millisecond)
		}
	}
	batch()
	if a := testing.AllocsPerRun(20, batch) / 1000; a > 0.01 {
		t.Fatalf("%.4f allocations per delivered record, want 0", a)
	}
}
