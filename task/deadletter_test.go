package task

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
)

// dlCollector is a collector that writes dead letters apart, as the App's
// does; fail makes every dead letter fail.
type dlCollector struct {
	memCollector
	dead []handler.DeadLetter
	fail error
	// onSend, if set, runs inside Send (a sink's write).
	onSend func()
}

func (c *dlCollector) WriteDeadLetter(dl *handler.DeadLetter) error {
	if c.fail != nil {
		return c.fail
	}
	c.dead = append(c.dead, *dl)
	return nil
}

func (c *dlCollector) Send(topic string, partition int32, key, value []byte, h record.Headers, ts int64) error {
	if c.onSend != nil {
		c.onSend()
	}
	return c.memCollector.Send(topic, partition, key, value, h, ts)
}

// failingTopology reads int64 values; "p" fails processing with an error
// for the value 13 and panics for 66; "tick" fails every punctuation when
// failTick is set.
func failingTopology(t *testing.T, failTick bool) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "p", processor.Func(func(ctx processor.Context[string, int64], r record.Record[string, int64]) error {
		switch r.Value() {
		case 13:
			return errors.New("unlucky")
		case 66:
			panic("sixty-six")
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddProcessor(b, "tick", func() processor.Processor[string, int64, string, int64] {
		return &failingTicker{fail: failTick}
	}, "p")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "tick")
	topo, err := b.Build()
	must(t, err)
	return topo
}

type failingTicker struct {
	ctx  processor.Context[string, int64]
	fail bool
}

func (p *failingTicker) Init(ctx processor.Context[string, int64]) error {
	p.ctx = ctx
	_, err := ctx.Schedule(time.Second, punctuate.StreamTime, func(ts int64) error {
		if p.fail {
			return errors.New("tick failed")
		}
		r, _ := record.New("tick", ts, ts)
		return ctx.Forward(r)
	})
	return err
}
func (p *failingTicker) Process(r record.Record[string, int64]) error { return p.ctx.Forward(r) }
func (p *failingTicker) Close() error                                 { return nil }

func int64Raw(offset, ts int64, value []byte) record.ConsumerRecord {
	return record.ConsumerRecord{Topic: "in", Partition: 2, Offset: offset, Timestamp: ts, Key: []byte("k"), Value: value,
		Headers: record.Headers{{Key: "origin", Value: []byte("test")}}}
}

func be(v int64) []byte { b, _ := record.Int64().Serialize(nil, v); return b }

func headerValue(t *testing.T, dl handler.DeadLetter, key string) string {
	t.Helper()
	v, ok := dl.Headers.Last(key)
	if !ok {
		t.Fatalf("dead letter lacks header %q: %v", key, dl.Headers)
	}
	return string(v)
}

func TestUndeserializableRecordsDeadLetterHoldsItsRawBytesAndHeadersAndIsCounted(t *testing.T) {
	c := &dlCollector{memCollector: memCollector{partitions: 4}}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: c,
		DeserializationHandler: handler.LogAndContinue{}, DeadLetterQueueTopic: "dlq"})
	poison := []byte{1, 2, 3} // not 8 bytes: no int64
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(0, 10, be(1)), int64Raw(1, 11, poison), int64Raw(2, 12, be(2))}))
	drain(t, tk)
	if len(c.dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(c.dead))
	}
	dl := c.dead[0]
	if dl.Topic != "dlq" || string(dl.Key) != "k" || !bytes.Equal(dl.Value, poison) || dl.Timestamp != 11 {
		t.Errorf("dead letter %+v, want the raw record k=%v at 11 for dlq", dl, poison)
	}
	if headerValue(t, dl, "origin") != "test" || headerValue(t, dl, handler.HeaderException) != "*record.DeserializationError" ||
		headerValue(t, dl, handler.HeaderTopic) != "in" || headerValue(t, dl, handler.HeaderPartition) != "2" || headerValue(t, dl, handler.HeaderOffset) != "1" {
		t.Errorf("dead letter headers %v", dl.Headers)
	}
	if !strings.Contains(headerValue(t, dl, handler.HeaderMessage), "cannot deserialize value") {
		t.Errorf("message header %q", headerValue(t, dl, handler.HeaderMessage))
	}
	if got := tk.Stats().DeadLettered.Load(); got != 1 {
		t.Errorf("DeadLettered = %d, want 1", got)
	}
	if got := tk.Stats().SkippedDeserialization.Load(); got != 1 {
		t.Errorf("SkippedDeserialization = %d, want 1 (a dead-lettered record is still a skipped one)", got)
	}
	var values []int64
	for _, o := range c.sent {
		if string(o.key) == "k" {
			v, _ := record.Int64().Deserialize(o.value)
			values = append(values, v)
		}
	}
	if len(values) != 2 || values[0] != 1 || values[1] != 2 {
		t.Errorf("outputs %v, want the 2 good records [1 2]", values)
	}
}

