package streams

import (
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/rdkbatch"
)

// The App's producer on Millrace's own client (the default; see
// Config.producerClient):
// rdkbatch.Producer serves delivery reports in C, so a delivered record
// costs the runtime nothing but its share of one count per poll. The
// semantics are the wrapper's, kept by running the same code on what the
// client hands over:
//   - deliveries: readOwn adds what Delivered grew by to delivered (and
//     wakes flushers), as delivered1 does per report;
//   - failures: each is turned into the *kafka.Message a wrapper report
//     would be (with its bytes, and deadLetterMark for a dead letter's)
//     and goes through delivered1, so the production handler, the
//     exactly-once rules and the count are unchanged; a failure counts
//     as delivered only once decided, as before;
//   - changelog offsets: the client's per-partition highest acknowledged
//     offsets (it keeps every partition's; the runtime asks only for
//     changelogs');
//   - client errors: clientError, as for the wrapper's kafka.Error events;
//   - dead letters written from the event goroutine: a tracked record
//     each, whose Ack readOwn's goroutine waits for itself.

// ownDeadLetter is the opaque of a dead letter's record on the own client
// (deadLetterMark on the wrapper).
const ownDeadLetter uint64 = 1

// ownRun is the own client's event goroutine's state.
type ownRun struct {
	notify chan struct{} // one pending wakeup from the poll goroutine
	acked  int64         // Delivered when last read
	fails  []rdkbatch.Failure
	acks   []rdkbatch.Ack
	nextID uint64 // tracked ids for dead letters, from TrackedOpaque
}

func newOwnProducer(cl *clients, processID string, changelogs map[string]bool, m *metrics, onFatal func(error)) (*producer, error) {
	pr := newProducerState(cl, changelogs, m, onFatal)
	pr.ownRun.notify = make(chan struct{}, 1)
	pr.ownRun.nextID = rdkbatch.TrackedOpaque
	own, err := cl.ownProducer(processID, pr.wake)
	if err != nil {
		return nil, err
	}
	pr.own = own
	pr.batching = !cl.cfg.produceRecordByRecord
	pr.batchRecordBytes = maxMessageBytes(cl.cfg) - batchRecordMargin
	go pr.readOwn()
	return pr, nil
}

// wake is the own client's Notify: it never blocks.
func (pr *producer) wake() {
	select {
	case pr.ownRun.notify <- struct{}{}:
	default:
	}
}

// readOwn serves what the own client reports until the producer closes.
func (pr *producer) readOwn() {
	defer close(pr.done)
	for {
		select {
		case <-pr.ownRun.notify:
			pr.serveOwn()
		case <-pr.stop:
			pr.serveOwn()
			return
		}
	}
}

// serveOwn takes the client's errors, failures and delivered count.
func (pr *producer) serveOwn() {
	for _, e := range pr.own.TakeErrors() {
		pr.clientError(e)
	}
	run := &pr.ownRun
	run.fails = pr.own.TakeFailures(run.fails[:0])
	for i := range run.fails {
		pr.delivered1(failureMessage(&run.fails[i]))
		run.fails[i] = rdkbatch.Failure{} // its bytes are the handler's now
	}
	if n := pr.own.Delivered(); n > run.acked {
		pr.delivered.Add(n - run.acked)
		run.acked = n
		if pr.flushers.Load() > 0 {
			pr.mu.Lock()
			pr.cond.Broadcast()
			pr.mu.Unlock()
		}
	}
}

// failureMessage is the wrapper's delivery report for f.
func failureMessage(f *rdkbatch.Failure) *kafka.Message {
	topic := f.Topic
	m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: f.Partition, Error: f.Err},
		Key: f.Key, Value: f.Value}
	// f.Timestamp is left out: the wrapper's report carries none, so the
	// production handler sees -1 and a dead letter is stamped when
	// written, as on the wrapper.
	for _, h := range f.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: string(h.Key), Value: h.Value})
	}
	if f.Opaque == ownDeadLetter {
		m.Opaque = deadLetterMark{}
	}
	return m
}

// produce1 hands one record to the client (the wrapper's Produce, or the
// own client's, with a dead letter's mark).
func (pr *producer) produce1(msg *kafka.Message) error {
	if pr.own == nil {
		return pr.p.Produce(msg, nil)
	}
	var opaque uint64
	if isDeadLetter(msg) {
		opaque = ownDeadLetter
	}
	return pr.own.Produce(outMessage(msg), opaque)
}

// outMessage is msg for the own client.
func outMessage(msg *kafka.Message) *rdkbatch.OutMessage {
	om := &rdkbatch.OutMessage{Partition: msg.TopicPartition.Partition, Key: msg.Key, Value: msg.Value}
	if msg.TopicPartition.Topic != nil {
		om.Topic = *msg.TopicPartition.Topic
	}
	if !msg.Timestamp.IsZero() {
		om.Timestamp = msg.Timestamp.UnixMilli()
	}
	for _, h := range msg.Headers {
		om.Headers = append(om.Headers, rdkbatch.Header{Key: []byte(h.Key), Value: h.Value})
	}
	return om
}

// ownOffsets is changelogOffsets on the own client.
func (pr *producer) ownOffsets(tps []topicPartition) map[topicPartition]int64 {
	out := make(map[topicPartition]int64, len(tps))
	for _, tp := range tps {
		if next, ok := pr.own.Offset(tp.topic, tp.partition); ok {
			out[tp] = next
		}
	}
	return out
}

// fatalError is the client's fatal error, or nil.
func (pr *producer) fatalError() error {
	if pr.own != nil {
		return pr.own.FatalError()
	}
	return pr.p.GetFatalError()
}

// writeDeadLetterNowOwn is writeDeadLetterNow on the own client. It runs
// on readOwn's goroutine, the one that serves the client's wakeups, so it
// waits on them itself and leaves one behind for serveOwn (it may have
// taken a wakeup for other news).
func (pr *producer) writeDeadLetterNowOwn(dl *handler.DeadLetter) error {
	topic := dl.Topic
	m := &kafka.Message{}
	setDeadLetter(m, &topic, dl)
	run := &pr.ownRun
	run.nextID++
	id := run.nextID
	defer pr.wake()
	timeout := time.NewTimer(pr.ackTimeout())
	defer timeout.Stop()
	for {
		err := pr.own.Produce(outMessage(m), id)
		if err == nil {
			break
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
			return err
		}
		select { // librdkafka's queue drains in the background
		case <-time.After(time.Millisecond):
		case <-timeout.C:
			return fmt.Errorf("producer queue full for %v", pr.ackTimeout())
		case <-pr.stop:
			return errors.New("the producer closed")
		}
	}
	for {
		run.acks = pr.own.TakeAcks(run.acks[:0])
		for _, a := range run.acks {
			if a.ID == id {
				if a.Err != nil {
					return withTopicHint(a.Err)
				}
				return nil
			}
		}
		select {
		case <-run.notify:
		case <-time.After(5 * time.Millisecond): // called from another goroutine, readOwn may take the wakeup
		case <-timeout.C:
			return fmt.Errorf("not acknowledged within %v", pr.ackTimeout())
		case <-pr.stop:
			return errors.New("the producer closed before it was acknowledged")
		}
	}
}
