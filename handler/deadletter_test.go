package handler

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/millrace/millrace/record"
)

func header(t *testing.T, h record.Headers, key string) string {
	t.Helper()
	v, ok := h.Last(key)
	if !ok {
		t.Fatalf("no header %q in %v", key, h)
	}
	return string(v)
}

func TestDeadLetterCarriesTheSourceBytesAndHeadersThenTheErrorHeaders(t *testing.T) {
	src := &record.ConsumerRecord{Topic: "orders", Partition: 3, Offset: 41, Timestamp: 1234,
		Key: []byte{0xff, 0x00, 'k'}, Value: []byte("not a number"),
		Headers: record.Headers{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}}}
	_, cause := strconv.Atoi("not a number")
	err := fmt.Errorf("parse amount: %w", cause)
	dl := NewDeadLetter("dlq", &ErrorContext{TaskID: "0_3", Source: src, Timestamp: 1234}, err)

	if dl.Topic != "dlq" || !bytes.Equal(dl.Key, src.Key) || !bytes.Equal(dl.Value, src.Value) || dl.Timestamp != 1234 {
		t.Fatalf("dead letter %+v: want topic dlq, the source's raw key and value, timestamp 1234", dl)
	}
	wantKeys := []string{"trace", "empty", HeaderException, HeaderMessage, HeaderStacktrace, HeaderTopic, HeaderPartition, HeaderOffset}
	if len(dl.Headers) != len(wantKeys) {
		t.Fatalf("headers %v, want keys %v", dl.Headers, wantKeys)
	}
	for i, k := range wantKeys {
		if dl.Headers[i].Key != k {
			t.Errorf("header %d is %q, want %q", i, dl.Headers[i].Key, k)
		}
	}
	if string(dl.Headers[0].Value) != "abc" || dl.Headers[1].Value != nil {
		t.Errorf("source headers changed: %v", dl.Headers[:2])
	}
	if got := header(t, dl.Headers, HeaderException); got != "*strconv.NumError" {
		t.Errorf("exception %q, want the innermost error's type *strconv.NumError", got)
	}
	if got := header(t, dl.Headers, HeaderMessage); got != err.Error() {
		t.Errorf("message %q, want %q", got, err.Error())
	}
	trace := header(t, dl.Headers, HeaderStacktrace)
	if lines := strings.Split(strings.TrimSpace(trace), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "*fmt.wrapError: parse amount") ||
		!strings.HasPrefix(lines[1], "*strconv.NumError: ") || lines[2] != "*errors.errorString: invalid syntax" {
		t.Errorf("stacktrace %q, want the cause chain outermost first", trace)
	}
	if header(t, dl.Headers, HeaderTopic) != "orders" || header(t, dl.Headers, HeaderPartition) != "3" || header(t, dl.Headers, HeaderOffset) != "41" {
		t.Errorf("position headers %v, want orders/3/41", dl.Headers[5:])
	}
}

func TestDeadLetterHeadersNeverWriteIntoTheSourceHeaders(t *testing.T) {
	backing := make(record.Headers, 1, 10) // room to append in place
	backing[0] = record.Header{Key: "a", Value: []byte("1")}
	src := &record.ConsumerRecord{Topic: "in", Headers: backing}
	NewDeadLetter("dlq", &ErrorContext{Source: src}, errors.New("x"))
	if got := backing[:2][1]; got.Key != "" {
		t.Fatalf("the dead letter's headers were appended into the source's array: %v", got)
	}
}

func TestDeadLetterOfAPunctuationHasNullKeyValueTopicAndMinusOnePosition(t *testing.T) {
	pe := &ProcessingError{TaskID: "0_0", Node: "tick", Punctuation: true, Offset: -1, Err: errors.New("store down")}
	dl := NewDeadLetter("dlq", &ErrorContext{TaskID: "0_0", Node: "tick", Timestamp: 5000}, pe)
	if dl.Key != nil || dl.Value != nil || dl.Timestamp != 5000 {
		t.Fatalf("dead letter %+v: want null key and value at the punctuation time", dl)
	}
	if len(dl.Headers) != 6 {
		t.Fatalf("headers %v, want the six error headers only", dl.Headers)
	}
	if v, ok := dl.Headers.Last(HeaderTopic); !ok || v != nil {
		t.Errorf("topic header %q (present %v), want present and null", v, ok)
	}
	if header(t, dl.Headers, HeaderPartition) != "-1" || header(t, dl.Headers, HeaderOffset) != "-1" {
		t.Errorf("partition/offset headers %v, want -1/-1", dl.Headers)
	}
	if !strings.Contains(header(t, dl.Headers, HeaderMessage), "punctuation: store down") {
		t.Errorf("message %q", header(t, dl.Headers, HeaderMessage))
	}
}

