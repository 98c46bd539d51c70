package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/rdkbatch"
)

// producer is the instance's one producer (transactional under
// exactly-once). Tasks produce through their collectors from their own
// goroutines without taking any lock: a failure is published as an atomic
// flag. One goroutine reads delivery reports, applies the production handler
// (outside any lock, so a slow handler delays no task), records the offsets
// of changelog writes for checkpoints, and counts the reports, which is how
// a flush knows when every record sent so far is done.
type producer struct {
	// p is confluent-kafka-go's producer, or nil when the App produces
	// through own, Millrace's own client (the default, Config.producerClient; see
	// own.go): one of the two is set.
	p       *kafka.Producer
	own     *rdkbatch.Producer
	ownRun  ownRun // the own client's event goroutine's state
	eos     bool
	logger  *zap.Logger
	handler ProductionHandler
	metrics *metrics
	// onFatal learns of an unrecoverable failure at once, so the App
	// reports PendingError while it still shuts down.
	onFatal func(error)
	// timeout is the producer's delivery timeout; waits for
	// acknowledgements last this long plus deliveryMargin.
	timeout time.Duration
	// dlqTopic is Config.DeadLetterQueueTopic, for handlers' ErrorContext.
	dlqTopic string
	// deadLettered counts the dead letters written for delivery failures
	// reported after their task moved on (at-least-once only, where the
	// producer is never replaced); tasks count the others.
	deadLettered atomic.Int64
	// stop is closed when the producer closes: a wait for a dead letter's
	// acknowledgement ends.
	stop     chan struct{}
	stopOnce sync.Once

	failed    atomic.Bool  // failure is set
	delivered atomic.Int64 // delivery reports handled
	// flushers counts flush calls waiting on cond. A flusher adds itself
	// under mu before it compares delivered with its target; a delivery
	// adds to delivered before it reads flushers. Either the flusher sees
	// the delivery, or the delivery sees the flusher and broadcasts under
	// mu, which it can take only once the flusher waits: no wakeup is lost,
	// and with no flusher a delivery takes no lock.
	flushers atomic.Int32

	mu       sync.Mutex
	cond     *sync.Cond
	failure  error                    // first unhandled delivery error
	txnError error                    // a delivery error under EOS: the transaction must abort
	offsets  map[topicPartition]int64 // next offset after the last delivered changelog record
	tracked  map[string]bool          // changelog topics
	live     map[*collector]struct{}  // collectors whose sends count
	retired  int64                    // sends of collectors no longer live
	done     chan struct{}

	// batching: collectors produce in batches through rdkbatch (checked
	// once when the producer is made).
	batching bool
	// batchRecordBytes is the largest record (key, value and headers) a
	// collector batches: message.max.bytes less a margin for librdkafka's
	// overhead; larger ones are produced on their own (see collector.send).
	batchRecordBytes int

	partsMu sync.Mutex
	parts   map[string]int32
}

type topicPartition struct {
	topic     string
	partition int32
}

func newProducer(cl *clients, processID string, changelogs map[string]bool, m *metrics, onFatal func(error)) (*producer, error) {
	if usesOwnProducer(cl.cfg) {
		return newOwnProducer(cl, processID, changelogs, m, onFatal)
	}
	p, err := cl.producer(processID)
	if err != nil {
		return nil, err
	}
	pr := newProducerState(cl, changelogs, m, onFatal)
	pr.p = p
	if w, err := rdkbatch.NewWriter(p); err != nil {
		pr.logger.Warn("batch produce unavailable (the client is not one rdkbatch knows); producing record by record", zap.Error(err))
	} else {
		_ = w.Close()
		pr.batching = !cl.cfg.produceRecordByRecord
		pr.batchRecordBytes = maxMessageBytes(cl.cfg) - batchRecordMargin
	}
	go pr.readEvents()
	return pr, nil
}