func TestProcessingFailureDeadLettersHoldTheSourceRecordForAnErrorAndAPanic(t *testing.T) {
	c := &dlCollector{memCollector: memCollector{partitions: 4}}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: c,
		ProcessingHandler: handler.LogAndContinue{}, DeadLetterQueueTopic: "dlq"})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(5, 100, be(13)), int64Raw(6, 200, be(66)), int64Raw(7, 300, be(1))}))
	drain(t, tk)
	if len(c.dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(c.dead))
	}
	for i, want := range []struct {
		value     int64
		offset    string
		ts        int64
		exception string
	}{{13, "5", 100, "*handler.ProcessingError"}, {66, "6", 200, "panic: string"}} {
		dl := c.dead[i]
		if !bytes.Equal(dl.Value, be(want.value)) || dl.Timestamp != want.ts || headerValue(t, dl, handler.HeaderOffset) != want.offset ||
			headerValue(t, dl, handler.HeaderException) != want.exception || headerValue(t, dl, "origin") != "test" {
			t.Errorf("dead letter %d: %+v, want value %d at offset %s, time %d, exception %q", i, dl, want.value, want.offset, want.ts, want.exception)
		}
	}
	if !strings.Contains(headerValue(t, c.dead[1], handler.HeaderStacktrace), "goroutine") {
		t.Errorf("the panic's dead letter has no stack: %q", headerValue(t, c.dead[1], handler.HeaderStacktrace))
	}
	if got := tk.Stats().DeadLettered.Load(); got != 2 {
		t.Errorf("DeadLettered = %d, want 2", got)
	}
}

func TestLogAndFailWritesTheDeadLetterBeforeTheTaskFails(t *testing.T) {
	c := &dlCollector{memCollector: memCollector{partitions: 4}}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: c,
		DeadLetterQueueTopic: "dlq"}) // nil handlers: LogAndFail
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(0, 1, be(13))}))
	_, err := tk.Process()
	var pe *handler.ProcessingError
	if !errors.As(err, &pe) || pe.Offset != 0 {
		t.Fatalf("Process = %v, want the ProcessingError of offset 0", err)
	}
	if len(c.dead) != 1 || tk.Stats().DeadLettered.Load() != 1 {
		t.Fatalf("%d dead letters (counted %d), want 1 written before failing", len(c.dead), tk.Stats().DeadLettered.Load())
	}
}

func TestPunctuationDeadLetterHasNoSourceRecordAndThePunctuationTime(t *testing.T) {
	c := &dlCollector{memCollector: memCollector{partitions: 4}}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, true), Collector: c,
		ProcessingHandler: handler.LogAndContinue{}, DeadLetterQueueTopic: "dlq"})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(0, 2500, be(1))}))
	drain(t, tk)
	if len(c.dead) != 1 {
		t.Fatalf("%d dead letters, want 1 (the failed punctuation)", len(c.dead))
	}
	dl := c.dead[0]
	if dl.Key != nil || dl.Value != nil || dl.Timestamp != 2500 {
		t.Errorf("dead letter %+v, want null key and value at the punctuation time 2500", dl)
	}
	if _, ok := dl.Headers.Last("origin"); ok {
		t.Errorf("the punctuation's dead letter has the last record's headers: %v", dl.Headers)
	}
	if v, _ := dl.Headers.Last(handler.HeaderTopic); v != nil || headerValue(t, dl, handler.HeaderOffset) != "-1" {
		t.Errorf("position headers %v, want null topic and offset -1", dl.Headers)
	}
}

func TestHandlersGetAnErrorContextLocatingTheFailure(t *testing.T) {
	var got []handler.ErrorContext
	h := processingFunc(func(ec *handler.ErrorContext, _ *handler.ProcessingError) handler.Response {
		got = append(got, *ec)
		return handler.ContinueWith()
	})
	tk := runningTask(t, Config{ID: processor.TaskID{Subtopology: 0, Partition: 2}, Topology: failingTopology(t, true),
		ProcessingHandler: h, DeadLetterQueueTopic: "dlq"})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(4, 1500, be(13))}))
	drain(t, tk)
	if len(got) != 2 {
		t.Fatalf("handler asked %d times, want 2 (the record, then the punctuation)", len(got))
	}
	rec, punct := got[0], got[1]
	if rec.TaskID != "0_2" || rec.Node != "p" || rec.Source == nil || rec.Source.Offset != 4 || rec.Timestamp != 1500 || rec.DeadLetterQueueTopic != "dlq" {
		t.Errorf("record failure context %+v", rec)
	}
	if punct.Node != "tick" || punct.Source != nil || punct.Timestamp != 1500 || punct.DeadLetterQueueTopic != "dlq" {
		t.Errorf("punctuation failure context %+v", punct)
	}
}

