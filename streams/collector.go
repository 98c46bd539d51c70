package streams

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Timestamps the Kafka client can write exactly. librdkafka takes a
// timestamp of 0 to mean "now", and the Go client converts through
// time.Time.UnixNano, which overflows after 2262-04-11: within these bounds
// a record's timestamp reaches Kafka unchanged.
const (
	minWritableTimestamp int64 = 1
	maxWritableTimestamp int64 = math.MaxInt64 / int64(time.Millisecond)
)

// ErrTimestampNotWritable is wrapped by the error for a record sent to a
// sink with a timestamp the Kafka client cannot write (0, or past
// 2262-04-11): the production handler decides about it, as about any other
// record the producer refuses.
var ErrTimestampNotWritable = errors.New("streams: timestamp cannot be written to Kafka")

// gate states of a collector.
const (
	gateOpen   int32 = iota // sends go through
	gateHeld                // sends wait until the gate opens (a commit is under way)
	gateClosed              // sends fail: the task is closed or given up on
)

// collector is one task's RecordCollector and ChangelogWriter. It is used
// from the task's goroutine only (so it reuses one message), except for its
// gate, which the runtime's goroutine holds or closes: while a commit runs
// without this task (it was slow to reach the barrier), sends wait at the
// gate, and once the task is closed or given up on they fail, so nothing it
// does later reaches a transaction it is not part of.
type collector struct {
	pr        *producer
	partition int32 // the task's partition, for changelogs
	appID     string
	taskID    string
	logger    *zap.Logger
	msg       kafka.Message
	topics    map[string]*string
	changelog map[string]string // store -> changelog topic
	headers   []kafka.Header
	dlq       kafka.Message // dead letters' message (see deadletter.go)
	// batch, when the producer's client is one rdkbatch accepts, holds the
	// task's records until the task's goroutine flushes them (flushBatch)
	// in one cgo call: at the end of each step, in a commit before the
	// task answers, at close, and when it is full. Until then they are not
	// sent: no flush counts them and no gate has admitted them, so a
	// record reaches the producer (and a transaction) only through the
	// gate, as a direct send does. Without it (nil), every record is
	// produced at once.
	batch *rdkbatch.Writer
	out   rdkbatch.OutMessage
	// task is the collector's task, bound once it exists: the production
	// handler is asked with its ErrorContext and its dead letters are
	// written (and counted) by it.
	task boundTask

	// The fields below are shared with the runtime goroutine; the padding
	// keeps them off the cache lines of other tasks' collectors.
	_      [64]byte
	sent   atomic.Int64 // records handed to librdkafka
	inSend atomic.Int32 // sends under way (see enter)
	gate   atomic.Int32
	dirty  atomic.Bool // sent anything since the last transaction commit
	_      [64]byte

	gateMu sync.Mutex
	opened chan struct{} // closed when a held gate opens or closes
}

func newCollector(pr *producer, appID string, id processor.TaskID, logger *zap.Logger) *collector {
	c := &collector{pr: pr, appID: appID, partition: id.Partition, taskID: id.String(), logger: logger,
		topics: map[string]*string{}, changelog: map[string]string{}, batch: pr.newBatch()}
	pr.register(c)
	return c
}

// A pending batch is flushed once it holds this many records or bytes.
const (
	batchRecords = 1024
	batchBytes   = 1 << 20
)

// boundTask is what a collector needs of its task (*task.Task).
type boundTask interface {
	ErrorContext() *handler.ErrorContext
	WriteDeadLetters([]handler.DeadLetter) error
}

// bind makes t the collector's task; call it before the task runs.
func (c *collector) bind(t boundTask) { c.task = t }

func (c *collector) topic(name string) *string {
	p, ok := c.topics[name]
	if !ok {
		p = &name
		c.topics[name] = p
	}
	return p
}

// enter admits one send, waiting while the gate is held. The increment of
// inSend comes before the gate is read, and quiesce reads inSend after it
// changed the gate, so either the send sees the new gate or the runtime
// sees the send (both are sequentially consistent atomics).
func (c *collector) enter() error {
	for {
		c.inSend.Add(1)
		g := c.gate.Load()
		if g == gateOpen {
			return nil
		}
		c.inSend.Add(-1)
		if g == gateClosed {
			return fmt.Errorf("%w: task %s can no longer produce", processor.ErrTaskClosed, c.taskID)
		}
		c.gateMu.Lock()
		ch, held := c.opened, c.gate.Load() == gateHeld
		c.gateMu.Unlock()
		if held {
			<-ch
		}
	}
}

// hold makes sends wait from now on and waits, at most until deadline, for
// the sends under way to end; it reports whether they did.
func (c *collector) hold(deadline time.Time) bool {
	c.gateMu.Lock()
	if c.gate.Load() == gateOpen {
		c.opened = make(chan struct{})
		c.gate.Store(gateHeld)
	}
	c.gateMu.Unlock()
	return c.quiesce(deadline)
}

