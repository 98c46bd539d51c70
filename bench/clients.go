package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// createTopics creates fresh topics (with config, if any) and waits until
// metadata shows them.
func createTopics(ctx context.Context, admin *kafka.AdminClient, topics []string, partitions int, config map[string]string) error {
	specs := make([]kafka.TopicSpecification, len(topics))
	for i, t := range topics {
		specs[i] = kafka.TopicSpecification{Topic: t, NumPartitions: partitions, ReplicationFactor: -1, Config: config}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(cctx, specs, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Error)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := admin.GetMetadata(nil, true, 10_000)
		ok := err == nil
		for _, t := range topics {
			if !ok {
				break
			}
			m, found := md.Topics[t]
			ok = found && m.Error.Code() == kafka.ErrNoError && len(m.Partitions) == partitions
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v not in metadata 30 s after creation (%v)", topics, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deleteTopicsWithPrefix removes a row's topics, those it created and
// those its processor did (changelogs, Goka's table), so an embedded
// broker does not keep them in memory and a real cluster is left as
// found. Best effort.
func deleteTopicsWithPrefix(admin *kafka.AdminClient, prefix string) {
	md, err := admin.GetMetadata(nil, true, 10_000)
	if err != nil {
		return
	}
	var topics []string
	for t := range md.Topics {
		if strings.HasPrefix(t, prefix) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = admin.DeleteTopics(ctx, topics, kafka.SetAdminOperationTimeout(30*time.Second))
}

// loadProducer writes the input records.
type loadProducer struct {
	p      *kafka.Producer
	msg    kafka.Message
	topic  string
	acked  atomic.Int64 // delivery reports, successful or not
	mu     sync.Mutex
	failed error
	done   chan struct{}
}

func newLoadProducer(bootstrap string, extra map[string]any) (*loadProducer, error) {
	cm := kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"go.delivery.report.fields": "none", "log_level": 3, "go.logs.channel.enable": false}
	for k, v := range extra {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, err
	}
	lp := &loadProducer{p: p, done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil {
					lp.mu.Lock()
					if lp.failed == nil {
						lp.failed = m.TopicPartition.Error
					}
					lp.mu.Unlock()
				}
				lp.acked.Add(1)
			}
		}
	}()
	return lp, nil
}

func (lp *loadProducer) err() error {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.failed
}

// produce sends one record stamped with ts, waiting while librdkafka's
// queue is full.
func (lp *loadProducer) produce(ctx context.Context, topic string, key, value []byte, ts time.Time) error {
	if lp.topic != topic {
		lp.topic = topic
	}
	lp.msg = kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &lp.topic, Partition: kafka.PartitionAny},
		Key: key, Value: value, Timestamp: ts}
	for {
		err := lp.p.Produce(&lp.msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// wait returns once n records are acknowledged.
func (lp *loadProducer) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for lp.acked.Load() < int64(n) {
		if err := lp.err(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d records acknowledged after %v", lp.acked.Load(), n, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return lp.err()
}

func (lp *loadProducer) close() {
	lp.p.Close()
	<-lp.done
}

func newReaderConsumer(bootstrap string, committed bool) (*kafka.Consumer, error) {
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	return kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap,
		// Assign-only consumers never join this group; librdkafka wants one.
		"group.id":           fmt.Sprintf("bench-reader-%d", time.Now().UnixNano()),
		"enable.auto.commit": false, "isolation.level": iso,
		// Bound the broker's wait when a fetch finds nothing new (under
		// read_committed, until a transaction commits), so the reader does
		// not add up to 500 ms to what it measures.
		"fetch.wait.max.ms": 10,
		// Tuned as the raw baselines' consumers are. With librdkafka's
		// default back-off (1 s) a reader that falls 100,000 records behind
		// (queued.min.messages) stops fetching for a second, and the
		// counter, not the row, set the measured rate: rows ran at 30-40 %
		// of two CPUs and at 0.5-2.8x raw from run to run; counted by high
		// watermarks instead, the same rows ran steadily (bench/README.md,
		// "The bench's own counter").
		"fetch.queue.backoff.ms":    0,
		"max.partition.fetch.bytes": 10 << 20,
		"log_level":                 3, "go.logs.channel.enable": false})
}

// highWatermarks returns the high watermark of every partition of topic.
func highWatermarks(bootstrap, topic string, partitions int32) ([]kafka.TopicPartition, error) {
	c, err := newReaderConsumer(bootstrap, false)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]kafka.TopicPartition, partitions)
	for p := range partitions {
		_, high, err := c.QueryWatermarkOffsets(topic, p, 10_000)
		if err != nil {
			return nil, fmt.Errorf("watermarks of %s-%d: %w", topic, p, err)
		}
		out[p] = kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(high)}
	}
	return out, nil
}

// outputCounter tells when the output topic holds the target count.
type outputCounter interface {
	count() int64
	perPartition() []int64
	reached() <-chan struct{}
	reachedAt() time.Time
	firstOut() <-chan struct{}
	firstAt() (time.Time, int64)
	stop()
}

// target is the shared part of the counters: the count, and the moment it
// first reached the target.
type target struct {
	want   int64
	n      atomic.Int64
	parts  []atomic.Int64 // per output partition, for -v
	at     time.Time
	first  time.Time // when the count first reached 1
	firstN int64     // the count then
	firstC chan struct{}
	hit    chan struct{}
	once   sync.Once
	once1  sync.Once
	stopc  chan struct{}
	done   chan struct{}
	stop1  sync.Once
}

