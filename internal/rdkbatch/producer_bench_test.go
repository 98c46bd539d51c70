package rdkbatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// BenchmarkProduceBatches produces b.N records from memory (100-byte
// values, 10,000 keys, 4 partitions) in Writer batches of 1024, the way a
// task's collector does, and stops the clock when every one is
// acknowledged. Both producers are idempotent with linger.ms 5 and
// murmur2_random:
//
//   - wrapper: confluent-kafka-go's producer, every delivery report read
//     from its Events channel (as streams.producer.readEvents does, with
//     go.delivery.report.fields none);
//   - own: this package's Producer, reports counted in C.
//
// go test -run '^$' -bench ProduceBatches -benchtime 1000000x -count 3 ./internal/rdkbatch/
func BenchmarkProduceBatches(b *testing.B) {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%05d", i)
	}
	value := make([]byte, benchValueBytes)
	run := func(b *testing.B, broker *childBroker, w *Writer, acked func() int64) {
		msg := OutMessage{Topic: "out", Partition: kafka.PartitionAny, Value: value, Timestamp: time.Now().UnixMilli()}
		deadline := time.Now().Add(10 * time.Minute)
		m := startMeter(b, broker)
		for i := range b.N {
			msg.Key = keys[i%benchKeys]
			if err := w.Append(&msg); err != nil {
				b.Fatal(err)
			}
			if w.Pending() == 1024 || i == b.N-1 {
				for {
					err := w.Flush()
					if err == nil {
						break
					}
					if ke, ok := err.(kafka.Error); !ok || ke.Code() != kafka.ErrQueueFull {
						b.Fatal(err)
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
		for acked() < int64(b.N) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d records acknowledged", acked(), b.N)
			}
			time.Sleep(time.Millisecond)
		}
		m.stop(b.N)
	}
	b.Run("wrapper", func(b *testing.B) {
		broker := startChildBroker(b, map[string]int32{"out": benchParts})
		pp := newPassProducer(b, broker.bootstrap)
		w, err := NewWriter(pp.p)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		run(b, broker, w, func() int64 {
			if e := pp.failed.Load(); e != nil {
				b.Fatal(*e)
			}
			return pp.acked.Load()
		})
	})
	b.Run("own", func(b *testing.B) {
		broker := startChildBroker(b, map[string]int32{"out": benchParts})
		p := newOwnProducer(b, broker.bootstrap, nil)
		w := newOwnWriter(b, p)
		run(b, broker, w, func() int64 {
			if f := p.TakeFailures(nil); len(f) > 0 {
				b.Fatal(f[0].Err)
			}
			return p.Delivered()
		})
	})
}
