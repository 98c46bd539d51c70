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
