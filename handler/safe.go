package handler

import (
	"fmt"
	"runtime/debug"

	"github.com/millrace/millrace/record"
)

// ErrHandlerPanic is wrapped by the error returned when a handler itself
// panicked: the runtime then fails, as if the handler had answered Fail, and
// the process does not crash.
var ErrHandlerPanic = fmt.Errorf("%w: handler panicked", ErrPanic)

// The functions below are how the runtime asks a handler. Each treats a
// nil handler as LogAndFail and a nil ErrorContext as an empty one, and
// recovers a panic in the handler: the answer is then Fail with no dead
// letters and an error wrapping ErrHandlerPanic that names the handler,
// the failure it was asked about and the panic. They run only for failures;
// their cost is one deferred recover.

// Deserialization asks h about a record that did not deserialize.
func Deserialization(h DeserializationHandler, ec *ErrorContext, raw *record.ConsumerRecord, cause error) (resp Response, err error) {
	if h == nil {
		h = LogAndFail{}
	}
	if ec == nil {
		ec = &ErrorContext{}
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Response{}
			err = fmt.Errorf("%w: deserialization handler %T on %s: %v (while handling: %v)\n%s",
				ErrHandlerPanic, h, raw.Metadata(), p, cause, debug.Stack())
		}
	}()
	return h.OnDeserializationError(ec, raw, cause), nil
}

// Processing asks h about a failed record or punctuation.
func Processing(h ProcessingHandler, ec *ErrorContext, pe *ProcessingError) (resp Response, err error) {
	if h == nil {
		h = LogAndFail{}
	}
	if ec == nil {
		ec = &ErrorContext{}
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Response{}
			err = fmt.Errorf("%w: processing handler %T on %v: %v\n%s", ErrHandlerPanic, h, describeFailure(pe), p, debug.Stack())
		}
	}()
	return h.OnProcessingError(ec, pe), nil
}

// Production asks h about a record the producer could not write.
func Production(h ProductionHandler, ec *ErrorContext, rec *ProducerRecord, cause error) (resp Response, err error) {
	if h == nil {
		h = LogAndFail{}
	}
	if ec == nil {
		ec = &ErrorContext{}
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Response{}
			topic, partition := "", int32(-1)
			if rec != nil {
				topic, partition = rec.Topic, rec.Partition
			}
			err = fmt.Errorf("%w: production handler %T on a record for %s-%d: %v (while handling: %v)\n%s",
				ErrHandlerPanic, h, topic, partition, p, cause, debug.Stack())
		}
	}()
	return h.OnProductionError(ec, rec, cause), nil
}

// describeFailure formats a ProcessingError that may be nil.
func describeFailure(pe *ProcessingError) string {
	if pe == nil {
		return "<nil>"
	}
	return pe.Error()
}
