package streams

import (
	"fmt"
	"maps"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
)

// The restorer's side of standby tasks (standby.go): Kafka Streams'
// "updating" changelog partitions. A standby's restoration is begun like an
// active's and fed by the same reads, but it never completes: its stores
// follow their changelogs for as long as the standby is open.
//
// Invariants:
//   - A checkpoint never claims more than the flushed stores hold: the
//     stores' pending write batches are written, the stores flushed to
//     disk, and only then the consumer's positions (every record before
//     them was handed to record, on this goroutine) written as the
//     checkpoint.
//   - While any active task restores, every standby partition is paused
//     (prioritize), and resumed once none does; a standby added meanwhile
//     is begun (its end offsets queried) only after: standbys never delay
//     an active task's start.
//   - Everything here runs on the restorer's goroutine, which alone
//     touches a standby's stores and task directory while it is open.

// standbyFeed is what the restorer keeps of a standby task.
type standbyFeed struct {
	dir    *statedir.TaskDir
	stores []store.StateStore
	// keep are the checkpoint entries of stores the standby does not
	// feed (a store restored from a source topic, an in-memory store):
	// every checkpoint it writes carries them over unchanged, as their
	// stores are.
	keep map[statedir.TopicPartition]int64
	// lastCheckpoint is the position of each changelog partition as last
	// checkpointed (or read from the checkpoint at open).
	lastCheckpoint map[topicPartition]int64
}

// begun notes where the standby starts from.
func (f *standbyFeed) begun(x *restoration) {
	if f.lastCheckpoint == nil {
		f.lastCheckpoint = map[topicPartition]int64{}
	}
	for _, p := range x.parts {
		if p.fromCheckpoint {
			f.lastCheckpoint[p.tp] = p.start
		}
	}
}

// standbyPositions writes the standby's pending batches into its stores
// and returns, per changelog partition, the offset they hold everything
// before: the consumer's position, or the start for a partition not
// fetched yet.
func (r *restorer) standbyPositions(x *restoration) (map[topicPartition]int64, error) {
	tps := make([]kafka.TopicPartition, 0, len(x.parts))
	for _, p := range x.parts {
		if err := r.flush(x, p); err != nil {
			return nil, err
		}
		t := p.tp.topic
		tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: p.tp.partition})
	}
	pos, err := r.cons.Position(tps)
	if err != nil {
		return nil, fmt.Errorf("streams: standby task %s: changelog positions: %w", x.id, err)
	}
	out := make(map[topicPartition]int64, len(x.parts))
	for _, p := range x.parts {
		out[p.tp] = p.start
	}
	for _, tp := range pos {
		k := topicPartition{*tp.Topic, tp.Partition}
		if o := int64(tp.Offset); o >= 0 && o > out[k] {
			out[k] = o
		}
	}
	return out, nil
}

// checkpointStandby flushes a standby's stores and writes its positions as
// its checkpoint, when they moved checkpointDelta offsets since the last
// one, or always (force).
func (r *restorer) checkpointStandby(x *restoration, force bool) error {
	pos, err := r.standbyPositions(x)
	if err != nil {
		return err
	}
	var delta int64
	for tp, o := range pos {
		delta += o - x.sb.lastCheckpoint[tp]
	}
	if delta == 0 || (!force && delta < checkpointDelta) {
		return nil
	}
	for _, s := range x.sb.stores {
		if err := store.FlushToDisk(s); err != nil {
			return fmt.Errorf("streams: standby task %s: flush store %q to disk: %w", x.id, s.Name(), err)
		}
	}
	cp := maps.Clone(x.sb.keep)
	if cp == nil {
		cp = map[statedir.TopicPartition]int64{}
	}
	for tp, o := range pos {
		cp[statedir.TopicPartition{Topic: tp.topic, Partition: tp.partition}] = o
	}
	if err := x.sb.dir.WriteCheckpoint(cp); err != nil {
		return fmt.Errorf("streams: standby task %s: %w", x.id, err)
	}
	x.sb.lastCheckpoint = pos
	r.metrics.standbyCheckpointed(x.id)
	return nil
}