func newTarget(want int, partitions int32) *target {
	return &target{want: int64(want), parts: make([]atomic.Int64, partitions), hit: make(chan struct{}),
		firstC: make(chan struct{}), stopc: make(chan struct{}), done: make(chan struct{})}
}

// perPartition returns the count of each partition.
func (t *target) perPartition() []int64 {
	out := make([]int64, len(t.parts))
	for i := range t.parts {
		out[i] = t.parts[i].Load()
	}
	return out
}

func (t *target) set(n int64, now time.Time) {
	t.n.Store(n)
	if n >= 1 {
		t.once1.Do(func() {
			t.first, t.firstN = now, n
			close(t.firstC)
		})
	}
	if n >= t.want {
		t.once.Do(func() {
			t.at = now
			close(t.hit)
		})
	}
}

func (t *target) count() int64             { return t.n.Load() }
func (t *target) reached() <-chan struct{} { return t.hit }

// reachedAt is valid once reached is closed.
func (t *target) reachedAt() time.Time { return t.at }

// firstOut is closed when the first record is counted.
func (t *target) firstOut() <-chan struct{} { return t.firstC }

// firstAt is when the first records were counted, and how many there
// were; valid once firstOut is closed.
func (t *target) firstAt() (time.Time, int64) { return t.first, t.firstN }

func (t *target) halt() {
	t.stop1.Do(func() { close(t.stopc) })
	<-t.done
}

// watermarkCounter sums the output's high watermarks every 20 ms. Without
// transactions, offsets are records, so the sum is the record count.
type watermarkCounter struct {
	*target
	c *kafka.Consumer
}

func startWatermarkCounter(bootstrap, topic string, partitions int32, want int) (*watermarkCounter, error) {
	c, err := newReaderConsumer(bootstrap, false)
	if err != nil {
		return nil, err
	}
	w := &watermarkCounter{target: newTarget(want, partitions), c: c}
	go func() {
		defer close(w.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stopc:
				return
			case <-t.C:
			}
			var sum int64
			ok := true
			for p := range partitions {
				_, high, err := c.QueryWatermarkOffsets(topic, p, 5_000)
				if err != nil || high < 0 {
					ok = false
					break
				}
				sum += high
				w.parts[p].Store(high)
			}
			if ok {
				w.set(sum, time.Now())
			}
		}
	}()
	return w, nil
}

func (w *watermarkCounter) stop() {
	w.halt()
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// reader consumes a topic from given offsets and counts records; with
// latencies set it also keeps now - record timestamp of each.
type reader struct {
	*target
	c        *kafka.Consumer
	keepLats bool
	lats     []time.Duration // written by the reading goroutine until done
	closed   bool
}

func startReader(bootstrap string, from []kafka.TopicPartition, committed, keepLats bool, want int) (*reader, error) {
	parts := int32(0)
	for _, tp := range from {
		parts = max(parts, tp.Partition+1)
	}
	c, err := newReaderConsumer(bootstrap, committed)
	if err != nil {
		return nil, err
	}
	if err := c.Assign(from); err != nil {
		c.Close()
		return nil, err
	}
	r := &reader{target: newTarget(want, parts), c: c, keepLats: keepLats}
	if keepLats {
		r.lats = make([]time.Duration, 0, want)
	}
	go func() {
		defer close(r.done)
		var n int64
		for {
			select {
			case <-r.stopc:
				return
			default:
			}
			m, ok := c.Poll(50).(*kafka.Message)
			if !ok || m.TopicPartition.Error != nil {
				continue
			}
			now := time.Now()
			if keepLats {
				r.lats = append(r.lats, now.Sub(sentAt(m)))
			}
			n++
			if p := m.TopicPartition.Partition; p >= 0 && int(p) < len(r.parts) {
				r.parts[p].Add(1)
			}
			r.set(n, now)
		}
	}()
	return r, nil
}

// startConsumerCounter counts what a consumer (read_committed if committed
// is set) sees of the output from its start.
func startConsumerCounter(bootstrap, topic string, partitions int32, want int, committed bool) (*reader, error) {
	from := make([]kafka.TopicPartition, partitions)
	for p := range partitions {
		from[p] = kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning}
	}
	return startReader(bootstrap, from, committed, false, want)
}

// startLatencyReader reads the output from the given offsets and keeps
// every record's latency.
func startLatencyReader(bootstrap, topic string, from []kafka.TopicPartition, committed bool, want int) (*reader, error) {
	return startReader(bootstrap, from, committed, true, want)
}

// sentAt is a record's input produce time: the bench-ts header where a
// processor carries it there (goka-count), else the record's timestamp.
func sentAt(m *kafka.Message) time.Time {
	for _, h := range m.Headers {
		if h.Key == latencyHeader && len(h.Value) == 8 {
			return time.UnixMilli(int64(binary.BigEndian.Uint64(h.Value)))
		}
	}
	return m.Timestamp
}

func (r *reader) stop() {
	r.halt()
	if !r.closed {
		r.closed = true
		r.c.Close()
	}
}

// latencies is valid after stop.
func (r *reader) latencies() []time.Duration { return r.lats }
