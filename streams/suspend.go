package streams

import (
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
)

// Tasks kept across a rebalance (Kafka Streams' suspended tasks).
//
// With the eager protocol every rebalance revokes every partition. A task
// that took part in the final commit of the revocation is suspended, not
// closed: its processors close and its buffered input is dropped, but its
// stores stay open and its directory stays locked. When the next
// assignment gives the task back, it resumes: its processors initialize
// again and it consumes from the group's committed offsets, which are
// exactly what its state reflects, so nothing is reopened and nothing is
// restored. A task not given back is closed cleanly (with a checkpoint).
//
// A task resumes only if the group's committed offsets of its inputs are
// the ones its last commit wrote (or it started from, for an input it
// consumed nothing of). Otherwise another instance processed it meanwhile
// (an assignment this instance was not part of), or the offset commit
// failed: the task is closed and created again, restoring what changed
// from its checkpoint. A resumed task's stores are also read forward from
// where they are to their changelogs' ends, through the restorer: that
// reads nothing when no one else wrote them, and applies what another
// owner wrote if one did (a punctuator's writes move no input offset).
//
// A suspended task's stores are flushed to disk and checkpointed, so an
// instance that crashes while its tasks are suspended restores only what
// it missed; under exactly-once the checkpoint is deleted again when the
// task resumes (a crash while it runs must wipe its stores, as always).
//
// A task still restoring when its partitions are revoked keeps restoring;
// if the next assignment gives it back from the same committed offsets it
// goes on, otherwise it is closed.

// suspendRequest asks a task goroutine to suspend the task and exit,
// leaving its stores open. checkpoint: the changelog offsets its stores
// reflect, written as its checkpoint once they are flushed to disk (nil
// for a task without persistent logged stores).
type suspendRequest struct {
	checkpoint map[topicPartition]int64
	reply      chan<- error
}

// suspend runs on the task's goroutine: processors closed, buffered
// records dropped, stores open, and flushed to disk and checkpointed (as
// Kafka Streams checkpoints at a revocation): an instance that crashes
// before the next assignment restores only what it missed, under
// exactly-once too. What the processors' Close sent goes to the producer
// as a close's would.
func (r *runner) suspend(checkpoint map[topicPartition]int64) error {
	err := r.task.Suspend()
	if ferr := r.col.flushBatch(); ferr != nil && err == nil {
		err = ferr
	}
	if err == nil && checkpoint != nil {
		err = r.checkpoint(checkpoint)
	}
	r.task.PublishMetrics(time.Now())
	return err
}

// revokeTasks suspends the tasks that took part in the revocation's final
// commit (clean), leaves those still restoring to their restoration, and
// closes the rest: all of them when the commit failed. Tasks late for a
// commit get until lateDeadline(deadline), the others until deadline.
func (th *thread) revokeTasks(clean bool, deadline time.Time) {
	if !clean {
		th.closeTasks(false, deadline)
		return
	}
	var closeIDs []processor.TaskID
	type suspending struct {
		r     *runner
		reply chan error
	}
	var sent []suspending
	for _, r := range th.tasks.started() {
		if r.pending != nil || !r.inFinalCommit {
			closeIDs = append(closeIDs, r.id)
			continue
		}
		th.a.unregister(r.id)
		reply := make(chan error, 1)
		var cp map[topicPartition]int64
		if r.hasPersistent {
			cp = r.changelogPositions(th.prod)
			r.lastCheckpoint = cp
		}
		r.send(control{suspend: &suspendRequest{checkpoint: cp, reply: reply}})
		sent = append(sent, suspending{r, reply})
	}
	for _, s := range sent {
		select {
		case err := <-s.reply:
			<-s.r.done
			if err != nil {
				// Its processors' Close failed: the task is closed, not
				// kept (a clean close: its stores are at the commit).
				th.logger.Warn("suspending task; closing it instead", zap.Stringer("task", s.r.id), zap.Error(err))
				closeIDs = append(closeIDs, s.r.id)
				s.r.started = false
				s.r.suspended = true // its goroutine is gone: close it directly
				continue
			}
			s.r.started, s.r.suspended = false, true
		case <-time.After(time.Until(deadline)):
			th.tasks.abandon(s.r, "did not suspend before the close deadline")
			th.tasks.forget(s.r.id)
		}
	}
	if len(closeIDs) > 0 {
		th.tasks.closeSome(closeIDs, true, lateDeadline(deadline), deadline, th.awaitLate)
	}
	th.late = nil
	th.fetch.clear()
}

