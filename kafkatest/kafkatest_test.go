//go:build cgo

package kafkatest

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestEmbeddedClusterServesLibrdkafkaProduceAndConsume(t *testing.T) {
	c, err := Start(Config{Topics: map[string]int32{"t": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "go.logs.channel.enable": false})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() { // Flush counts undelivered reports too: drain them.
		for e := range p.Events() {
			if m, ok := e.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				t.Errorf("delivery: %v", m.TopicPartition.Error)
			}
		}
	}()
	topic := "t"
	for i := 0; i < 10; i++ {
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % 2)},
			Value: []byte{byte(i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := p.Flush(10_000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "group.id": "g",
		"auto.offset.reset": "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.SubscribeTopics([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	got := 0
	deadline := time.Now().Add(20 * time.Second)
	for got < 10 && time.Now().Before(deadline) {
		if _, ok := cons.Poll(100).(*kafka.Message); ok {
			got++
		}
	}
	if got != 10 {
		t.Fatalf("consumed %d of 10 records", got)
	}
}
