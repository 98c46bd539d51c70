package streams

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
)

// sourceCheckInterval is how often the App checks that its source topics
// still exist, besides whenever the consumer or a commit suggests one is
// gone.
const sourceCheckInterval = 10 * time.Second

// sourceWatch notices a source (or global-store) topic deleted while the
// App runs: librdkafka only warns about it, and the App would otherwise
// stay RUNNING with nothing to read, forever.
type sourceWatch struct {
	cons      *kafka.Consumer
	topics    []string
	logger    *zap.Logger
	last      time.Time
	suspected bool
}

// suspect asks for a check at the next pass (an unknown-topic error, a
// failed offset commit).
func (w *sourceWatch) suspect() { w.suspected = true }

// check returns an error naming a watched topic the cluster says does not
// exist. Errors that do not say so (a timeout) are not taken as an answer.
func (w *sourceWatch) check() error {
	if !w.suspected && time.Since(w.last) < sourceCheckInterval {
		return nil
	}
	w.suspected, w.last = false, time.Now()
	for _, topic := range w.topics {
		md, err := w.cons.GetMetadata(&topic, false, 2_000)
		if err != nil {
			w.logger.Debug("source topic check", zap.String("topic", topic), zap.Error(err))
			continue
		}
		t, ok := md.Topics[topic]
		if !ok {
			continue
		}
		if code := t.Error.Code(); code == kafka.ErrUnknownTopicOrPart || code == kafka.ErrUnknownTopic {
			return fmt.Errorf("%w: %q was deleted while the App was running (%v)", ErrMissingSourceTopic, topic, t.Error)
		}
	}
	return nil
}
