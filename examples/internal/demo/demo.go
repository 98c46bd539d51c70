// Package demo is what the examples share: an embedded broker unless a real
// cluster is given, topic creation, and a producer and a reader for the
// example's own input and output.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/kafkatest"
)

// Cluster returns the bootstrap servers to use: brokers if set, else a fresh
// embedded broker (stopped by the returned function).
func Cluster(brokers string, topics map[string]int32) (string, func(), error) {
	if brokers != "" {
		if err := EnsureTopics(brokers, topics); err != nil {
			return "", nil, err
		}
		return brokers, func() {}, nil
	}
	c, err := kafkatest.Start(kafkatest.Config{Topics: topics})
	if err != nil {
		return "", nil, err
	}
	return c.Bootstrap(), c.Close, nil
}

// EnsureTopics creates the topics that do not exist yet.
func EnsureTopics(brokers string, topics map[string]int32) error {
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers, "log_level": 3})
	if err != nil {
		return err
	}
	defer admin.Close()
	var specs []kafka.TopicSpecification
	for t, n := range topics {
		specs = append(specs, kafka.TopicSpecification{Topic: t, NumPartitions: int(n), ReplicationFactor: -1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, specs)
	if err != nil {
		return fmt.Errorf("create topics on %s: %w", brokers, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Error)
		}
	}
	return nil
}

// Record is one input record.
type Record struct {
	Key, Value []byte
	Time       time.Time
}

// Produce writes records to topic and waits until all are acknowledged.
func Produce(brokers, topic string, recs []Record) error {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": brokers, "partitioner": "murmur2_random",
		"go.logs.channel.enable": false, "log_level": 3, "linger.ms": 5})
	if err != nil {
		return err
	}
	defer p.Close()
	for _, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key: r.Key, Value: r.Value, Timestamp: r.Time}
		if err := p.Produce(m, nil); err != nil {
			return err
		}
	}
	for delivered := 0; delivered < len(recs); {
		select {
		case e := <-p.Events():
			if m, ok := e.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil {
					return m.TopicPartition.Error
				}
				delivered++
			}
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%d of %d records not acknowledged", len(recs)-delivered, len(recs))
		}
	}
	return nil
}

// Read reads topics from the beginning (committed data only) and calls fn
// for each record until fn returns true or the timeout passes.
func Read(brokers string, topics []string, timeout time.Duration, fn func(topic string, key, value []byte) bool) error {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": fmt.Sprintf("demo-reader-%d", time.Now().UnixNano()),
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "isolation.level": "read_committed",
		"go.logs.channel.enable": false, "log_level": 3})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SubscribeTopics(topics, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, ok := c.Poll(100).(*kafka.Message); ok {
			if fn(*m.TopicPartition.Topic, m.Key, m.Value) {
				return nil
			}
		}
	}
	return fmt.Errorf("expected output did not arrive within %v", timeout)
}
