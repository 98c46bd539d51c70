package handler

import (
	"errors"
	"strings"
	"testing"
)

func TestBuiltInHandlersAnswerFailAndContinue(t *testing.T) {
	pe := &ProcessingError{}
	if (LogAndFail{}).OnProcessingError(pe) != Fail || (LogAndFail{}).OnDeserializationError("0_0", nil, nil) != Fail {
		t.Error("LogAndFail does not fail")
	}
	if (LogAndContinue{}).OnProcessingError(pe) != Continue || (LogAndContinue{}).OnDeserializationError("0_0", nil, nil) != Continue {
		t.Error("LogAndContinue does not continue")
	}
	if Fail.String() != "fail" || Continue.String() != "continue" {
		t.Errorf("names %s %s", Fail, Continue)
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
