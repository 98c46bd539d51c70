package streams_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// amountsTopology reads int64 amounts from in and writes them to out; a
// negative amount is an error and 66 a panic, in processor "check".
func amountsTopology(t *testing.T, out string) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "check", processor.Func(func(ctx processor.Context[string, int64], r record.Record[string, int64]) error {
		switch {
		case r.Value() == 66:
			panic("sixty-six")
		case r.Value() < 0:
			return errors.New("negative amount")
		}
		return ctx.Forward(r)
	}), "in")
	processor.AddSink(b, "out", out, record.String(), record.Int64(), "check")
	topo, err := b.Build()
	must(t, err)
	return topo
}

func amount(v int64) []byte { b, _ := record.Int64().Serialize(nil, v); return b }

// raw makes an input record of raw bytes.
func rawRecord(t *testing.T, key string, value []byte, ts int64, headers ...record.Header) record.Record[string, []byte] {
	t.Helper()
	r, err := record.New(key, value, ts)
	must(t, err)
	return r.WithHeaders(headers)
}

func lastHeader(r record.Record[[]byte, []byte], key string) string {
	v, _ := r.Headers().Last(key)
	return string(v)
}

// waitDeadLettered waits until the App's tasks counted n dead letters.
func waitDeadLettered(t *testing.T, app *running, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for streams.DeadLettered(app.app) != n {
		if time.Now().After(deadline) {
			t.Fatalf("tasks counted %d dead letters, want %d", streams.DeadLettered(app.app), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPoisonRecordsReachTheDeadLetterTopicWithTheirRawBytesHeadersAndPosition(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1, "dlq": 1})
	poison := []byte("not an int64")
	must(t, kafkatest.Produce(c, "in", record.String(), record.Bytes(),
		rawRecord(t, "a", amount(1), 10),
		rawRecord(t, "b", poison, 20, record.Header{Key: "trace", Value: []byte("t-20")}),
		rawRecord(t, "c", amount(-5), 30, record.Header{Key: "trace", Value: []byte("t-30")}),
		rawRecord(t, "d", amount(66), 40),
		rawRecord(t, "e", amount(2), 50)))
	app := start(t, amountsTopology(t, "out"), streams.Config{ApplicationID: "dlq-poison", BootstrapServers: c.Bootstrap(),
		CommitInterval: 50 * time.Millisecond, DeadLetterQueueTopic: "dlq",
		DeserializationHandler: handler.LogAndContinue{}, ProcessingHandler: handler.LogAndContinue{}})

	out, err := kafkatest.Read(c, "out", record.String(), record.Int64(), 2, kafkatest.ReadOptions{})
	must(t, err)
	if out[0].Key() != "a" || out[1].Key() != "e" {
		t.Errorf("outputs %v, want a and e", out)
	}
	dead, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 3, kafkatest.ReadOptions{})
	must(t, err)
	for i, want := range []struct {
		key       string
		value     []byte
		ts        int64
		trace     string
		offset    string
		exception string
		message   string
	}{
		{"b", poison, 20, "t-20", "1", "*record.DeserializationError", "cannot deserialize value"},
		{"c", amount(-5), 30, "t-30", "2", "*handler.ProcessingError", "negative amount"},
		{"d", amount(66), 40, "", "3", "panic: string", "sixty-six"},
	} {
		d := dead[i]
		if string(d.Key()) != want.key || !bytes.Equal(d.Value(), want.value) || d.Timestamp() != want.ts {
			t.Errorf("dead letter %d: %s=%q at %d, want %s=%q at %d (the raw input)", i, d.Key(), d.Value(), d.Timestamp(), want.key, want.value, want.ts)
		}
		if lastHeader(d, "trace") != want.trace || lastHeader(d, handler.HeaderTopic) != "in" || lastHeader(d, handler.HeaderPartition) != "0" ||
			lastHeader(d, handler.HeaderOffset) != want.offset || lastHeader(d, handler.HeaderException) != want.exception ||
			!strings.Contains(lastHeader(d, handler.HeaderMessage), want.message) || lastHeader(d, handler.HeaderStacktrace) == "" {
			t.Errorf("dead letter %d headers %v, want trace %q, position in/0/%s, exception %q, a message with %q and a trace",
				i, d.Headers(), want.trace, want.offset, want.exception, want.message)
		}
	}
	waitDeadLettered(t, app, 3)
	must(t, app.stop(t))
}

func TestDeadLetterTopicIsValidatedAndMustNotBeAnInput(t *testing.T) {
	topo := amountsTopology(t, "out")
	for name, c := range map[string]struct {
		topic, want string
	}{
		"bad characters": {"dead letters", "DeadLetterQueueTopic"},
		"too long":       {strings.Repeat("x", 250), "250 characters"},
		"an input":       {"in", "read by sub-topology 0"},
	} {
		_, err := streams.New(topo, streams.Config{ApplicationID: "dlq-config", BootstrapServers: "localhost:9092", DeadLetterQueueTopic: c.topic})
		if !errors.Is(err, streams.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want ErrConfig mentioning %q", name, err, c.want)
		}
	}
}

// bigTopology writes, for each input, a value of the size it names.
func bigTopology(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "grow", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, int64]) error {
		out, err := record.New(r.Key(), strings.Repeat("x", int(r.Value())), r.Timestamp())
		if err != nil {
			return err
		}
		return ctx.Forward(out)
	}), "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "grow")
	topo, err := b.Build()
	must(t, err)
	return topo
}

