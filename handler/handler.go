// Package handler decides what happens to a record that cannot be processed:
// one that does not deserialize (DeserializationHandler), one whose
// processing, or a punctuator, returned an error or panicked
// (ProcessingHandler), and one the producer could not write
// (ProductionHandler). It follows Kafka Streams 4.2 (KIP-1034), dead-letter
// queue included.
//
// A handler answers a Response: a Result, Fail or Continue, and the dead
// letters to write, each a record with raw bytes for a topic of the
// handler's choosing. The zero Response is Fail with no dead letters. The
// runtime writes the dead letters first, whatever the Result, then fails
// the task (Fail) or skips the record (Continue).
//
// Invariants:
//   - A handler only decides. The runtime always logs the failure and, when
//     the answer is Continue, counts the skipped record under a drop
//     reason, so no record is ever lost silently. Every dead letter written
//     is counted too: by its task (task.Stats.DeadLettered), or, for a
//     delivery failure reported after the task moved on, by the App's
//     producer.
//   - A nil handler is LogAndFail, the default of Kafka Streams.
//   - A handler that panics is answered Fail with an error wrapping
//     ErrHandlerPanic; its dead letters are not written.
//   - A dead letter that cannot be written stops the application with an
//     error wrapping ErrDeadLetterWrite, whatever the handler answered: it
//     is never retried through a handler (which could loop) nor dropped.
//   - Under exactly-once, dead letters go through the task's transactional
//     producer with its outputs: a transaction that aborts (a Fail aborts
//     the open one) discards them, and one that commits commits them with
//     the input offsets of the records they stand for. Under at-least-once
//     they are acknowledged before those offsets are committed.
//
// The dead-letter queue. When Config.DeadLetterQueueTopic (Kafka Streams:
// errors.dead.letter.queue.topic.name) is set, the built-in handlers,
// LogAndFail and LogAndContinue, answer with one dead letter for the
// failed record, built by NewDeadLetter: its key and value are the raw
// bytes of the source record, exactly as consumed (never re-serialized),
// its timestamp is the source record's (ErrorContext.Timestamp), its
// headers are the source
// record's followed by HeaderException, HeaderMessage, HeaderStacktrace,
// HeaderTopic, HeaderPartition and HeaderOffset. Inside a punctuation there
// is no source record: the dead letter has a null key and value, the
// source headers are absent, the topic header is null and partition and
// offset are "-1", as in Kafka Streams. The runtime does not create the
// topic (Kafka Streams does not either). Custom handlers build whatever
// dead letters they like, for any topic; ErrorContext carries the
// configured topic name for them.
//
// Production failures: a record a sink writes that the producer refuses at
// once (a timestamp the client cannot write, a record over the producer's
// message.max.bytes) is handled while the task still processes its source
// record, so its dead letter holds that source record, as in Kafka
// Streams. A delivery that fails later (under at-least-once; the broker
// refused the record, say for its topic's max.message.bytes) is reported
// after the task moved on: ErrorContext.Source is nil and the built-in
// dead letter holds the failed record itself (its key, value and headers),
// with the topic and partition it was for in the headers and offset "-1",
// stamped with the time it is written.
// A serializer's error in a sink is a processing error of the sink node
// and goes to the ProcessingHandler (Kafka Streams gives it to the
// production handler's handleSerializationError).
package handler

import (
	"errors"
	"fmt"

	"github.com/millrace/millrace/record"
)

// Result is a handler's decision (Kafka Streams: Response.Result).
type Result int

const (
	// Fail stops the task (and the application) with the error.
	Fail Result = iota
	// Continue skips the record: it is logged, counted and dropped
	// (Kafka Streams: RESUME).
	Continue
)

// String returns "fail" or "continue".
func (r Result) String() string {
	if r == Continue {
		return "continue"
	}
	return "fail"
}

// Response is a handler's answer: what to do with the failed record, and
// the dead letters to write before doing it. The zero Response is Fail
// with no dead letters.
type Response struct {
	Result      Result
	DeadLetters []DeadLetter
}

// ContinueWith returns a Response that skips the record after writing the
// dead letters (Kafka Streams: Response.resume).
func ContinueWith(deadLetters ...DeadLetter) Response {
	return Response{Result: Continue, DeadLetters: deadLetters}
}

