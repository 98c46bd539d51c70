package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// producer is the instance's one producer (transactional under
// exactly-once). Tasks produce through their collectors from their own
// goroutines; one goroutine reads delivery reports, applies the production
// handler, and records the offsets of changelog writes for checkpoints.
type producer struct {
	p       *kafka.Producer
	eos     bool
	logger  *zap.Logger
	handler ProductionHandler
	metrics *metrics

	inflight atomic.Int64
	mu       sync.Mutex
	cond     *sync.Cond
	failure  error                    // first unhandled delivery error
	txnError error                    // a delivery error under EOS: the transaction must abort
	offsets  map[topicPartition]int64 // next offset after the last delivered changelog record
	tracked  map[string]bool          // changelog topics
	done     chan struct{}

	partsMu sync.Mutex
	parts   map[string]int32
}

type topicPartition struct {
	topic     string
	partition int32
}

func newProducer(cfg *Config, processID string, changelogs map[string]bool, m *metrics) (*producer, error) {
	cm := kafka.ConfigMap{
		"bootstrap.servers":         cfg.BootstrapServers,
		"partitioner":               "murmur2_random",
		"go.delivery.report.fields": "none",
		"go.logs.channel.enable":    false, "log_level": 3,
		"linger.ms":          5,
		"enable.idempotence": true,
	}
	if cfg.ProcessingGuarantee == ExactlyOnceV2 {
		cm["transactional.id"] = cfg.ApplicationID + "-" + processID
		cm["transaction.timeout.ms"] = 60_000
	}
	for k, v := range cfg.ProducerConfig {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("streams: create producer: %w", err)
	}
	pr := &producer{p: p, eos: cfg.ProcessingGuarantee == ExactlyOnceV2, logger: cfg.Logger, handler: cfg.ProductionHandler,
		metrics: m, offsets: map[topicPartition]int64{}, tracked: changelogs, done: make(chan struct{}), parts: map[string]int32{}}
	pr.cond = sync.NewCond(&pr.mu)
	go pr.readEvents()
	return pr, nil
}

func (pr *producer) readEvents() {
	defer close(pr.done)
	for ev := range pr.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			pr.delivered(e)
		case kafka.Error:
			if e.IsFatal() {
				if pr.eos && pr.classifyTxn(e, e) != error(e) {
					// Fenced: the next transaction commit reports it and the
					// runtime replaces this producer.
					pr.logger.Warn("producer fenced", zap.Error(e))
					continue
				}
				pr.fail(fmt.Errorf("streams: producer: fatal: %w", e))
			} else {
				pr.logger.Debug("producer error", zap.Error(e))
			}
		}
	}
}

func (pr *producer) delivered(m *kafka.Message) {
	tp := m.TopicPartition
	pr.mu.Lock()
	if tp.Error != nil {
		pr.deliveryFailed(tp)
	} else if pr.tracked[*tp.Topic] {
		k := topicPartition{*tp.Topic, tp.Partition}
		if next := int64(tp.Offset) + 1; next > pr.offsets[k] {
			pr.offsets[k] = next
		}
	}
	if pr.inflight.Add(-1) == 0 {
		pr.cond.Broadcast()
	}
	pr.mu.Unlock()
}

// deliveryFailed applies the production handler; the caller holds mu.
func (pr *producer) deliveryFailed(tp kafka.TopicPartition) {
	topic := *tp.Topic
	err := tp.Error
	if pr.eos {
		if pr.txnError == nil {
			pr.txnError = fmt.Errorf("streams: delivery to %s-%d failed: %w", topic, tp.Partition, err)
		}
		return
	}
	if pr.tracked[topic] {
		// A lost changelog write would silently lose state: never skip it.
		if pr.failure == nil {
			pr.failure = fmt.Errorf("streams: changelog write to %s-%d failed: %w", topic, tp.Partition, err)
		}
		return
	}
	if pr.handler != nil && pr.handler.OnProductionError(topic, tp.Partition, err) == handler.Continue {
		pr.logger.Warn("record not delivered; dropped as the production handler says",
			zap.String("topic", topic), zap.Int32("partition", tp.Partition), zap.Error(err))
		pr.metrics.droppedProduction()
		return
	}
	if pr.failure == nil {
		pr.failure = fmt.Errorf("streams: delivery to %s-%d failed: %w", topic, tp.Partition, err)
	}
}

