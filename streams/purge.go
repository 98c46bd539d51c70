package streams

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
)

// purger deletes the records of internal topics declared with Purge
// (repartition topics) below the offsets the group committed, as Kafka
// Streams does every repartition.purge.interval.ms: nothing reads them
// again. The thread notes offsets after each successful commit (under
// exactly-once: after the transaction committed), which costs a mutex and
// a map update per committed partition, off the per-record path; one
// goroutine of its own makes the admin calls, at most one per
// Config.RepartitionPurgeInterval and each bounded by a timeout, so the
// poll loop never waits on the broker for a purge. A failed purge is
// logged and counted, never fatal: the records stay until the next purge
// (or retention) removes them.
type purger struct {
	admin    *kafka.AdminClient
	closeFn  func()
	logger   *zap.Logger
	metrics  *metrics
	interval time.Duration
	topics   map[string]bool // purgeable internal topics (as run)

	mu     sync.Mutex
	noted  map[topicPartition]int64 // committed offsets not yet purged up to
	purged map[topicPartition]int64 // owned by run
	// ctx ends at close, cancelling an admin call under way.
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.Once
}

// purgeTopics returns the internal topics of topo whose records may be
// purged.
func purgeTopics(topo *processor.Topology) map[string]bool {
	out := map[string]bool{}
	for _, it := range topo.InternalTopics() {
		if it.Purge {
			out[it.Name] = true
		}
	}
	return out
}

// newPurger starts the purge goroutine; it returns nil when topo has no
// topic to purge.
func newPurger(cl *clients, topo *processor.Topology, m *metrics) (*purger, error) {
	topics := purgeTopics(topo)
	if len(topics) == 0 {
		return nil, nil
	}
	admin, closeFn, err := cl.admin()
	if err != nil {
		return nil, err
	}
	p := &purger{admin: admin, closeFn: closeFn, logger: cl.cfg.Logger, metrics: m, interval: cl.cfg.RepartitionPurgeInterval,
		topics: topics, noted: map[topicPartition]int64{}, purged: map[topicPartition]int64{}, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// committed notes offsets the group committed; those of purgeable topics
// are purged below at the next purge. Safe on a nil purger.
func (p *purger) committed(offsets []kafka.TopicPartition) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range offsets {
		if o.Topic == nil || !p.topics[*o.Topic] || o.Error != nil || o.Offset < 0 {
			continue
		}
		tp := topicPartition{*o.Topic, o.Partition}
		if int64(o.Offset) > p.noted[tp] {
			p.noted[tp] = int64(o.Offset)
		}
	}
}

// close stops the goroutine, waits for it (an admin call under way ends
// within its timeout, or at once as its context is cancelled) and closes
// the admin client. Safe on a nil purger, and idempotent.
func (p *purger) close() {
	if p == nil {
		return
	}
	p.stopped.Do(func() {
		p.cancel()
		<-p.done
		p.closeFn()
	})
}

func (p *purger) run() {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
			p.purge()
		}
	}
}

// purgeTimeout bounds one DeleteRecords call.
const purgeTimeout = 30 * time.Second

// purge deletes records below the offsets noted since the last purge.
func (p *purger) purge() {
	p.mu.Lock()
	var req []kafka.TopicPartition
	for tp, o := range p.noted {
		if o > p.purged[tp] {
			t := tp.topic
			req = append(req, kafka.TopicPartition{Topic: &t, Partition: tp.partition, Offset: kafka.Offset(o)})
		}
	}
	p.mu.Unlock()
	if len(req) == 0 {
		return
	}
	slices.SortFunc(req, func(a, b kafka.TopicPartition) int {
		if *a.Topic != *b.Topic {
			if *a.Topic < *b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	timeout := min(purgeTimeout, max(p.interval, time.Second))
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	res, err := p.admin.DeleteRecords(ctx, req, kafka.SetAdminRequestTimeout(timeout))
	if err != nil {
		p.metrics.purgeFailed(len(req))
		p.logger.Warn("purging committed records of internal topics failed; retrying at the next purge",
			zap.Int("partitions", len(req)), zap.Error(err))
		return
	}
	failed := 0
	for _, r := range res.DeleteRecordsResults {
		tp := r.TopicPartition
		if tp.Error != nil {
			failed++
			p.logger.Warn("purging committed records of an internal topic failed; retrying at the next purge",
				zap.String("topic", *tp.Topic), zap.Int32("partition", tp.Partition), zap.Int64("offset", int64(tp.Offset)), zap.Error(tp.Error))
			continue
		}
		for _, q := range req {
			if *q.Topic == *tp.Topic && q.Partition == tp.Partition {
				p.purged[topicPartition{*q.Topic, q.Partition}] = int64(q.Offset)
			}
		}
	}
	p.metrics.purged(len(req)-failed, failed)
}
