package rdkbatch

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The benchmarks consume b.N records (100-byte values, keys from 10,000
// distinct values, 4 partitions) that a child-process embedded broker
// holds before the clock starts; run them with a fixed count so every
// variant reads the same data:
//
//	go test -run '^$' -bench . -benchtime 1000000x ./internal/rdkbatch/
//
// Each reports rec/s, allocs/op (op = one record, the client process
// only), cpu-ns/rec (the client process: Go and librdkafka threads) and
// broker-cpu-ns/rec (the child). The variants: see variant.

const (
	benchParts      = 4
	benchValueBytes = 100
	benchKeys       = 10_000
)

// tunedConsumer is the consumer configuration of both variants: fetch
// far ahead, and never back off a partition whose queue is over
// queued.min.messages for the default second (a fast loop drains 100,000
// messages in well under that, then would starve).
var tunedConsumer = kafka.ConfigMap{
	"fetch.queue.backoff.ms":     1,
	"queued.min.messages":        200_000,
	"queued.max.messages.kbytes": 262_144,
	"fetch.wait.max.ms":          10,
}

// preload writes n benchmark records to topic through franz-go.
func preload(b *testing.B, bootstrap, topic string, n int) {
	b.Helper()
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%05d", i)
	}
	value := make([]byte, benchValueBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	ts := time.Now()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % benchParts), Key: keys[i%benchKeys], Value: value, Timestamp: ts}
	}
	produce(b, bootstrap, recs)
}

// variant is one way of reading (and, in the pass-through, writing):
// "poll-default" is the Poll loop with librdkafka's default fetch
// settings (bench/'s raw loop), "poll" the same loop tuned, "batch" the
// Reader with the same tuning and Produce per record, "batch-writer" the
// Reader and the Writer.
type variant struct {
	name  string
	batch bool
	write bool
	cfg   kafka.ConfigMap
}

var variants = []variant{{"poll-default", false, false, nil}, {"poll", false, false, tunedConsumer},
	{"batch", true, false, tunedConsumer}, {"batch-writer", true, true, tunedConsumer}}

// benchConsumer assigns every partition of "in" from the start, routed to
// a Reader for the batch variant.
func benchConsumer(b *testing.B, bootstrap string, v variant) (*kafka.Consumer, *Reader) {
	b.Helper()
	batch := v.batch
	c := newConsumer(b, bootstrap, fmt.Sprintf("bench-%d", time.Now().UnixNano()), v.cfg)
	topic := "in"
	tps := make([]kafka.TopicPartition, benchParts)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: &topic, Partition: int32(p), Offset: kafka.OffsetBeginning}
	}
	var r *Reader
	if batch {
		var err error
		if r, err = New(c, Config{}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Close() })
		if err := r.Add(tps); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Assign(tps); err != nil {
		b.Fatal(err)
	}
	return c, r
}

// meter measures one timed phase.
type meter struct {
	b      *testing.B
	broker *childBroker
	start  time.Time
	cpu0   time.Duration
	bcpu0  time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startMeter(b *testing.B, broker *childBroker) *meter {
	b.ReportAllocs()
	m := &meter{b: b, broker: broker, cpu0: processCPU(), bcpu0: broker.cpu()}
	b.ResetTimer()
	m.start = time.Now()
	return m
}

func (m *meter) stop(n int) {
	el := time.Since(m.start)
	m.b.StopTimer()
	cpu, bcpu := processCPU()-m.cpu0, m.broker.cpu()-m.bcpu0
	m.b.ReportMetric(float64(n)/el.Seconds(), "rec/s")
	m.b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/rec")
	m.b.ReportMetric(float64(bcpu.Nanoseconds())/float64(n), "broker-cpu-ns/rec")
	m.b.ReportMetric(0, "ns/op") // rec/s says it; ns/op would repeat it
}

var sink int

// BenchmarkConsume reads b.N preloaded records.
func BenchmarkConsume(b *testing.B) {
	for _, v := range variants {
		if v.write {
			continue // the same read as batch
		}
		b.Run(v.name, func(b *testing.B) {
			broker := startChildBroker(b, map[string]int32{"in": benchParts})
			preload(b, broker.bootstrap, "in", b.N)
			c, r := benchConsumer(b, broker.bootstrap, v)
			buf := make([]Message, 4096)
			deadline := time.Now().Add(10 * time.Minute)
			m := startMeter(b, broker)
			got := 0
			for got < b.N {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d records after 10 minutes", got, b.N)
				}
				if r == nil {
					if e, ok := c.Poll(100).(*kafka.Message); ok && e.TopicPartition.Error == nil {
						got++
						sink += len(e.Key) + len(e.Value)
					}
					continue
				}
				n, err := r.Read(100*time.Millisecond, buf)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if buf[i].Err == nil {
						got++
						sink += len(buf[i].Key) + len(buf[i].Value)
					}
				}
				for ev := c.Poll(0); ev != nil; ev = c.Poll(0) {
				}
			}
			m.stop(got)
		})
	}
}