// newProducerState is a producer without its client.
func newProducerState(cl *clients, changelogs map[string]bool, m *metrics, onFatal func(error)) *producer {
	pr := &producer{eos: cl.cfg.ProcessingGuarantee == ExactlyOnceV2, logger: cl.cfg.Logger,
		handler: cl.cfg.ProductionHandler, metrics: m, onFatal: onFatal, timeout: deliveryTimeout(cl.cfg),
		dlqTopic: cl.cfg.DeadLetterQueueTopic, stop: make(chan struct{}),
		offsets: map[topicPartition]int64{}, tracked: changelogs, live: map[*collector]struct{}{},
		done: make(chan struct{}), parts: map[string]int32{}}
	pr.cond = sync.NewCond(&pr.mu)
	return pr
}

// ackTimeout is the longest wait for acknowledgements.
func (pr *producer) ackTimeout() time.Duration { return pr.timeout + deliveryMargin }

func (pr *producer) readEvents() {
	defer close(pr.done)
	for ev := range pr.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			pr.delivered1(e)
		case kafka.Error:
			pr.clientError(e)
		}
	}
}

// clientError handles an error the client reported on its own.
func (pr *producer) clientError(e kafka.Error) {
	if e.IsFatal() {
		if pr.eos && pr.classifyTxn(e, e) != error(e) {
			// Fenced: the next transaction commit reports it and the
			// runtime replaces this producer.
			pr.logger.Warn("producer fenced", zap.Error(e))
			return
		}
		pr.fail(fmt.Errorf("streams: producer: fatal: %w", e))
	} else {
		pr.logger.Debug("producer error", zap.Error(e))
	}
}

func (pr *producer) delivered1(m *kafka.Message) {
	tp := m.TopicPartition
	var failure error
	if tp.Error != nil {
		failure = pr.deliveryFailed(m)
	}
	if failure == nil && (tp.Error != nil || !pr.tracked[*tp.Topic]) {
		// The common case: nothing to record but the count.
		pr.delivered.Add(1)
		if pr.flushers.Load() > 0 {
			pr.mu.Lock()
			pr.cond.Broadcast()
			pr.mu.Unlock()
		}
		return
	}
	pr.mu.Lock()
	first := false
	if failure != nil {
		first = pr.setFailure(failure)
	} else {
		k := topicPartition{*tp.Topic, tp.Partition}
		if next := int64(tp.Offset) + 1; next > pr.offsets[k] {
			pr.offsets[k] = next
		}
	}
	pr.delivered.Add(1)
	pr.cond.Broadcast()
	pr.mu.Unlock()
	if first && pr.onFatal != nil {
		pr.onFatal(failure)
	}
}

// deliveryFailed decides about an undelivered record and returns the error
// that stops the App, or nil. It runs without the lock: the production
// handler is user code.
func (pr *producer) deliveryFailed(m *kafka.Message) error {
	tp := m.TopicPartition
	topic := *tp.Topic
	err := tp.Error
	if pr.eos {
		var ke kafka.Error
		if errors.As(err, &ke) && permanentDeliveryError(ke.Code()) {
			// The record can never be written: aborting and retrying the
			// transaction would fail the same way forever.
			return fmt.Errorf("streams: delivery to %s-%d failed permanently: %w", topic, tp.Partition, err)
		}
		pr.mu.Lock()
		if pr.txnError == nil {
			pr.txnError = fmt.Errorf("streams: delivery to %s-%d failed: %w", topic, tp.Partition, err)
		}
		pr.mu.Unlock()
		return nil
	}
	if isDeadLetter(m) {
		// Never to the production handler, which could answer with
		// another dead letter, and so on.
		return deadLetterFailed(topic, err)
	}
	if pr.tracked[topic] {
		// A lost changelog write would silently lose state: never skip it.
		return fmt.Errorf("streams: changelog write to %s-%d failed: %w", topic, tp.Partition, err)
	}
	// A delivery report carries no timestamp (confluent-kafka-go v2.11.1).
	rec := &handler.ProducerRecord{Topic: topic, Partition: tp.Partition, Key: m.Key, Value: m.Value,
		Headers: fromKafkaHeaders(m.Headers), Timestamp: -1}
	if !m.Timestamp.IsZero() {
		rec.Timestamp = m.Timestamp.UnixMilli()
	}
	ec := &handler.ErrorContext{Timestamp: rec.Timestamp, DeadLetterQueueTopic: pr.dlqTopic}
	resp, herr := handler.Production(pr.handler, ec, rec, err)
	if herr != nil {
		return herr
	}
	if err := pr.writeDeadLettersNow(resp.DeadLetters); err != nil {
		return fmt.Errorf("%w (while handling the failed delivery to %s-%d: %w)", err, topic, tp.Partition, tp.Error)
	}
	if resp.Result == handler.Continue {
		pr.logger.Warn("record not delivered; dropped as the production handler says",
			zap.String("topic", topic), zap.Int32("partition", tp.Partition), zap.Int("dead_letters", len(resp.DeadLetters)), zap.Error(err))
		pr.metrics.droppedProduction()
		return nil
	}
	return fmt.Errorf("streams: delivery to %s-%d failed: %w", topic, tp.Partition, err)
}

