// Package handler decides what happens to a record that cannot be processed:
// one that does not deserialize, or one whose processing (or a punctuator)
// returned an error or panicked.
//
// A handler only decides. The runtime always logs the failure and, when the
// answer is Continue, counts the skipped record under a drop reason, so no
// record is ever lost silently. A nil handler means LogAndFail, the default
// of Kafka Streams.
package handler

import (
	"errors"
	"fmt"

	"github.com/millrace/millrace/record"
)

// Response is a handler's decision.
type Response int

const (
	// Fail stops the task (and the application) with the error.
	Fail Response = iota
	// Continue skips the record: it is logged, counted and dropped.
	Continue
)

// String returns "fail" or "continue".
func (r Response) String() string {
	if r == Continue {
		return "continue"
	}
	return "fail"
}

// DeserializationHandler decides about a record whose key or value did not
// deserialize. err wraps a *record.DeserializationError.
type DeserializationHandler interface {
	OnDeserializationError(taskID string, raw *record.ConsumerRecord, err error) Response
}

// ProcessingHandler decides about a record whose processing failed, or a
// punctuation that failed.
type ProcessingHandler interface {
	OnProcessingError(err *ProcessingError) Response
}

// LogAndFail answers Fail to everything. It is the default.
type LogAndFail struct{}

// OnDeserializationError returns Fail.
func (LogAndFail) OnDeserializationError(string, *record.ConsumerRecord, error) Response { return Fail }

// OnProcessingError returns Fail.
func (LogAndFail) OnProcessingError(*ProcessingError) Response { return Fail }

// LogAndContinue answers Continue to everything: failed records are logged,
// counted and skipped.
type LogAndContinue struct{}

// OnDeserializationError returns Continue.
func (LogAndContinue) OnDeserializationError(string, *record.ConsumerRecord, error) Response {
	return Continue
}

// OnProcessingError returns Continue.
func (LogAndContinue) OnProcessingError(*ProcessingError) Response { return Continue }

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