// keepOrClose decides, for a new assignment, what becomes of the tasks
// kept since the revocation: those assigned again from the offsets their
// state reflects are returned, to be resumed (suspended) or to go on
// restoring; every other kept task is closed cleanly.
func (tm *taskManager) keepOrClose(byTask map[processor.TaskID][]kafka.TopicPartition, deadline time.Time,
	awaitLate func(*runner, time.Time) bool) map[processor.TaskID]*runner {
	kept := map[processor.TaskID]*runner{}
	var closeIDs []processor.TaskID
	for id, r := range tm.runners {
		committed, ok := byTask[id]
		switch {
		case !ok:
			closeIDs = append(closeIDs, id)
		case !r.atOffsets(committed):
			tm.logger.Info("task assigned again, but its inputs' committed offsets moved since this instance "+
				"committed them: closing and reopening it",
				zap.Stringer("task", id), zap.String("state_at", r.expectString()), zap.String("committed", offsetsString(committed)))
			closeIDs = append(closeIDs, id)
		default:
			kept[id] = r
		}
	}
	slices.SortFunc(closeIDs, processor.TaskID.Compare)
	if len(closeIDs) > 0 {
		tm.closeSome(closeIDs, true, deadline, deadline, awaitLate)
	}
	return kept
}

// resume makes a new runner for a suspended task assigned again, and
// hands its stores to the restorer to be read forward from where they are
// (nothing, unless another owner wrote their changelogs).
func (tm *taskManager) resume(old *runner, committed []kafka.TopicPartition) (*runner, error) {
	if tm.eos && old.hasPersistent {
		// From now until a clean close, a crash must make the next start
		// wipe: the stores are about to hold writes of open transactions.
		if err := old.dir.DeleteCheckpoint(); err != nil {
			return nil, fmt.Errorf("streams: resume task %s: %w", old.id, err)
		}
	}
	if err := old.task.Resume(); err != nil {
		return nil, fmt.Errorf("streams: resume task %s: %w", old.id, err)
	}
	pos := old.changelogPositions(tm.prod)
	r := &runner{id: old.id, task: old.task, dir: old.dir, col: old.col, in: newInputQueue(), ctrl: make(chan control, 1),
		failures: tm.failures, done: make(chan struct{}), abandoned: make(chan struct{}), logger: tm.logger,
		metrics: tm.a.m, inputs: old.inputs, changelogs: old.changelogs, sources: old.sources,
		sourceCommitted: old.sourceCommitted, committed: committed, restoredTo: old.restoredTo,
		hasPersistent: old.hasPersistent, lastCheckpoint: old.lastCheckpoint, expect: old.expect, stores: old.stores}
	r.initProcessed(committed)
	tm.a.m.taskResumed(r.id)
	x := &restoration{id: r.id}
	for _, sp := range r.stores {
		st, _ := r.task.Store(sp.store)
		target, _ := store.RestoreTarget(st) // create checked it has one
		start, ok := pos[sp.tp]
		if !ok {
			start = int64(kafka.OffsetBeginning)
		}
		p := &restorePart{tp: sp.tp, store: sp.store, target: target, start: start, fromCheckpoint: ok}
		if sp.source {
			p.source, p.convert, p.committed = true, sp.convert, -1
			for _, c := range committed {
				if *c.Topic == sp.tp.topic && c.Partition == sp.tp.partition && c.Offset >= 0 {
					p.committed = int64(c.Offset)
				}
			}
		}
		x.parts = append(x.parts, p)
	}
	if len(x.parts) == 0 {
		if err := tm.start(r); err != nil {
			return nil, err
		}
		return r, nil
	}
	tm.rest.add(x)
	return r, nil
}

// atOffsets reports whether the group's committed offsets of the task's
// inputs are those its state reflects.
func (r *runner) atOffsets(committed []kafka.TopicPartition) bool {
	if len(committed) != len(r.inputs) {
		return false
	}
	for _, c := range committed {
		got := int64(-1)
		if c.Offset >= 0 {
			got = int64(c.Offset)
		}
		want, ok := r.expect[topicPartition{*c.Topic, c.Partition}]
		if !ok {
			want = -1
		}
		if got != want {
			return false
		}
	}
	return true
}

// noteExpected records the committed offsets the task's state reflects.
func (r *runner) noteExpected(committed []kafka.TopicPartition) {
	r.expect = make(map[topicPartition]int64, len(committed))
	for _, c := range committed {
		if c.Offset >= 0 {
			r.expect[topicPartition{*c.Topic, c.Partition}] = int64(c.Offset)
		}
	}
}

func (r *runner) expectString() string {
	var parts []kafka.TopicPartition
	for _, in := range r.inputs {
		t := in.Topic
		o := kafka.OffsetInvalid
		if e, ok := r.expect[topicPartition{in.Topic, in.Partition}]; ok {
			o = kafka.Offset(e)
		}
		parts = append(parts, kafka.TopicPartition{Topic: &t, Partition: in.Partition, Offset: o})
	}
	return offsetsString(parts)
}

func offsetsString(parts []kafka.TopicPartition) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += ", "
		}
		o := "none"
		if p.Offset >= 0 {
			o = fmt.Sprint(int64(p.Offset))
		}
		s += fmt.Sprintf("%s-%d@%s", *p.Topic, p.Partition, o)
	}
	return s
}