// passProducer is the pass-through's producer, set up like bench/'s raw
// loop: murmur2_random, linger.ms=5, idempotence, no fields in delivery
// reports, every report read on a goroutine.
type passProducer struct {
	p      *kafka.Producer
	acked  atomic.Int64
	failed atomic.Pointer[error]
	done   chan struct{}
}

func newPassProducer(b *testing.B, bootstrap string) *passProducer {
	b.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"linger.ms": 5, "enable.idempotence": true, "go.delivery.report.fields": "none",
		"log_level": 3, "go.logs.channel.enable": false})
	if err != nil {
		b.Fatal(err)
	}
	pp := &passProducer{p: p, done: make(chan struct{})}
	go func() {
		defer close(pp.done)
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				if err := m.TopicPartition.Error; err != nil {
					pp.failed.CompareAndSwap(nil, &err)
				}
				pp.acked.Add(1)
			}
		}
	}()
	b.Cleanup(func() {
		p.Close()
		<-pp.done
	})
	return pp
}

// produce sends m, waiting while librdkafka's queue is full.
func (pp *passProducer) produce(b *testing.B, m *kafka.Message) {
	for {
		err := pp.p.Produce(m, nil)
		if err == nil {
			return
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
			b.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (pp *passProducer) wait(b *testing.B, n int, deadline time.Time) {
	for pp.acked.Load() < int64(n) {
		if e := pp.failed.Load(); e != nil {
			b.Fatal(*e)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d records acknowledged", pp.acked.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// commitStored commits the positions librdkafka stored (the raw loop's
// every-100-ms commit); nothing new to commit is fine.
func commitStored(b *testing.B, c *kafka.Consumer) {
	if _, err := c.Commit(); err != nil {
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrNoOffset {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassthrough consumes b.N preloaded records and produces each,
// unchanged, to another topic; the clock stops when every one is
// acknowledged.
func BenchmarkPassthrough(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			broker := startChildBroker(b, map[string]int32{"in": benchParts, "out": benchParts})
			preload(b, broker.bootstrap, "in", b.N)
			pp := newPassProducer(b, broker.bootstrap)
			c, r := benchConsumer(b, broker.bootstrap, v)
			outTopic := "out"
			out := kafka.TopicPartition{Topic: &outTopic, Partition: kafka.PartitionAny}
			var msg kafka.Message
			buf := make([]Message, 4096)
			var w *Writer
			outs := make([]OutMessage, len(buf))
			if v.write {
				var err error
				if w, err = NewWriter(pp.p); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = w.Close() })
			}
			deadline := time.Now().Add(10 * time.Minute)
			m := startMeter(b, broker)
			got := 0
			lastCommit := time.Now()
			for got < b.N {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d records after 10 minutes", got, b.N)
				}
				if r == nil {
					if e, ok := c.Poll(100).(*kafka.Message); ok && e.TopicPartition.Error == nil {
						msg = kafka.Message{TopicPartition: out, Key: e.Key, Value: e.Value, Timestamp: e.Timestamp, Headers: e.Headers}
						pp.produce(b, &msg)
						got++
					}
				} else {
					n, err := r.Read(100*time.Millisecond, buf)
					if err != nil {
						b.Fatal(err)
					}
					k := 0
					for i := range n {
						if e := &buf[i]; e.Err == nil {
							if w != nil {
								outs[k] = OutMessage{Topic: outTopic, Partition: kafka.PartitionAny, Key: e.Key, Value: e.Value, Timestamp: e.Timestamp}
								k++
								continue
							}
							msg = kafka.Message{TopicPartition: out, Key: e.Key, Value: e.Value, Timestamp: time.UnixMilli(e.Timestamp)}
							pp.produce(b, &msg)
							got++
						}
					}
					for done := 0; done < k; {
						c, err := w.Write(outs[done:k])
						done += c
						got += c
						var ke kafka.Error
						if err != nil && (!errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull) {
							b.Fatal(err)
						}
						if err != nil {
							time.Sleep(time.Millisecond)
						}
					}
					for ev := c.Poll(0); ev != nil; ev = c.Poll(0) {
					}
				}
				if time.Since(lastCommit) >= 100*time.Millisecond {
					lastCommit = time.Now()
					commitStored(b, c)
				}
			}
			commitStored(b, c)
			pp.wait(b, b.N, deadline)
			m.stop(got)
		})
	}
}

// BenchmarkProduce produces b.N records from memory with the
// pass-through's producer, every delivery report read: the ceiling
// production puts on a pass-through.
func BenchmarkProduce(b *testing.B) {
	broker := startChildBroker(b, map[string]int32{"out": benchParts})
	pp := newPassProducer(b, broker.bootstrap)
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%05d", i)
	}
	value := make([]byte, benchValueBytes)
	outTopic := "out"
	out := kafka.TopicPartition{Topic: &outTopic, Partition: kafka.PartitionAny}
	ts := time.Now()
	var msg kafka.Message
	deadline := time.Now().Add(10 * time.Minute)
	m := startMeter(b, broker)
	for i := range b.N {
		msg = kafka.Message{TopicPartition: out, Key: keys[i%benchKeys], Value: value, Timestamp: ts}
		pp.produce(b, &msg)
	}
	pp.wait(b, b.N, deadline)
	m.stop(b.N)
}