// open lets held sends go on.
func (c *collector) open() {
	c.gateMu.Lock()
	if c.gate.Load() == gateHeld {
		c.gate.Store(gateOpen)
		close(c.opened)
	}
	c.gateMu.Unlock()
}

// close fails every send from now on and waits, at most until deadline,
// for the sends under way to end; it reports whether they did. The producer
// keeps counting the collector's sends until its task's goroutine has
// ended and the caller retires it: a send still under way counts.
func (c *collector) close(deadline time.Time) bool {
	c.gateMu.Lock()
	if c.gate.Swap(gateClosed) == gateHeld {
		close(c.opened)
	}
	c.gateMu.Unlock()
	return c.quiesce(deadline)
}

func (c *collector) quiesce(deadline time.Time) bool {
	for c.inSend.Load() != 0 {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// Send implements processor.RecordCollector: one record of a sink. A
// record the producer refuses at once goes to the production handler, which
// runs outside the gate, so a slow handler holds up no commit; the dead
// letters it answers with are written (through the gate) before Send
// returns.
func (c *collector) Send(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	var err error
	if ts < minWritableTimestamp || ts > maxWritableTimestamp {
		err = fmt.Errorf("%w: record for topic %q has timestamp %d; the client writes %d..%d (0 would become the current time, later ones would wrap)",
			ErrTimestampNotWritable, topic, ts, minWritableTimestamp, maxWritableTimestamp)
	} else {
		err = c.send(topic, partition, key, value, headers, ts)
	}
	if err == nil || errors.Is(err, handler.ErrFatal) || errors.Is(err, processor.ErrTaskClosed) {
		return err
	}
	rec := &handler.ProducerRecord{Topic: topic, Partition: partition, Key: key, Value: value, Headers: headers, Timestamp: ts}
	if partition < 0 {
		rec.Partition = -1
	}
	return c.handleRefused(rec, err)
}

// handleRefused asks the production handler about rec, which the producer
// refused with err, and writes the dead letters it answers with: nil when
// the record is dropped (logged and counted), else a fatal error (the
// handler's Fail stops the App; the processing handler is not asked
// again).
func (c *collector) handleRefused(rec *handler.ProducerRecord, err error) error {
	resp, herr := handler.Production(c.pr.handler, c.errorContext(), rec, err)
	if herr != nil {
		return handler.Fatal(herr)
	}
	if derr := c.writeDeadLetters(resp.DeadLetters); derr != nil {
		return fmt.Errorf("%w (while handling the refused record for topic %q: %w)", derr, rec.Topic, err)
	}
	if resp.Result == handler.Continue {
		c.logger.Warn("record refused by the producer; dropped as the production handler says",
			zap.String("task", c.taskID), zap.String("topic", rec.Topic), zap.Int64("timestamp", rec.Timestamp),
			zap.Int("dead_letters", len(resp.DeadLetters)), zap.Error(err))
		c.pr.metrics.droppedProduction()
		return nil
	}
	return handler.Fatal(err)
}

// errorContext is the production handler's ErrorContext for a refusal.
func (c *collector) errorContext() *handler.ErrorContext {
	if c.task != nil {
		return c.task.ErrorContext()
	}
	return &handler.ErrorContext{TaskID: c.taskID, DeadLetterQueueTopic: c.pr.dlqTopic}
}

// writeDeadLetters writes the production handler's dead letters through
// the task (which counts them); the error is fatal.
func (c *collector) writeDeadLetters(dls []handler.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	if c.task != nil {
		return c.task.WriteDeadLetters(dls)
	}
	for i := range dls {
		err := errors.New("no topic")
		if dls[i].Topic != "" {
			err = c.WriteDeadLetter(&dls[i])
		}
		if err != nil {
			return handler.Fatal(fmt.Errorf("task %s: %w to topic %q: %w", c.taskID, handler.ErrDeadLetterWrite, dls[i].Topic, err))
		}
	}
	return nil
}

// send hands one record to the producer through the gate (see enter), or
// adds it to the pending batch.
func (c *collector) send(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	if c.batch != nil {
		if recordBytes(key, value, headers) <= c.pr.batchRecordBytes {
			return c.appendRecord(topic, partition, key, value, headers, ts)
		}
		// A record near or over the producer's message.max.bytes goes
		// out on its own, after the batch, so a refusal is decided while
		// its source record is processed (the common refusal: librdkafka
		// checks the size when it takes a record).
		if err := c.flushBatch(); err != nil {
			return err
		}
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer c.inSend.Add(-1)
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
	if err := c.pr.send(&c.msg); err != nil {
		return err
	}
	c.sent.Add(1)
	if !c.dirty.Load() {
		c.dirty.Store(true)
	}
	return nil
}

// PartitionCount implements processor.RecordCollector.
func (c *collector) PartitionCount(topic string) (int32, error) { return c.pr.partitionCount(topic) }

// Log implements store.ChangelogWriter: the write goes to partition
// <task partition> of the store's changelog. Any failure is fatal (no
// handler may skip a changelog write: the store and its changelog would
// differ from then on). A changelog record's timestamp only drives the
// topic's time-based retention, never restored state, so one the client
// cannot write is clamped to the nearest it can.
func (c *collector) Log(storeName string, key, value []byte, ts int64) error {
	t, ok := c.changelog[storeName]
	if !ok {
		t = store.ChangelogTopic(c.appID, storeName)
		c.changelog[storeName] = t
	}
	ts = min(max(ts, minWritableTimestamp), maxWritableTimestamp)
	if err := c.send(t, c.partition, key, value, nil, ts); err != nil {
		if errors.Is(err, handler.ErrFatal) {
			return err
		}
		return handler.Fatal(fmt.Errorf("changelog %s of store %q: %w", t, storeName, err))
	}
	return nil
}

// recordBytes is what a record weighs against the producer's
// message.max.bytes, but for librdkafka's per-record overhead.
func recordBytes(key, value []byte, headers record.Headers) int {
	n := len(key) + len(value)
	for _, h := range headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// appendRecord adds one record to the pending batch, flushing it when full.
func (c *collector) appendRecord(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	if c.gate.Load() == gateClosed {
		return fmt.Errorf("%w: task %s can no longer produce", processor.ErrTaskClosed, c.taskID)
	}
	if partition < 0 {
		partition = kafka.PartitionAny
	}
	c.out.Topic, c.out.Partition, c.out.Key, c.out.Value, c.out.Timestamp = topic, partition, key, value, ts
	if err := c.batch.Append(&c.out); err != nil {
		return fmt.Errorf("streams: produce to %q: %w", topic, err)
	}
	for _, h := range headers {
		c.batch.AddHeader(h.Key, h.Value)
	}
	if c.batch.Pending() >= batchRecords || c.batch.PendingBytes() >= batchBytes {
		return c.flushBatch()
	}
	return nil
}

// flushBatch hands the pending batch to the producer through the gate; the
// task's goroutine calls it. A record the producer refuses goes to the
// production handler, with the task's error context at the time of the
// flush (a changelog record is never skipped: its refusal is fatal), and
// the records after it are flushed once the handler said continue. The
// error is fatal, or processor.ErrTaskClosed once the gate is closed (the
// batch is then dropped: nothing of a closed task may reach the producer).
func (c *collector) flushBatch() error {
	if c.batch == nil || c.batch.Pending() == 0 {
		return nil
	}
	for c.batch.Pending() > 0 {
		if err := c.enter(); err != nil {
			c.batch.Discard()
			return err
		}
		if err := c.pr.err(); err != nil {
			c.inSend.Add(-1)
			c.batch.Discard()
			return err
		}
		before := c.batch.Pending()
		err := c.batch.Flush()
		if n := before - c.batch.Pending(); n > 0 {
			c.sent.Add(int64(n))
			if !c.dirty.Load() {
				c.dirty.Store(true)
			}
		}
		c.inSend.Add(-1)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			time.Sleep(time.Millisecond) // librdkafka's queue drains in the background
			continue
		}
		if err := c.refused(err); err != nil {
			c.batch.Discard()
			return err
		}
	}
	return nil
}

// refused decides about the first pending record, which the producer
// refused with err, and drops it from the batch; the error is fatal.
func (c *collector) refused(err error) error {
	m, _ := c.batch.Peek()
	topic := m.Topic
	wrapped := c.pr.refusal(topic, err)
	if errors.Is(wrapped, handler.ErrFatal) {
		return wrapped
	}
	if c.pr.tracked[topic] {
		return handler.Fatal(fmt.Errorf("changelog write to %s-%d refused: %w", topic, m.Partition, wrapped))
	}
	// Copies: the batch's bytes are reused once the record is skipped.
	rec := &handler.ProducerRecord{Topic: topic, Partition: m.Partition, Key: bytes.Clone(m.Key), Value: bytes.Clone(m.Value),
		Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		rec.Headers = append(rec.Headers, record.Header{Key: string(h.Key), Value: bytes.Clone(h.Value)})
	}
	if rec.Partition < 0 {
		rec.Partition = -1
	}
	c.batch.Skip()
	return c.handleRefused(rec, wrapped)
}

// closeBatch frees the batch writer; pending records are dropped. Call it
// once nothing can send through the collector.
func (c *collector) closeBatch() {
	if c.batch != nil {
		_ = c.batch.Close()
	}
}
