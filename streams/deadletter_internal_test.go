package streams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
)

type countingProduction struct{ asked int }

func (h *countingProduction) OnProductionError(ec *handler.ErrorContext, rec *handler.ProducerRecord, err error) handler.Response {
	h.asked++
	return handler.LogAndContinue{}.OnProductionError(ec, rec, err)
}

// liveProducer is the App's producer on an embedded cluster with a dlq
// topic, at-least-once.
func liveProducer(t *testing.T, h handler.ProductionHandler) (*producer, *kafkatest.Cluster) {
	t.Helper()
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"dlq": 1, "out": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := Config{ApplicationID: "dlq-internal", BootstrapServers: c.Bootstrap(), ProductionHandler: h, DeadLetterQueueTopic: "dlq"}
	cfg.withDefaults()
	cl := newClients(&cfg)
	t.Cleanup(cl.close)
	m := newMetrics(&cfg, &hooks{logger: zap.NewNop()})
	pr, err := newProducer(cl, "p1", map[string]bool{}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pr.close(10 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return pr, c
}

func failedDelivery(topic string, key, value string, opaque any) *kafka.Message {
	return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0,
		Error: kafka.NewError(kafka.ErrMsgSizeTooLarge, "Broker: Message size too large", false)},
		Key: []byte(key), Value: []byte(value), Headers: []kafka.Header{{Key: "h", Value: []byte("1")}}, Opaque: opaque}
}

// A failed delivery's dead letter is acknowledged before the failure
// counts as handled (so no commit can pass it), and counted.
func TestFailedDeliverysDeadLetterIsAcknowledgedAndCountedBeforeItReturns(t *testing.T) {
	h := &countingProduction{}
	pr, c := liveProducer(t, h)
	if err := pr.deliveryFailed(failedDelivery("out", "k", "too big", nil)); err != nil {
		t.Fatalf("deliveryFailed = %v, want nil (the handler continues)", err)
	}
	if h.asked != 1 || pr.deadLettered.Load() != 1 {
		t.Fatalf("handler asked %d times, %d dead letters counted; want 1 and 1", h.asked, pr.deadLettered.Load())
	}
	// Already acknowledged: readable at once.
	got, err := kafkatest.Read(c, "dlq", record.Bytes(), record.Bytes(), 1, kafkatest.ReadOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := got[0]
	if string(d.Key()) != "k" || string(d.Value()) != "too big" {
		t.Errorf("dead letter %q=%q, want the failed record k=too big", d.Key(), d.Value())
	}
	if v, _ := d.Headers().Last("h"); string(v) != "1" {
		t.Errorf("dead letter lost the failed record's header: %v", d.Headers())
	}
	if v, _ := d.Headers().Last(handler.HeaderTopic); string(v) != "out" {
		t.Errorf("topic header %q, want out", v)
	}
}

func TestFailedDeadLetterDeliveryIsFatalAndNeverReachesTheProductionHandler(t *testing.T) {
	h := &countingProduction{}
	pr := &producer{logger: zap.NewNop(), handler: h, dlqTopic: "dlq"}
	err := pr.deliveryFailed(failedDelivery("dlq", "k", "v", deadLetterMark{}))
	if !errors.Is(err, handler.ErrDeadLetterWrite) || !strings.Contains(err.Error(), `"dlq"`) {
		t.Fatalf("deliveryFailed = %v, want ErrDeadLetterWrite naming topic dlq", err)
	}
	if h.asked != 0 {
		t.Errorf("the production handler was asked %d times about a dead letter", h.asked)
	}
	unknown := deadLetterFailed("dlq", kafka.NewError(kafka.ErrUnknownTopicOrPart, "Broker: Unknown topic or partition", false))
	if !strings.Contains(unknown.Error(), "does not create DeadLetterQueueTopic") {
		t.Errorf("unknown-topic error %q does not say the App creates no dead-letter topic", unknown)
	}
}

func TestDeliveryReportsCarryRecordBytesOnlyWhenAHandlerCanUseThem(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "none"},
		{Config{ProductionHandler: handler.LogAndContinue{}}, "key,value,headers"},
		{Config{DeadLetterQueueTopic: "dlq"}, "key,value,headers"},
		{Config{ProcessingGuarantee: ExactlyOnceV2, ProductionHandler: handler.LogAndContinue{}, DeadLetterQueueTopic: "dlq"}, "none"},
	} {
		if got := deliveryReportFields(&c.cfg); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}
}

// A dead letter's message is marked so its delivery report is known, and
// a timestamp of 0 is left to the producer.
func TestDeadLetterMessageIsMarkedAndTimestamped(t *testing.T) {
	var m kafka.Message
	topic := "dlq"
	setDeadLetter(&m, &topic, &handler.DeadLetter{Topic: topic, Value: []byte("v"), Timestamp: 42,
		Headers: record.Headers{{Key: "a", Value: nil}}})
	if !isDeadLetter(&m) || m.Timestamp.UnixMilli() != 42 || len(m.Headers) != 1 || m.Headers[0].Value != nil ||
		m.TopicPartition.Partition != kafka.PartitionAny {
		t.Errorf("message %+v", m)
	}
	setDeadLetter(&m, &topic, &handler.DeadLetter{Topic: topic})
	if !m.Timestamp.IsZero() || m.Headers != nil {
		t.Errorf("timestamp 0 gives %v (want zero: the producer stamps it), headers %v", m.Timestamp, m.Headers)
	}
	if isDeadLetter(&kafka.Message{}) {
		t.Error("an unmarked message counts as a dead letter")
	}
}
