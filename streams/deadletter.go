package streams

import (
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
)

// Dead letters take one of two paths to the producer, both ending in a
// fatal error if the write fails (never in the production handler):
//   - those of a task's handlers (deserialization, processing, and the
//     production handler asked about a record refused at once) go through
//     the task's collector, with its outputs: counted as its sends, inside
//     its transaction under exactly-once, acknowledged before the next
//     commit's offsets. Their messages carry deadLetterMark as Opaque, so
//     a delivery report that they failed is recognized.
//   - those of the production handler asked about a delivery that failed
//     after the task moved on (at-least-once only) are written by the
//     producer's event goroutine itself, each waited for on a delivery
//     channel of its own before the failed record counts as handled: a
//     commit's flush, which waits for that, cannot commit offsets past a
//     record whose dead letter is not written. They are not counted as
//     any collector's sends.

// deadLetterMark is the Opaque of a dead letter's message. A zero-size
// value: storing it in the interface allocates nothing.
type deadLetterMark struct{}

// isDeadLetter reports whether a delivery report is a dead letter's.
func isDeadLetter(m *kafka.Message) bool {
	_, ok := m.Opaque.(deadLetterMark)
	return ok
}

// deliveryReportFields is the producer's go.delivery.report.fields: the
// failed record's bytes only when a handler may be asked about a failed
// delivery with them (at-least-once, with a production handler or a
// dead-letter topic for the default's dead letters); copying them out of
// librdkafka costs allocations on every delivery report.
func deliveryReportFields(cfg *Config) string {
	if cfg.ProcessingGuarantee == AtLeastOnce && (cfg.ProductionHandler != nil || cfg.DeadLetterQueueTopic != "") {
		return "key,value,headers"
	}
	return "none"
}

// WriteDeadLetter implements task.DeadLetterWriter: the dead letter goes
// through the gate like a sink's record, with the task's outputs.
func (c *collector) WriteDeadLetter(dl *handler.DeadLetter) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.inSend.Add(-1)
	setDeadLetter(&c.dlq, c.topic(dl.Topic), dl)
	if err := c.pr.send(&c.dlq); err != nil {
		return err
	}
	c.sent.Add(1)
	if !c.dirty.Load() {
		c.dirty.Store(true)
	}
	return nil
}

// setDeadLetter fills m with dl, marked as a dead letter.
func setDeadLetter(m *kafka.Message, topic *string, dl *handler.DeadLetter) {
	m.TopicPartition = kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny}
	m.Key, m.Value = dl.Key, dl.Value
	m.Timestamp = time.Time{} // 0: librdkafka stamps the time of writing
	if dl.Timestamp > 0 {
		m.Timestamp = time.UnixMilli(min(dl.Timestamp, maxWritableTimestamp))
	}
	m.Headers = toKafkaHeaders(dl.Headers)
	m.Opaque = deadLetterMark{}
}

// writeDeadLettersNow writes dead letters from the producer's event
// goroutine and waits for each acknowledgement (see the top of this file).
func (pr *producer) writeDeadLettersNow(dls []handler.DeadLetter) error {
	for i := range dls {
		dl := &dls[i]
		if dl.Topic == "" {
			return fmt.Errorf("streams: %w: dead letter %d of %d has no topic", handler.ErrDeadLetterWrite, i+1, len(dls))
		}
		if err := pr.writeDeadLetterNow(dl); err != nil {
			return fmt.Errorf("streams: %w to topic %q: %w", handler.ErrDeadLetterWrite, dl.Topic, err)
		}
		pr.deadLettered.Add(1)
		pr.metrics.deadLetteredDelivery()
	}
	return nil
}

func (pr *producer) writeDeadLetterNow(dl *handler.DeadLetter) error {
	if pr.own != nil {
		return pr.writeDeadLetterNowOwn(dl)
	}
	topic := dl.Topic
	m := &kafka.Message{}
	setDeadLetter(m, &topic, dl)
	ch := make(chan kafka.Event, 1)
	timeout := time.NewTimer(pr.ackTimeout())
	defer timeout.Stop()
	for {
		err := pr.p.Produce(m, ch)
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
	select {
	case ev := <-ch:
		if dr, ok := ev.(*kafka.Message); ok && dr.TopicPartition.Error != nil {
			return withTopicHint(dr.TopicPartition.Error)
		}
		return nil
	case <-timeout.C:
		return fmt.Errorf("not acknowledged within %v", pr.ackTimeout())
	case <-pr.stop:
		return errors.New("the producer closed before it was acknowledged")
	}
}

// deadLetterFailed is the fatal error of a dead letter whose delivery
// failed.
func deadLetterFailed(topic string, err error) error {
	return fmt.Errorf("streams: %w: delivery to topic %q failed: %w", handler.ErrDeadLetterWrite, topic, withTopicHint(err))
}

// withTopicHint adds to an unknown-topic error that the App does not
// create dead-letter topics.
func withTopicHint(err error) error {
	var ke kafka.Error
	if errors.As(err, &ke) && (ke.Code() == kafka.ErrUnknownTopicOrPart || ke.Code() == kafka.ErrUnknownTopic) {
		return fmt.Errorf("%w (the App does not create DeadLetterQueueTopic or a handler's dead-letter topics: create them first)", err)
	}
	return err
}

// toKafkaHeaders converts headers for the producer; nil for none.
func toKafkaHeaders(h record.Headers) []kafka.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(h))
	for i, x := range h {
		out[i] = kafka.Header{Key: x.Key, Value: x.Value}
	}
	return out
}

// fromKafkaHeaders converts a delivery report's headers; nil for none.
func fromKafkaHeaders(h []kafka.Header) record.Headers {
	if len(h) == 0 {
		return nil
	}
	out := make(record.Headers, len(h))
	for i, x := range h {
		out[i] = record.Header{Key: x.Key, Value: x.Value}
	}
	return out
}