// createTopic creates a topic with configs.
func createTopic(t *testing.T, bootstrap, topic string, config map[string]string) {
	t.Helper()
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	must(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1, Config: config}})
	must(t, err)
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("create topic %s: %v", topic, r.Error)
		}
	}
}

// A record the producer refuses at once (over its message.max.bytes) is
// handled while its source record is processed: the dead letter is the
// source record, as in Kafka Streams, and the production handler saw the
// refused record.
func TestRefusedRecordsDeadLetterIsItsSourceRecordAndTheHandlerSeesTheRefusedRecord(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1, "dlq": 1})
	must(t, kafkatest.Produce(c, "in", record.String(), record.Bytes(),
		rawRecord(t, "small", amount(10), 10), rawRecord(t, "huge", amount(5000), 20, record.Header{Key: "h", Value: []byte("1")}),
		rawRecord(t, "small2", amount(20), 30)))
	var refused []handler.ProducerRecord
	var sources []string
	h := productionHandler(func(ec *handler.ErrorContext, rec *handler.ProducerRecord, err error) handler.Response {
		cp := *rec
		cp.Value = bytes.Clone(rec.Value)
		refused = append(refused, cp)
		if ec.Source != nil {
			sources = append(sources, string(ec.Source.Key))
		}
		return handler.LogAndContinue{}.OnProductionError(ec, rec, err)
	})
	app := start(t, bigTopology(t), streams.Config{ApplicationID: "dlq-refused", BootstrapServers: c.Bootstrap(),
		CommitInterval: 50 * time.Millisecond, DeadLetterQueueTopic: "dlq", ProductionHandler: h,
		ProducerConfig: map[string]any{"message.max.bytes": 1000}})
	out, err := kafkatest.Read(c, "out", record.String(), record.String(), 2, kafkatest.ReadOptions{})
	must(t, err)
	if out[0].Key() != "small" || out[1].Key() != "small2" {
		t.Errorf("outputs %v, want small and small2", out)
	}
	dead, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 1, kafkatest.ReadOptions{})
	must(t, err)
	if d := dead[0]; string(d.Key()) != "huge" || !bytes.Equal(d.Value(), amount(5000)) || lastHeader(d, "h") != "1" ||
		lastHeader(d, handler.HeaderTopic) != "in" || lastHeader(d, handler.HeaderOffset) != "1" ||
		!strings.Contains(lastHeader(d, handler.HeaderMessage), "too large") {
		t.Errorf("dead letter %v %v, want the source record huge@in-0:1 and the size error", d, d.Headers())
	}
	waitDeadLettered(t, app, 1)
	must(t, app.stop(t))
	if len(refused) != 1 || refused[0].Topic != "out" || refused[0].Partition != -1 || len(refused[0].Value) != 5000 ||
		len(sources) != 1 || sources[0] != "huge" {
		t.Errorf("production handler saw %d records (sources %v), want the 5000-byte record for out, from source huge", len(refused), sources)
	}
}