func TestDeadLetterOfAPanicNamesThePanicValueAndCarriesItsStack(t *testing.T) {
	pe := &ProcessingError{Node: "p", Err: fmt.Errorf("%w: index out of range", ErrPanic), Panic: "index out of range",
		Stack: []byte("goroutine 7 [running]:\nmain.f()")}
	dl := NewDeadLetter("dlq", &ErrorContext{Source: &record.ConsumerRecord{Topic: "in"}}, pe)
	if got := header(t, dl.Headers, HeaderException); got != "panic: string" {
		t.Errorf("exception %q, want %q", got, "panic: string")
	}
	if got := header(t, dl.Headers, HeaderStacktrace); got != string(pe.Stack) {
		t.Errorf("stacktrace %q, want the panic's stack", got)
	}
}

func TestBuiltInHandlersAnswerADeadLetterOnlyWhenATopicIsConfigured(t *testing.T) {
	src := &record.ConsumerRecord{Topic: "in", Partition: 1, Offset: 9, Key: []byte("k"), Value: []byte("v")}
	pe := &ProcessingError{Err: errors.New("bad")}
	rec := &ProducerRecord{Topic: "out", Partition: -1, Value: []byte("big")}
	for _, c := range []struct {
		name string
		h    any
		want Result
	}{{"LogAndFail", LogAndFail{}, Fail}, {"LogAndContinue", LogAndContinue{}, Continue}} {
		for _, topic := range []string{"", "errors"} {
			ec := &ErrorContext{Source: src, DeadLetterQueueTopic: topic}
			for kind, resp := range map[string]Response{
				"deserialization": c.h.(DeserializationHandler).OnDeserializationError(ec, src, errors.New("bad")),
				"processing":      c.h.(ProcessingHandler).OnProcessingError(ec, pe),
				"production":      c.h.(ProductionHandler).OnProductionError(ec, rec, errors.New("bad")),
			} {
				wantN := 0
				if topic != "" {
					wantN = 1
				}
				if resp.Result != c.want || len(resp.DeadLetters) != wantN {
					t.Errorf("%s %s with dead-letter topic %q: %v with %d dead letters, want %v with %d",
						c.name, kind, topic, resp.Result, len(resp.DeadLetters), c.want, wantN)
					continue
				}
				if wantN == 1 && (resp.DeadLetters[0].Topic != topic || string(resp.DeadLetters[0].Value) != "v") {
					t.Errorf("%s %s: dead letter %+v, want the source record for topic %q", c.name, kind, resp.DeadLetters[0], topic)
				}
			}
		}
	}
}

func TestProductionDeadLetterWithoutASourceHoldsTheFailedRecord(t *testing.T) {
	rec := &ProducerRecord{Topic: "out", Partition: 2, Key: []byte("k"), Value: []byte("too big"), Timestamp: 77,
		Headers: record.Headers{{Key: "h", Value: []byte("1")}}}
	resp := LogAndContinue{}.OnProductionError(&ErrorContext{DeadLetterQueueTopic: "dlq"}, rec, errors.New("Broker: Message size too large"))
	if len(resp.DeadLetters) != 1 {
		t.Fatalf("%d dead letters, want 1", len(resp.DeadLetters))
	}
	dl := resp.DeadLetters[0]
	if string(dl.Key) != "k" || string(dl.Value) != "too big" || dl.Timestamp != 77 || header(t, dl.Headers, "h") != "1" {
		t.Errorf("dead letter %+v, want the failed record's key, value, timestamp and headers", dl)
	}
	if header(t, dl.Headers, HeaderTopic) != "out" || header(t, dl.Headers, HeaderPartition) != "2" || header(t, dl.Headers, HeaderOffset) != "-1" {
		t.Errorf("position headers %v, want out/2/-1", dl.Headers)
	}
}

func TestResponseConstructorsCarryTheirDeadLetters(t *testing.T) {
	a, b := DeadLetter{Topic: "x"}, DeadLetter{Topic: "y"}
	if r := ContinueWith(a, b); r.Result != Continue || len(r.DeadLetters) != 2 || r.DeadLetters[1].Topic != "y" {
		t.Errorf("ContinueWith = %+v", r)
	}
	if r := FailWith(a); r.Result != Fail || len(r.DeadLetters) != 1 {
		t.Errorf("FailWith = %+v", r)
	}
}