// permanentDeliveryError reports errors no retry of the same record can
// cure.
func permanentDeliveryError(code kafka.ErrorCode) bool {
	switch code {
	case kafka.ErrMsgSizeTooLarge, kafka.ErrInvalidMsg, kafka.ErrInvalidMsgSize, kafka.ErrRecordListTooLarge,
		kafka.ErrTopicAuthorizationFailed, kafka.ErrInvalidRecord, kafka.ErrTopicException:
		return true
	}
	return false
}

// setFailure records the first failure and reports whether err was it;
// the caller holds mu, and calls onFatal after unlocking when it was.
func (pr *producer) setFailure(err error) bool {
	if pr.failure != nil {
		return false
	}
	pr.failure = err
	pr.failed.Store(true)
	pr.cond.Broadcast()
	return true
}

func (pr *producer) fail(err error) {
	pr.mu.Lock()
	first := pr.setFailure(err)
	pr.mu.Unlock()
	if first && pr.onFatal != nil {
		pr.onFatal(err)
	}
}

// err returns the first unhandled failure.
func (pr *producer) err() error {
	if !pr.failed.Load() {
		return nil
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.failure
}

// batchRecordMargin is kept below message.max.bytes for librdkafka's own
// accounting of a record (its wire overhead: tens of bytes).
const batchRecordMargin = 1024

// maxMessageBytes is the producer's message.max.bytes: the user's, or
// librdkafka's default.
func maxMessageBytes(cfg *Config) int {
	const librdkafkaDefault = 1_000_000
	switch v := cfg.ProducerConfig["message.max.bytes"].(type) {
	case int:
		return v
	case int32:
		return int(v)
	case int64:
		return int(v)
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return librdkafkaDefault
}

// newBatch returns a batch writer for a collector, or nil when the
// producer's client is not one rdkbatch accepts (the collector then
// produces record by record; the producer warned once).
func (pr *producer) newBatch() *rdkbatch.Writer {
	if !pr.batching {
		return nil
	}
	var w *rdkbatch.Writer
	var err error
	if pr.own != nil {
		w, err = rdkbatch.NewProducerWriter(pr.own)
	} else {
		w, err = rdkbatch.NewWriter(pr.p)
	}
	if err != nil {
		pr.logger.Warn("batch produce unavailable; producing record by record", zap.Error(err))
		return nil
	}
	return w
}

// register counts c's sends in flushes until retire.
func (pr *producer) register(c *collector) {
	pr.mu.Lock()
	pr.live[c] = struct{}{}
	pr.mu.Unlock()
}

// retire stops tracking c; what it sent stays counted.
func (pr *producer) retire(c *collector) {
	pr.mu.Lock()
	c.closeBatch() // nothing sends through c any more
	if _, ok := pr.live[c]; ok {
		delete(pr.live, c)
		pr.retired += c.sent.Load()
	}
	pr.mu.Unlock()
}

// sentLocked is every record handed to librdkafka so far; the caller holds
// mu.
func (pr *producer) sentLocked() int64 {
	n := pr.retired
	for c := range pr.live {
		n += c.sent.Load()
	}
	return n
}

// send produces one record; key and value are copied by librdkafka. It
// retries while librdkafka's queue is full.
func (pr *producer) send(msg *kafka.Message) error {
	if err := pr.err(); err != nil {
		return err
	}
	for {
		err := pr.produce1(msg)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			time.Sleep(time.Millisecond) // librdkafka's queue drains in the background
			if err := pr.err(); err != nil {
				return err
			}
			continue
		}
		return pr.refusal(*msg.TopicPartition.Topic, err)
	}
}

// refusal is the error for a record to topic that librdkafka refused at
// once with err: fatal when it is the transaction's fault, not the
// record's, and not for any handler (the runtime aborts, or replaces the
// producer, and resumes from the last commit); otherwise the record's, for
// the production handler.
func (pr *producer) refusal(topic string, err error) error {
	wrapped := fmt.Errorf("streams: produce to %s: %w", topic, err)
	if pr.eos {
		switch c := pr.classifyTxn(wrapped, err).(type) {
		case txnFenced, txnAbortable:
			return handler.Fatal(c)
		}
	}
	return wrapped
}

// flush waits until every record handed to librdkafka so far is
// acknowledged or failed (its delivery report handled), or the wait passes
// timeout; it returns the first unhandled failure. Callers make sure no
// collector sends meanwhile (tasks wait in the commit barrier, slow ones at
// their collector's gate), so the count it waits for is fixed.
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
	pr.flushers.Add(1) // before reading delivered: see the field's doc
	defer pr.flushers.Add(-1)
	target := pr.sentLocked()
	for pr.delivered.Load() < target && pr.failure == nil {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("streams: %d records not acknowledged within %v (the producer's delivery timeout is %v)",
				target-pr.delivered.Load(), timeout, pr.timeout)
		}
		pr.cond.Wait()
	}
	return pr.failure
}