type processingFunc func(*handler.ErrorContext, *handler.ProcessingError) handler.Response

func (f processingFunc) OnProcessingError(ec *handler.ErrorContext, pe *handler.ProcessingError) handler.Response {
	return f(ec, pe)
}

func TestErrorContextNamesTheSourceRecordOnlyWhileItIsProcessed(t *testing.T) {
	c := &dlCollector{memCollector: memCollector{partitions: 4}}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: c, DeadLetterQueueTopic: "dlq"})
	var seen []*handler.ErrorContext
	c.onSend = func() { seen = append(seen, tk.ErrorContext()) } // what the App's collector asks the production handler with
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(3, 1200, be(1))}))
	drain(t, tk) // the record's output, then the punctuation's at 1200
	if len(seen) != 2 {
		t.Fatalf("%d sink writes, want 2", len(seen))
	}
	if ec := seen[0]; ec.Source == nil || ec.Source.Offset != 3 || ec.Node != "out" || ec.Timestamp != 1200 || ec.DeadLetterQueueTopic != "dlq" {
		t.Errorf("context during the record: %+v", ec)
	}
	if ec := seen[1]; ec.Source != nil || ec.Timestamp != 1200 {
		t.Errorf("context during the punctuation: %+v, want no source", ec)
	}
	if ec := tk.ErrorContext(); ec.Source != nil {
		t.Errorf("context between records: %+v, want no source", ec)
	}
}

func TestCollectorWithoutADeadLetterWriterGetsDeadLettersThroughSend(t *testing.T) {
	c := &memCollector{partitions: 4}
	h := processingFunc(func(*handler.ErrorContext, *handler.ProcessingError) handler.Response {
		return handler.ContinueWith(handler.DeadLetter{Topic: "custom", Value: []byte("x")}) // timestamp 0: now
	})
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: c,
		ProcessingHandler: h, Clock: &fakeClock{ms: 777}})
	must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(0, 1, be(13))}))
	drain(t, tk)
	var dead []sent
	for _, o := range c.sent {
		if o.topic == "custom" {
			dead = append(dead, o)
		}
	}
	if len(dead) != 1 || dead[0].partition != -1 || string(dead[0].value) != "x" || dead[0].ts != 777 {
		t.Fatalf("sent %+v, want one dead letter for topic custom, any partition, at the wall-clock time 777", c.sent)
	}
	if tk.Stats().DeadLettered.Load() != 1 {
		t.Errorf("DeadLettered = %d, want 1", tk.Stats().DeadLettered.Load())
	}
}

func TestADeadLetterThatCannotBeWrittenFailsTheTaskWhateverTheHandlerSays(t *testing.T) {
	for name, c := range map[string]struct {
		h    handler.ProcessingHandler
		fail error
	}{
		"refused by the collector": {handler.LogAndContinue{}, errors.New("queue closed")},
		"without a topic": {processingFunc(func(*handler.ErrorContext, *handler.ProcessingError) handler.Response {
			return handler.ContinueWith(handler.DeadLetter{Value: []byte("x")})
		}), nil},
	} {
		t.Run(name, func(t *testing.T) {
			col := &dlCollector{memCollector: memCollector{partitions: 4}, fail: c.fail}
			tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: failingTopology(t, false), Collector: col,
				ProcessingHandler: c.h, DeadLetterQueueTopic: "dlq"})
			must(t, tk.AddRecords("in", 2, []record.ConsumerRecord{int64Raw(0, 1, be(13))}))
			_, err := tk.Process()
			if !errors.Is(err, handler.ErrDeadLetterWrite) || !errors.Is(err, handler.ErrFatal) || !strings.Contains(err.Error(), "unlucky") {
				t.Fatalf("Process = %v, want a fatal ErrDeadLetterWrite naming the failure it was for", err)
			}
			if c.fail != nil && !strings.Contains(err.Error(), `"dlq"`) {
				t.Errorf("error %q does not name the topic", err)
			}
			if tk.Stats().DeadLettered.Load() != 0 || tk.Stats().DroppedProcessingError.Load() != 0 {
				t.Errorf("counted %d dead letters, %d drops; want none", tk.Stats().DeadLettered.Load(), tk.Stats().DroppedProcessingError.Load())
			}
		})
	}
}