func (pr *producer) fail(err error) {
	pr.mu.Lock()
	if pr.failure == nil {
		pr.failure = err
	}
	pr.cond.Broadcast()
	pr.mu.Unlock()
}

// err returns the first unhandled failure.
func (pr *producer) err() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.failure
}

// send produces one record; key and value are copied by librdkafka.
func (pr *producer) send(msg *kafka.Message) error {
	if err := pr.err(); err != nil {
		return err
	}
	pr.inflight.Add(1)
	for {
		err := pr.p.Produce(msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			time.Sleep(time.Millisecond) // librdkafka's queue drains in the background
			continue
		}
		if pr.inflight.Add(-1) == 0 {
			pr.mu.Lock()
			pr.cond.Broadcast()
			pr.mu.Unlock()
		}
		wrapped := fmt.Errorf("streams: produce to %s: %w", *msg.TopicPartition.Topic, err)
		if pr.eos {
			switch c := pr.classifyTxn(wrapped, err).(type) {
			case txnFenced, txnAbortable:
				// The transaction's fault, not the record's, and not for
				// the processing handler: the runtime aborts (or replaces
				// the producer) and resumes from the last commit.
				return handler.Fatal(c)
			}
		}
		return wrapped
	}
}

// flush waits until every record produced so far is acknowledged (or
// failed), then returns the first unhandled failure.
func (pr *producer) flush(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() {
		pr.mu.Lock()
		pr.cond.Broadcast()
		pr.mu.Unlock()
	})
	defer stop.Stop()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for pr.inflight.Load() > 0 && pr.failure == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("streams: %d records not acknowledged within %v", pr.inflight.Load(), timeout)
		}
		pr.cond.Wait()
	}
	return pr.failure
}

// changelogOffsets returns, for the given changelog partitions, the offset
// after the last acknowledged write.
func (pr *producer) changelogOffsets(tps []topicPartition) map[topicPartition]int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := make(map[topicPartition]int64, len(tps))
	for _, tp := range tps {
		if o, ok := pr.offsets[tp]; ok {
			out[tp] = o
		}
	}
	return out
}

func (pr *producer) initTransactions(ctx context.Context) error {
	if err := pr.p.InitTransactions(ctx); err != nil {
		return fmt.Errorf("streams: init transactions: %w", err)
	}
	return pr.begin()
}

func (pr *producer) begin() error {
	if err := pr.p.BeginTransaction(); err != nil {
		return fmt.Errorf("streams: begin transaction: %w", err)
	}
	return nil
}

// commitTransaction commits outputs, changelog writes and offsets, then
// begins the next transaction.
func (pr *producer) commitTransaction(ctx context.Context, offsets []kafka.TopicPartition, meta *kafka.ConsumerGroupMetadata, offsetsSent func()) error {
	pr.mu.Lock()
	txnErr := pr.txnError
	pr.mu.Unlock()
	if txnErr != nil {
		return txnAbortable{txnErr}
	}
	if len(offsets) > 0 {
		if err := pr.p.SendOffsetsToTransaction(ctx, offsets, meta); err != nil {
			return pr.classifyTxn(fmt.Errorf("streams: send offsets to transaction: %w", err), err)
		}
	}
	offsetsSent()
	if err := pr.p.CommitTransaction(ctx); err != nil {
		return pr.classifyTxn(fmt.Errorf("streams: commit transaction: %w", err), err)
	}
	if err := pr.flush(30 * time.Second); err != nil {
		return err
	}
	return pr.begin()
}

// abortTransaction aborts the open transaction and begins a new one.
func (pr *producer) abortTransaction(ctx context.Context) error {
	if err := pr.p.AbortTransaction(ctx); err != nil {
		return pr.classifyTxn(fmt.Errorf("streams: abort transaction: %w", err), err)
	}
	pr.mu.Lock()
	pr.txnError = nil
	pr.mu.Unlock()
	// Aborted records are purged; their delivery reports say so.
	if err := pr.flush(30 * time.Second); err != nil && !errors.As(err, new(txnAbortable)) {
		pr.logger.Debug("flush after abort", zap.Error(err))
	}
	pr.mu.Lock()
	pr.txnError = nil
	pr.mu.Unlock()
	return pr.begin()
}