// checkpointStandbys is the commit tick: every standby checkpoints if
// enough changed. A failure is logged; the standby keeps its previous
// checkpoint and tries again at the next tick.
func (r *restorer) checkpointStandbys(force bool) {
	for _, x := range r.active {
		if x.sb == nil || !x.assigned {
			continue
		}
		if err := r.checkpointStandby(x, force); err != nil {
			r.logger.Warn("standby checkpoint", zap.Stringer("task", x.id), zap.Error(err))
		}
	}
}

// closeStandby stops feeding a standby, checkpointing it first when clean.
// A standby never assigned yet has read nothing: its checkpoint stands.
func (r *restorer) closeStandby(x *restoration, clean bool) {
	if clean && x.assigned {
		if err := r.checkpointStandby(x, true); err != nil {
			r.logger.Warn("standby checkpoint at close", zap.Stringer("task", x.id), zap.Error(err))
		}
	}
	r.unassign(x)
	r.forget(x)
}

// rebuildStandby ends a standby whose changelog no longer matches its
// state (an offset before its position, or a partition error) and asks
// the runtime to wipe and rebuild it.
func (r *restorer) rebuildStandby(x *restoration, p *restorePart, offset int64, err error) {
	reason := fmt.Sprintf("store %q: changelog %s-%d went back to offset %d (position was %d, start %d)",
		p.store, p.tp.topic, p.tp.partition, offset, p.last+1, p.start)
	if err != nil {
		reason = fmt.Sprintf("store %q: changelog %s-%d: %v", p.store, p.tp.topic, p.tp.partition, err)
	}
	r.unassign(x)
	r.forget(x)
	clear(p.batch)
	p.batch = p.batch[:0]
	r.deliver(restoreResult{id: x.id, standby: true, wipe: storesOf(x), reason: reason})
}

// updateStandbys writes what the standbys read into their stores and
// reports their lag: the end offsets (as last fetched, or as taken at
// begin) less their positions.
func (r *restorer) updateStandbys() {
	for _, x := range r.active {
		if x.sb == nil || !x.assigned {
			continue
		}
		pos, err := r.standbyPositions(x)
		if err != nil {
			r.fail(x, err)
			continue
		}
		var lag int64
		for _, p := range x.parts {
			if _, high, err := r.cons.GetWatermarkOffsets(p.tp.topic, p.tp.partition); err == nil && high > p.end {
				p.end = high
			}
			lag += max(p.end-pos[p.tp], 0)
		}
		r.metrics.standbyLag(x.id, lag)
	}
}

// restoring reports whether an active task restores.
func (r *restorer) restoring() bool {
	for _, x := range r.active {
		if x.sb == nil {
			return true
		}
	}
	return false
}

// beginWaiting begins the standbys added while active tasks restored, once
// none does.
func (r *restorer) beginWaiting() {
	if len(r.waiting) == 0 || r.restoring() {
		return
	}
	waiting := r.waiting
	r.waiting = nil
	for _, x := range waiting {
		r.begin(x)
	}
}

// prioritize pauses every standby partition while an active task restores
// and resumes them once none does.
func (r *restorer) prioritize() {
	restoring := r.restoring()
	var flip []kafka.TopicPartition
	for _, x := range r.active {
		if x.sb == nil || !x.assigned {
			continue
		}
		for _, p := range x.parts {
			if r.paused[p.tp] != restoring {
				t := p.tp.topic
				flip = append(flip, kafka.TopicPartition{Topic: &t, Partition: p.tp.partition})
				if restoring {
					r.paused[p.tp] = true
				} else {
					delete(r.paused, p.tp)
				}
			}
		}
	}
	if len(flip) == 0 {
		return
	}
	var err error
	if restoring {
		err = r.cons.Pause(flip)
	} else {
		err = r.cons.Resume(flip)
	}
	if err != nil {
		r.logger.Warn("pause or resume standby changelogs", zap.Bool("pause", restoring), zap.Error(err))
	}
}