// FailWith returns a Response that fails the task after writing the dead
// letters (Kafka Streams: Response.fail).
func FailWith(deadLetters ...DeadLetter) Response {
	return Response{Result: Fail, DeadLetters: deadLetters}
}

// ErrorContext is what a handler learns about a failure besides the error
// (Kafka Streams: ErrorHandlerContext). The runtime makes one per failure;
// a handler must not modify it, nor keep Source past its call.
type ErrorContext struct {
	// TaskID is the failed task's id ("0_3"); empty for a delivery failure
	// reported after the task moved on.
	TaskID string
	// Node is the source, processor or sink that failed, when known.
	Node string
	// Source is the raw record, as consumed, that the task was processing:
	// the record that did not deserialize, the one whose processing
	// failed, or the one whose processing made a sink write the record the
	// producer refused. Nil inside a punctuation (and for records a
	// punctuator forwarded), and for a delivery failure reported after the
	// task moved on.
	Source *record.ConsumerRecord
	// Timestamp is the failure's record time in milliseconds: the source
	// record's timestamp (for a processing failure, as the timestamp
	// extractor gave it), the punctuation time inside a punctuation; -1
	// for a delivery failure reported after the task moved on (delivery
	// reports carry no timestamp), so its dead letter is stamped with the
	// time it is written.
	Timestamp int64
	// DeadLetterQueueTopic is the application's configured dead-letter
	// topic; empty when none is. The built-in handlers write their dead
	// letters there.
	DeadLetterQueueTopic string
}

// DeserializationHandler decides about a record whose key or value did not
// deserialize. raw is the record (also ec.Source); err wraps a
// *record.DeserializationError.
type DeserializationHandler interface {
	OnDeserializationError(ec *ErrorContext, raw *record.ConsumerRecord, err error) Response
}

// ProcessingHandler decides about a record whose processing failed, or a
// punctuation that failed.
type ProcessingHandler interface {
	OnProcessingError(ec *ErrorContext, err *ProcessingError) Response
}

// ProductionHandler decides about a record the producer could not write:
// refused at once, or not delivered after librdkafka's own retries of
// retriable errors. Changelog records never reach it (a lost changelog
// write would silently lose state: it stops the application), nor do dead
// letters. Under exactly-once a failed delivery aborts the transaction
// instead (retried from the last commit, or fatal if no retry can cure
// it), so only refusals reach the handler there.
type ProductionHandler interface {
	OnProductionError(ec *ErrorContext, rec *ProducerRecord, err error) Response
}

// ErrPanic is wrapped by a ProcessingError made from a recovered panic.
var ErrPanic = errors.New("panic in user code")

// ProcessingError is a failure in user code, located precisely: the task, the
// node that failed and the source record being processed. Inside a
// punctuator there is no source record: Punctuation is true and Offset is -1.
type ProcessingError struct {
	TaskID      string
	Node        string
	Topic       string
	Partition   int32
	Offset      int64
	Punctuation bool
	// Err is the error returned, or one wrapping ErrPanic for a panic.
	Err error
	// Panic is the recovered value when the failure was a panic.
	Panic any
	// Stack is the goroutine stack at the panic.
	Stack []byte
}

// Error names the task, node and record position, then the cause.
func (e *ProcessingError) Error() string {
	if e.Punctuation {
		return fmt.Sprintf("task %s, node %q, punctuation: %v", e.TaskID, e.Node, e.Err)
	}
	return fmt.Sprintf("task %s, node %q, topic %q partition %d offset %d: %v",
		e.TaskID, e.Node, e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *ProcessingError) Unwrap() error { return e.Err }

// ErrFatal marks an error that must stop the application whatever the
// processing handler says (a full suppression buffer configured to shut
// down, for example). Wrap with Fatal.
var ErrFatal = errors.New("fatal")

// Fatal wraps err so the task fails without asking the processing handler.
func Fatal(err error) error { return fmt.Errorf("%w: %w", ErrFatal, err) }

// ErrDeadLetterWrite is wrapped by the error that stops the application
// when a dead letter could not be written: refused by the producer, not
// delivered, or without a topic. The error names the dead letter's topic.
var ErrDeadLetterWrite = errors.New("dead-letter write failed")
