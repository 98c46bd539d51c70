package handler

import (
	"errors"
	"testing"

	"github.com/millrace/millrace/record"
)

func TestNilHandlersAreLogAndFail(t *testing.T) {
	resp, err := Deserialization(nil, "0_0", &record.ConsumerRecord{Topic: "t"}, errors.New("bad"))
	if resp != Fail || err != nil {
		t.Errorf("Deserialization(nil handler) = %v, %v; want fail, nil", resp, err)
	}
	resp, err = Processing(nil, &ProcessingError{Err: errors.New("bad")})
	if resp != Fail || err != nil {
		t.Errorf("Processing(nil handler) = %v, %v; want fail, nil", resp, err)
	}
}

type panicking struct{}

func (panicking) OnDeserializationError(string, *record.ConsumerRecord, error) Response {
	panic("deserialization handler")
}
func (panicking) OnProcessingError(*ProcessingError) Response { panic("processing handler") }

func TestAPanickingHandlerGivenNilArgumentsIsAnErrorNotACrash(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panicked: %v", p)
		}
	}()
	if resp, err := Deserialization(panicking{}, "0_0", nil, nil); resp != Fail || !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("Deserialization = %v, %v; want fail, ErrHandlerPanic", resp, err)
	}
	if resp, err := Processing(panicking{}, nil); resp != Fail || !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("Processing = %v, %v; want fail, ErrHandlerPanic", resp, err)
	}
	var zero ProcessingError
	_ = zero.Error()
}