type productionHandler func(*handler.ErrorContext, *handler.ProducerRecord, error) handler.Response

func (f productionHandler) OnProductionError(ec *handler.ErrorContext, rec *handler.ProducerRecord, err error) handler.Response {
	return f(ec, rec, err)
}

// A record the broker refuses (over its topic's max.message.bytes) fails
// after the task moved on: the handler gets the failed record's bytes and
// headers, and the built-in dead letter is that record. On
// confluent-kafka-go's producer, whose per-record delivery reports carry
// the failure.
func TestRecordTheBrokerRefusesIsDeadLetteredWithItsOwnBytesUnderAtLeastOnce(t *testing.T) {
	brokerRefusalIsDeadLettered(t, false)
}

// The same on Millrace's own producer client (the default): its failed delivery reaches
// the production handler with the record's bytes, and the dead letter is
// written and acknowledged from its event goroutine.
func TestRecordTheBrokerRefusesIsDeadLetteredWithItsOwnBytesOnTheOwnProducerClient(t *testing.T) {
	brokerRefusalIsDeadLettered(t, true)
}

func brokerRefusalIsDeadLettered(t *testing.T, own bool) {
	c := cluster(t, map[string]int32{"in": 1, "dlq": 1})
	createTopic(t, c.Bootstrap(), "out", map[string]string{"max.message.bytes": "2000"})
	must(t, kafkatest.Produce(c, "in", record.String(), record.Bytes(),
		rawRecord(t, "small", amount(10), 10), rawRecord(t, "huge", amount(5000), 20), rawRecord(t, "small2", amount(20), 30)))
	cfg := streams.Config{ApplicationID: "dlq-broker", BootstrapServers: c.Bootstrap(),
		CommitInterval: 50 * time.Millisecond, DeadLetterQueueTopic: "dlq", ProductionHandler: handler.LogAndContinue{},
		// One record per request: the broker refuses whole batches.
		ProducerConfig: map[string]any{"batch.size": 1500}}
	if own {
		streams.OwnProducer(&cfg)
	} else {
		streams.WrapperProducer(&cfg)
	}
	app := start(t, bigTopology(t), cfg)
	out, err := kafkatest.Read(c, "out", record.String(), record.String(), 2, kafkatest.ReadOptions{})
	must(t, err)
	if out[0].Key() != "small" || out[1].Key() != "small2" {
		t.Errorf("outputs %v, want small and small2", out)
	}
	dead, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 1, kafkatest.ReadOptions{})
	must(t, err)
	if d := dead[0]; string(d.Key()) != "huge" || len(d.Value()) != 5000 || d.Timestamp() < time.Now().Add(-time.Minute).UnixMilli() ||
		lastHeader(d, handler.HeaderTopic) != "out" || lastHeader(d, handler.HeaderOffset) != "-1" ||
		!strings.Contains(strings.ToLower(lastHeader(d, handler.HeaderMessage)), "too large") {
		t.Errorf("dead letter %s (%d bytes) at %d, headers %v; want the failed 5000-byte record for out, stamped when written", d.Key(), len(d.Value()), d.Timestamp(), d.Headers())
	}
	must(t, app.stop(t))
}