// changelogOffsets returns, for the given changelog partitions, the offset
// after the last acknowledged write.
func (pr *producer) changelogOffsets(tps []topicPartition) map[topicPartition]int64 {
	if pr.own != nil {
		return pr.ownOffsets(tps)
	}
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
	var err error
	if pr.own != nil {
		err = pr.own.InitTransactions(ctx)
	} else {
		err = pr.p.InitTransactions(ctx)
	}
	if err != nil {
		return fmt.Errorf("streams: init transactions: %w", err)
	}
	return pr.begin()
}

func (pr *producer) begin() error {
	var err error
	if pr.own != nil {
		err = pr.own.BeginTransaction()
	} else {
		err = pr.p.BeginTransaction()
	}
	if err != nil {
		return fmt.Errorf("streams: begin transaction: %w", err)
	}
	return nil
}

// commitTransaction commits outputs, changelog writes and offsets, then
// begins the next transaction. offsetsSent runs between the two steps
// (a crash test's fault point).
// cons is the group consumer whose offsets they are (its group metadata
// goes with them).
func (pr *producer) commitTransaction(ctx context.Context, offsets []kafka.TopicPartition, cons *kafka.Consumer, offsetsSent func()) error {
	pr.mu.Lock()
	txnErr := pr.txnError
	pr.mu.Unlock()
	if txnErr != nil {
		return txnAbortable{txnErr}
	}
	if len(offsets) > 0 {
		send := func() error { return pr.own.SendOffsetsToTransaction(ctx, offsets, cons) }
		if pr.own == nil {
			meta, err := cons.GetConsumerGroupMetadata()
			if err != nil {
				return err
			}
			send = func() error { return pr.p.SendOffsetsToTransaction(ctx, offsets, meta) }
		}
		if err := retryTxn(ctx, send); err != nil {
			return pr.classifyTxn(fmt.Errorf("streams: send offsets to transaction: %w", err), err)
		}
	}
	offsetsSent()
	commit := func() error {
		if pr.own != nil {
			return pr.own.CommitTransaction(ctx)
		}
		return pr.p.CommitTransaction(ctx)
	}
	if err := retryTxn(ctx, commit); err != nil {
		return pr.classifyTxn(fmt.Errorf("streams: commit transaction: %w", err), err)
	}
	// The commit flushed every record; their delivery reports (changelog
	// offsets for checkpoints) may still be on their way.
	if err := pr.flush(pr.ackTimeout()); err != nil {
		return err
	}
	return pr.begin()
}

