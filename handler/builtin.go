package handler

import "github.com/millrace/millrace/record"

// LogAndFail answers Fail to every failure: deserialization, processing
// and production. It is the default. When a dead-letter topic is
// configured (ErrorContext.DeadLetterQueueTopic) it also writes the
// failure's dead letter there (NewDeadLetter) before the task fails, as
// Kafka Streams' LogAndFailExceptionHandler does: under at-least-once it
// is delivered while the application shuts down; under exactly-once it is
// part of the transaction the failure aborts, so read_committed readers
// never see it.
type LogAndFail struct{}

// OnDeserializationError returns Fail, with the record's dead letter when
// a dead-letter topic is configured.
func (LogAndFail) OnDeserializationError(ec *ErrorContext, _ *record.ConsumerRecord, err error) Response {
	return FailWith(maybeDeadLetter(ec, err)...)
}

// OnProcessingError returns Fail, with the source record's dead letter
// when a dead-letter topic is configured.
func (LogAndFail) OnProcessingError(ec *ErrorContext, err *ProcessingError) Response {
	return FailWith(maybeDeadLetter(ec, asError(err))...)
}

// OnProductionError returns Fail, with a dead letter when a dead-letter
// topic is configured (see the package doc for which record it holds).
func (LogAndFail) OnProductionError(ec *ErrorContext, rec *ProducerRecord, err error) Response {
	return FailWith(maybeProductionDeadLetter(ec, rec, err)...)
}

// LogAndContinue answers Continue to every failure: failed records are
// logged, counted and skipped. When a dead-letter topic is configured
// (ErrorContext.DeadLetterQueueTopic) each one is written there first
// (NewDeadLetter), as Kafka Streams' LogAndContinueExceptionHandler does.
type LogAndContinue struct{}

// OnDeserializationError returns Continue, with the record's dead letter
// when a dead-letter topic is configured.
func (LogAndContinue) OnDeserializationError(ec *ErrorContext, _ *record.ConsumerRecord, err error) Response {
	return ContinueWith(maybeDeadLetter(ec, err)...)
}

// OnProcessingError returns Continue, with the source record's dead letter
// when a dead-letter topic is configured.
func (LogAndContinue) OnProcessingError(ec *ErrorContext, err *ProcessingError) Response {
	return ContinueWith(maybeDeadLetter(ec, asError(err))...)
}

// OnProductionError returns Continue, with a dead letter when a
// dead-letter topic is configured (see the package doc for which record it
// holds).
func (LogAndContinue) OnProductionError(ec *ErrorContext, rec *ProducerRecord, err error) Response {
	return ContinueWith(maybeProductionDeadLetter(ec, rec, err)...)
}

func maybeDeadLetter(ec *ErrorContext, err error) []DeadLetter {
	if ec == nil || ec.DeadLetterQueueTopic == "" {
		return nil
	}
	return []DeadLetter{NewDeadLetter(ec.DeadLetterQueueTopic, ec, err)}
}

func maybeProductionDeadLetter(ec *ErrorContext, rec *ProducerRecord, err error) []DeadLetter {
	if ec == nil || ec.DeadLetterQueueTopic == "" {
		return nil
	}
	return []DeadLetter{productionDeadLetter(ec.DeadLetterQueueTopic, ec, rec, err)}
}

// asError keeps a nil *ProcessingError a nil error.
func asError(pe *ProcessingError) error {
	if pe == nil {
		return nil
	}
	return pe
}