// txnAbortable marks an error after which the transaction can be aborted
// and processing can resume from the committed offsets.
type txnAbortable struct{ error }

func (e txnAbortable) Unwrap() error { return e.error }

// txnFenced marks a producer fenced by another with the same transactional
// id: it cannot be used again; a new one fences the other in turn.
type txnFenced struct{ error }

func (e txnFenced) Unwrap() error { return e.error }

// classifyTxn marks err as txnFenced or txnAbortable where it is one,
// returning wrapped otherwise.
func (pr *producer) classifyTxn(wrapped, err error) error {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return wrapped
	}
	if ke.Code() == kafka.ErrFatal {
		// librdkafka reports calls made after a fatal error as "Local:
		// Fatal error"; the cause (often a fencing) is kept aside.
		if cause := pr.p.GetFatalError(); cause != nil {
			if ce, ok := cause.(kafka.Error); ok {
				ke = ce
			}
		}
	}
	switch {
	case ke.Code() == kafka.ErrFenced || ke.Code() == kafka.ErrProducerFenced || ke.Code() == kafka.ErrInvalidProducerEpoch:
		return txnFenced{wrapped}
	case ke.IsFatal() || ke.Code() == kafka.ErrFatal:
		return wrapped
	case ke.TxnRequiresAbort(), pr.eos && ke.Code() == kafka.ErrState:
		// ErrState: Produce refused because the open transaction failed.
		return txnAbortable{wrapped}
	}
	return wrapped
}

// partitionCount returns a topic's partition count from cluster metadata.
func (pr *producer) partitionCount(topic string) (int32, error) {
	pr.partsMu.Lock()
	n, ok := pr.parts[topic]
	pr.partsMu.Unlock()
	if ok {
		return n, nil
	}
	md, err := pr.p.GetMetadata(&topic, false, 10_000)
	if err != nil {
		return 0, fmt.Errorf("streams: metadata of %q: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || t.Error.Code() != kafka.ErrNoError || len(t.Partitions) == 0 {
		return 0, fmt.Errorf("streams: topic %q does not exist (%v)", topic, t.Error)
	}
	n = int32(len(t.Partitions))
	pr.partsMu.Lock()
	pr.parts[topic] = n
	pr.partsMu.Unlock()
	return n, nil
}

func (pr *producer) close() {
	pr.p.Close()
	<-pr.done
}

// collector is one task's RecordCollector and ChangelogWriter. It is used
// from the task's goroutine only, so it reuses one message.
type collector struct {
	pr        *producer
	partition int32 // the task's partition, for changelogs
	appID     string
	msg       kafka.Message
	topics    map[string]*string
	changelog map[string]string // store -> changelog topic
	headers   []kafka.Header
	produced  atomic.Int64
}

func newCollector(pr *producer, appID string, partition int32) *collector {
	return &collector{pr: pr, appID: appID, partition: partition, topics: map[string]*string{}, changelog: map[string]string{}}
}

func (c *collector) topic(name string) *string {
	p, ok := c.topics[name]
	if !ok {
		p = &name
		c.topics[name] = p
	}
	return p
}

// Send implements processor.RecordCollector.
func (c *collector) Send(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	c.msg.TopicPartition = kafka.TopicPartition{Topic: c.topic(topic), Partition: partition}
	if partition < 0 {
		c.msg.TopicPartition.Partition = kafka.PartitionAny
	}
	c.msg.Key, c.msg.Value = key, value
	c.msg.Timestamp = time.UnixMilli(ts)
	c.msg.Headers = c.msg.Headers[:0]
	if len(headers) > 0 {
		c.headers = c.headers[:0]
		for _, h := range headers {
			c.headers = append(c.headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		c.msg.Headers = c.headers
	}
	c.produced.Add(1)
	return c.pr.send(&c.msg)
}

// PartitionCount implements processor.RecordCollector.
func (c *collector) PartitionCount(topic string) (int32, error) { return c.pr.partitionCount(topic) }

// Log implements store.ChangelogWriter: the write goes to partition
// <task partition> of the store's changelog.
func (c *collector) Log(storeName string, key, value []byte, ts int64) error {
	t, ok := c.changelog[storeName]
	if !ok {
		t = store.ChangelogTopic(c.appID, storeName)
		c.changelog[storeName] = t
	}
	return c.Send(t, c.partition, key, value, nil, ts)
}