// retryTxn calls a transactional call again, while ctx allows, as long as
// it fails with an error librdkafka marks retriable (a timeout, a
// coordinator moving): the call may then be repeated as it is.
func retryTxn(ctx context.Context, call func() error) error {
	for {
		err := call()
		var ke clientErr
		if err == nil || !errors.As(err, &ke) || !ke.IsRetriable() || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// clientErr is what the runtime reads of a client's error: kafka.Error's
// predicates, which the own client's rdkbatch.TxnError has too.
type clientErr interface {
	error
	Code() kafka.ErrorCode
	IsFatal() bool
	IsRetriable() bool
	TxnRequiresAbort() bool
}

// abortRaw aborts the open transaction, nothing more.
func (pr *producer) abortRaw(ctx context.Context) error {
	if pr.own != nil {
		return pr.own.AbortTransaction(ctx)
	}
	return pr.p.AbortTransaction(ctx)
}

// abortTransaction aborts the open transaction and begins a new one.
func (pr *producer) abortTransaction(ctx context.Context) error {
	if err := retryTxn(ctx, func() error { return pr.abortRaw(ctx) }); err != nil {
		return pr.classifyTxn(fmt.Errorf("streams: abort transaction: %w", err), err)
	}
	// Aborted records are purged; their delivery reports say so.
	if err := pr.flush(pr.ackTimeout()); err != nil && !errors.As(err, new(txnAbortable)) {
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
	var ke clientErr
	if !errors.As(err, &ke) {
		return wrapped
	}
	if ke.Code() == kafka.ErrFatal {
		// librdkafka reports calls made after a fatal error as "Local:
		// Fatal error"; the cause (often a fencing) is kept aside.
		if cause := pr.fatalError(); cause != nil {
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
	if pr.own != nil {
		var err error
		if n, err = pr.own.PartitionCount(topic, 10*time.Second); err != nil {
			return 0, fmt.Errorf("streams: topic %q does not exist (%v)", topic, err)
		}
	} else {
		md, err := pr.p.GetMetadata(&topic, false, 10_000)
		if err != nil {
			return 0, fmt.Errorf("streams: metadata of %q: %w", topic, err)
		}
		t, ok := md.Topics[topic]
		if !ok || t.Error.Code() != kafka.ErrNoError || len(t.Partitions) == 0 {
			return 0, fmt.Errorf("streams: topic %q does not exist (%v)", topic, t.Error)
		}
		n = int32(len(t.Partitions))
	}
	pr.partsMu.Lock()
	pr.parts[topic] = n
	pr.partsMu.Unlock()
	return n, nil
}

// purge drops what librdkafka still holds (a crash, an abandoned
// transaction): their delivery reports say they failed.
func (pr *producer) purge() {
	flags := kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking
	var err error
	if pr.own != nil {
		err = pr.own.Purge(flags)
	} else {
		err = pr.p.Purge(flags)
	}
	if err != nil {
		pr.logger.Debug("purge", zap.Error(err))
	}
}

// close closes the producer and waits for its event goroutine, at most
// timeout; the caller purges first when records may be undeliverable.
func (pr *producer) close(timeout time.Duration) error {
	pr.stopOnce.Do(func() { close(pr.stop) })
	done := make(chan struct{})
	go func() {
		if pr.own != nil {
			pr.own.Close()
		} else {
			pr.p.Close()
		}
		<-pr.done
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("streams: producer did not close within %v", timeout)
	}
}
