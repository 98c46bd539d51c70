package testdriver_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// dlqBuilder reads int64 values and fails processing for negative ones.
func dlqBuilder() *processor.Builder {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "check", processor.Func(func(ctx processor.Context[string, int64], r record.Record[string, int64]) error {
		if r.Value() < 0 {
			return errors.New("negative amount")
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "check")
	return b
}

func TestDeadLettersAreReadFromTheirTopicLikeOutputs(t *testing.T) {
	d := newDriver(t, dlqBuilder(), testdriver.Config{DeadLetterQueueTopic: "dlq",
		DeserializationHandler: handler.LogAndContinue{}, ProcessingHandler: handler.LogAndContinue{}})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	must(t, in.Pipe("a", 1, 10))
	poison := []byte("not an int64")
	must(t, d.PipeRaw("in", []byte("b"), poison, 20, record.Header{Key: "trace", Value: []byte("t-1")}))
	must(t, in.Pipe("c", -5, 30))
	must(t, in.Pipe("d", 2, 40))

	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.Int64())
	if out.Len() != 2 {
		t.Fatalf("%d outputs, want the 2 good records", out.Len())
	}
	dlq := testdriver.CreateOutputTopic(d, "dlq", record.Bytes(), record.Bytes())
	if dlq.Len() != 2 {
		t.Fatalf("%d dead letters, want 2 (the poison record, the negative one)", dlq.Len())
	}
	first, err := dlq.ReadRecord()
	must(t, err)
	if string(first.Key()) != "b" || !bytes.Equal(first.Value(), poison) || first.Timestamp() != 20 {
		t.Errorf("first dead letter %v, want the raw poison record b at 20", first)
	}
	if v, _ := first.Headers().Last("trace"); string(v) != "t-1" {
		t.Errorf("first dead letter lost the source header: %v", first.Headers())
	}
	if v, _ := first.Headers().Last(handler.HeaderOffset); string(v) != "1" {
		t.Errorf("first dead letter offset header %q, want 1", v)
	}
	second, err := dlq.ReadRecord()
	must(t, err)
	if want, _ := record.Int64().Serialize(nil, -5); string(second.Key()) != "c" || !bytes.Equal(second.Value(), want) {
		t.Errorf("second dead letter %v, want the raw bytes of c=-5", second)
	}
	if v, _ := second.Headers().Last(handler.HeaderMessage); !bytes.Contains(v, []byte("negative amount")) {
		t.Errorf("second dead letter message %q", v)
	}
	st, err := d.Stats(0)
	must(t, err)
	if st.DeadLettered.Load() != 2 {
		t.Errorf("DeadLettered = %d, want 2", st.DeadLettered.Load())
	}
}

func TestWithoutADeadLetterTopicTheBuiltInHandlersWriteNone(t *testing.T) {
	d := newDriver(t, dlqBuilder(), testdriver.Config{ProcessingHandler: handler.LogAndContinue{}})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	must(t, in.Pipe("c", -5, 30))
	for _, topic := range d.ProducedTopics() {
		t.Errorf("wrote to topic %q", topic)
	}
	st, err := d.Stats(0)
	must(t, err)
	if st.DeadLettered.Load() != 0 || st.DroppedProcessingError.Load() != 1 {
		t.Errorf("DeadLettered %d, dropped %d; want 0 and 1", st.DeadLettered.Load(), st.DroppedProcessingError.Load())
	}
}
