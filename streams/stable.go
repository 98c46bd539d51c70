package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
)

// Restoring under exactly-once past open transactions.
//
// The restore consumer reads changelogs read_committed, so a changelog's
// end for it is its last stable offset (LSO): the first record of the
// oldest transaction still open on it. A crashed instance's transaction
// stays open until the broker aborts it (its transaction.timeout.ms) or
// the instance comes back, and while it does, the LSO stays where that
// transaction began, although the task's next owner may have committed
// records after it since. Restoring only up to the LSO then misses those
// committed records while the input offsets committed with them say they
// were counted: the store is behind its offsets, and a count goes down.
// (The crash suite's eos-memory-static scenario found this: an instance
// took over a task whose previous owner had died inside a transaction,
// committed, and died too; its next incarnation restored up to the dead
// owner's open transaction and processed on from its own commit.)
//
// So a changelog whose high watermark is above its LSO when its
// restoration begins is restored until its LSO reaches that high
// watermark: every transaction open at the start has then ended, and all
// that was committed before the restoration began is readable. Records
// written after the start are not waited for: only the task's owner
// writes its changelogs, and that is this instance, which has not
// started it yet (a zombie's late writes are aborted, as its commit is
// fenced). The wait is bounded by the open transaction's timeout; it is
// logged when it begins and when it ends.

// stableRecheck is how often a part waiting for an open transaction asks
// for its changelog's LSO again.
const stableRecheck = 100 * time.Millisecond

// findStable sets stable on the parts of x whose changelog has an open
// transaction below its high watermark, p.end being already the LSO
// (exactly-once active restorations only: a standby never ends, so it has
// nothing to wait for). One request lists every changelog's watermark.
func (r *restorer) findStable(x *restoration) error {
	if !r.eos || r.admin == nil || x.sb != nil {
		return nil
	}
	specs := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for _, p := range x.parts {
		if !p.source {
			t := p.tp.topic
			specs[kafka.TopicPartition{Topic: &t, Partition: p.tp.partition}] = kafka.LatestOffsetSpec
		}
	}
	if len(specs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := r.admin.ListOffsets(ctx, specs, kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadUncommitted))
	if err != nil {
		return fmt.Errorf("streams: task %s: high watermarks of its changelogs: %w", x.id, err)
	}
	hwm := make(map[topicPartition]int64, len(res.ResultInfos))
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("streams: task %s: high watermark of %s-%d: %w", x.id, *tp.Topic, tp.Partition, info.Error)
		}
		hwm[topicPartition{*tp.Topic, tp.Partition}] = int64(info.Offset)
	}
	for _, p := range x.parts {
		if h, ok := hwm[p.tp]; ok && !p.source && h > p.end {
			p.stable, p.checked = h, time.Now()
			r.logger.Info("changelog has an open transaction: restoring up to where it ends",
				zap.Stringer("task", x.id), zap.String("changelog", fmt.Sprintf("%s-%d", p.tp.topic, p.tp.partition)),
				zap.Int64("last_stable_offset", p.end), zap.Int64("high_watermark", h))
		}
	}
	return nil
}

// stableReached reports whether p, read up to its end, may be done: no
// transaction open when its restoration began still hides records. While
// one does, it asks for the LSO again every stableRecheck and moves p.end
// up to it; once p.end reaches p.stable, the part reads on to that end
// before it is done.
func (r *restorer) stableReached(x *restoration, p *restorePart) bool {
	if p.stable <= p.end {
		return true
	}
	if time.Since(p.checked) < stableRecheck {
		return false
	}
	p.checked = time.Now()
	_, lso, err := r.cons.QueryWatermarkOffsets(p.tp.topic, p.tp.partition, 5_000)
	if err != nil {
		r.logger.Warn("last stable offset of changelog", zap.Stringer("task", x.id),
			zap.String("changelog", fmt.Sprintf("%s-%d", p.tp.topic, p.tp.partition)), zap.Error(err))
		return false
	}
	p.end = max(p.end, lso)
	if p.stable <= p.end {
		r.logger.Info("changelog's open transaction ended", zap.Stringer("task", x.id),
			zap.String("changelog", fmt.Sprintf("%s-%d", p.tp.topic, p.tp.partition)), zap.Int64("end", p.end))
	}
	return false
}
