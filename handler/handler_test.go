package handler

import (
	"errors"
	"strings"
	"testing"
)

func TestBuiltInHandlersAnswerFailAndContinue(t *testing.T) {
	pe := &ProcessingError{}
	ec := &ErrorContext{}
	if (LogAndFail{}).OnProcessingError(ec, pe).Result != Fail || (LogAndFail{}).OnDeserializationError(ec, nil, nil).Result != Fail ||
		(LogAndFail{}).OnProductionError(ec, nil, nil).Result != Fail {
		t.Error("LogAndFail does not fail")
	}
	if (LogAndContinue{}).OnProcessingError(ec, pe).Result != Continue || (LogAndContinue{}).OnDeserializationError(ec, nil, nil).Result != Continue ||
		(LogAndContinue{}).OnProductionError(ec, nil, nil).Result != Continue {
		t.Error("LogAndContinue does not continue")
	}
	if Fail.String() != "fail" || Continue.String() != "continue" {
		t.Errorf("names %s %s", Fail, Continue)
	}
	if (Response{}).Result != Fail {
		t.Error("the zero Response does not fail")
	}
}

func TestProcessingErrorNamesTaskNodeAndRecordPosition(t *testing.T) {
	cause := errors.New("boom")
	e := &ProcessingError{TaskID: "1_2", Node: "count", Topic: "in", Partition: 2, Offset: 41, Err: cause}
	for _, frag := range []string{"task 1_2", `node "count"`, `topic "in"`, "partition 2", "offset 41", "boom"} {
		if !strings.Contains(e.Error(), frag) {
			t.Errorf("%q lacks %q", e.Error(), frag)
		}
	}
	if !errors.Is(e, cause) {
		t.Error("does not unwrap to its cause")
	}
	p := &ProcessingError{TaskID: "0_0", Node: "tick", Punctuation: true, Offset: -1, Err: cause}
	if !strings.Contains(p.Error(), "punctuation") || strings.Contains(p.Error(), "offset") {
		t.Errorf("punctuation error: %q", p.Error())
	}
}

func TestFatalIsRecognizedThroughWrapping(t *testing.T) {
	err := Fatal(errors.New("buffer full"))
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "buffer full") {
		t.Errorf("Fatal: %v", err)
	}
}
