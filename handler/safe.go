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

// Deserialization asks h about a record that did not deserialize. A nil h
// is LogAndFail. A panic in h is recovered and answered Fail, with an error
// wrapping ErrHandlerPanic that names the handler, the record and the panic.
// It runs only for failed records; its cost is one deferred recover.
func Deserialization(h DeserializationHandler, taskID string, raw *record.ConsumerRecord, cause error) (resp Response, err error) {
	if h == nil {
		return Fail, nil
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Fail
			err = fmt.Errorf("%w: deserialization handler %T on %s: %v (while handling: %v)\n%s",
				ErrHandlerPanic, h, raw.Metadata(), p, cause, debug.Stack())
		}
	}()
	return h.OnDeserializationError(taskID, raw, cause), nil
}

// Processing asks h about a failed record or punctuation. A nil h is
// LogAndFail. A panic in h is recovered and answered Fail, with an error
// wrapping ErrHandlerPanic that names the handler and the failure it was
// asked about. It runs only for failures; its cost is one deferred recover.
func Processing(h ProcessingHandler, pe *ProcessingError) (resp Response, err error) {
	if h == nil {
		return Fail, nil
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Fail
			err = fmt.Errorf("%w: processing handler %T on %v: %v\n%s", ErrHandlerPanic, h, pe, p, debug.Stack())
		}
	}()
	return h.OnProcessingError(pe), nil
}
