package streams

import (
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
)

func zapTopics(specs []kafka.TopicSpecification) zap.Field {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Topic
	}
	return zap.Strings("topics", names)
}
