package handler

import (
	"errors"
	"testing"

	"github.com/millrace/millrace/record"
)

func TestNilHandlersAreLogAndFail(t *testing.T) {
	resp, err := Deserialization(nil, nil, &record.ConsumerRecord{Topic: "t"}, errors.New("bad"))
	if resp.Result != Fail || len(resp.DeadLetters) != 0 || err != nil {
		t.Errorf("Deserialization(nil handler) = %v, %v; want fail, nil", resp, err)
	}
	resp, err = Processing(nil, nil, &ProcessingError{Err: errors.New("bad")})
	if resp.Result != Fail || len(resp.DeadLetters) != 0 || err != nil {
		t.Errorf("Processing(nil handler) = %v, %v; want fail, nil", resp, err)
	}
	resp, err = Production(nil, nil, &ProducerRecord{Topic: "out"}, errors.New("bad"))
	if resp.Result != Fail || len(resp.DeadLetters) != 0 || err != nil {
		t.Errorf("Production(nil handler) = %v, %v; want fail, nil", resp, err)
	}
	// A nil handler is LogAndFail, dead letter included.
	ec := &ErrorContext{DeadLetterQueueTopic: "dlq", Source: &record.ConsumerRecord{Topic: "t", Value: []byte("v")}}
	resp, err = Deserialization(nil, ec, ec.Source, errors.New("bad"))
	if resp.Result != Fail || len(resp.DeadLetters) != 1 || resp.DeadLetters[0].Topic != "dlq" || err != nil {
		t.Errorf("Deserialization(nil handler) with a dead-letter topic = %+v, %v; want fail with one dead letter for dlq", resp, err)
	}
}

type panicking struct{}

func (panicking) OnDeserializationError(*ErrorContext, *record.ConsumerRecord, error) Response {
	panic("deserialization handler")
}
func (panicking) OnProcessingError(*ErrorContext, *ProcessingError) Response {
	panic("processing handler")
}
func (panicking) OnProductionError(*ErrorContext, *ProducerRecord, error) Response {
	panic("production handler")
}

func TestAPanickingHandlerGivenNilArgumentsIsAnErrorNotACrash(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panicked: %v", p)
		}
	}()
	if resp, err := Deserialization(panicking{}, nil, nil, nil); resp.Result != Fail || !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("Deserialization = %v, %v; want fail, ErrHandlerPanic", resp, err)
	}
	if resp, err := Processing(panicking{}, nil, nil); resp.Result != Fail || !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("Processing = %v, %v; want fail, ErrHandlerPanic", resp, err)
	}
	if resp, err := Production(panicking{}, nil, nil, nil); resp.Result != Fail || !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("Production = %v, %v; want fail, ErrHandlerPanic", resp, err)
	}
	var zero ProcessingError
	_ = zero.Error()
	// The built-ins never panic, whatever they are given.
	for _, h := range []any{LogAndFail{}, LogAndContinue{}} {
		ec := &ErrorContext{DeadLetterQueueTopic: "dlq"}
		h.(DeserializationHandler).OnDeserializationError(ec, nil, nil)
		h.(ProcessingHandler).OnProcessingError(ec, nil)
		h.(ProductionHandler).OnProductionError(ec, nil, nil)
		h.(DeserializationHandler).OnDeserializationError(nil, nil, nil)
		h.(ProcessingHandler).OnProcessingError(nil, nil)
		h.(ProductionHandler).OnProductionError(nil, nil, nil)
	}
	_ = NewDeadLetter("dlq", nil, nil)
}