// Under exactly-once a dead letter is part of its task's transaction: the
// first transactions abort (the output topic does not exist yet, so the
// outputs are not delivered) and their dead letters, written to the
// broker, stay invisible to read_committed readers; once the topic exists
// the retried transaction commits each dead letter once.
func TestExactlyOnceDeadLettersCommitAndAbortWithTheirTransaction(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "dlq": 1})
	must(t, kafkatest.Produce(c, "in", record.String(), record.Bytes(),
		rawRecord(t, "a", amount(1), 10), rawRecord(t, "bad1", []byte("x"), 20), rawRecord(t, "b", amount(2), 30),
		rawRecord(t, "bad2", amount(-1), 40)))
	app := start(t, amountsTopology(t, "late-out"), streams.Config{ApplicationID: "dlq-eos", BootstrapServers: c.Bootstrap(),
		ProcessingGuarantee: streams.ExactlyOnceV2, DeadLetterQueueTopic: "dlq",
		DeserializationHandler: handler.LogAndContinue{}, ProcessingHandler: handler.LogAndContinue{},
		ProducerConfig: map[string]any{"message.timeout.ms": 1500}})
	// Dead letters of an aborted transaction reach the broker.
	aborted, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 2, kafkatest.ReadOptions{ReadUncommitted: true})
	must(t, err)
	if string(aborted[0].Key()) != "bad1" || string(aborted[1].Key()) != "bad2" {
		t.Fatalf("uncommitted dead letters %v, want bad1 and bad2", aborted)
	}
	time.Sleep(2 * time.Second) // their transaction fails (message.timeout.ms) and aborts
	createTopic(t, c.Bootstrap(), "late-out", nil)
	out, err := kafkatest.Read(c, "late-out", record.String(), record.Int64(), 2, kafkatest.ReadOptions{Timeout: 60 * time.Second})
	must(t, err)
	if out[0].Key() != "a" || out[1].Key() != "b" {
		t.Fatalf("outputs %v, want a and b", out)
	}
	// A record after the committed dead letters, to know the reader has
	// seen everything before it.
	must(t, kafkatest.Produce(c, "dlq", record.String(), record.Bytes(), rawRecord(t, "end", nil, 99).WithNullValue()))
	var keys []string
	all, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 1000, kafkatest.ReadOptions{Timeout: 5 * time.Second, ReadUncommitted: true})
	if !errors.Is(err, kafkatest.ErrTimeout) {
		t.Fatal(err)
	}
	committed, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 3, kafkatest.ReadOptions{Timeout: 30 * time.Second})
	must(t, err)
	for _, r := range committed {
		keys = append(keys, string(r.Key()))
	}
	if strings.Join(keys, ",") != "bad1,bad2,end" {
		t.Errorf("read_committed sees dead letters %v, want bad1,bad2 once each, then end", keys)
	}
	if len(all) < 5 {
		t.Errorf("the topic holds %d records, want at least 5 (the aborted dead letters, the committed ones, end)", len(all))
	}
	must(t, app.stop(t))
}

func TestADeadLetterTopicThatDoesNotExistStopsTheAppNamingIt(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	must(t, kafkatest.Produce(c, "in", record.String(), record.Bytes(), rawRecord(t, "bad", []byte("x"), 10)))
	app := start(t, amountsTopology(t, "out"), streams.Config{ApplicationID: "dlq-missing", BootstrapServers: c.Bootstrap(),
		DeadLetterQueueTopic: "no-such-dlq", DeserializationHandler: handler.LogAndContinue{},
		ProducerConfig: map[string]any{"topic.metadata.propagation.max.ms": 1000}})
	select {
	case err := <-app.done:
		if !errors.Is(err, handler.ErrDeadLetterWrite) || !strings.Contains(err.Error(), `"no-such-dlq"`) || !strings.Contains(err.Error(), "create them first") {
			t.Fatalf("Run = %v, want ErrDeadLetterWrite naming topic no-such-dlq and saying the App does not create it", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the App kept running without its dead-letter topic")
	}
}
