package streams

import (
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
)

// Incremental rebalancing (Config.GroupProtocol = ConsumerProtocol,
// KIP-848).
//
// The rebalance callback hands over only the partitions added or revoked,
// and the App applies exactly those with IncrementalAssign and
// IncrementalUnassign; the tasks whose partitions do not move keep
// processing through the rebalance.
//
// Revocation: every running task commits (under exactly-once one
// transaction holds all of them, so a commit is all or nothing), the
// revoked tasks close cleanly, and the others go on. When the assignment
// was lost (the member was fenced: its partitions may already be someone
// else's) nothing is committed: the revoked tasks close dirty; under
// exactly-once the open transaction holds their writes, so it is aborted
// and the remaining tasks start over from the last commit.
//
// Assignment: a task starts only once every one of its co-partitioned
// input partitions is assigned; until then the partitions it has are
// paused, and the App logs which are missing.

// incremental reports whether the App runs the consumer protocol.
func (th *thread) incremental() bool { return th.cfg.GroupProtocol == ConsumerProtocol }

// rebalanceIncremental is the rebalance callback under the consumer
// protocol.
func (th *thread) rebalanceIncremental(c *kafka.Consumer, ev kafka.Event) error {
	start := time.Now()
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		th.joined = true
		if !th.routeToReader(e.Partitions) {
			return nil
		}
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			th.fatal = fmt.Errorf("streams: incremental assign: %w", err)
			return nil
		}
		th.assignment = append(th.assignment, e.Partitions...)
		before := len(th.tasks.runners)
		th.assignedIncrementally()
		th.a.m.rebalanced(Assigned, len(e.Partitions), len(th.tasks.runners)-before, time.Since(start))
		// librdkafka paused the whole assignment for the callback.
		th.fetch.waker.wake(slices.Clone(th.assignment))
	case kafka.RevokedPartitions:
		lost := c.AssignmentLost()
		before := len(th.tasks.runners)
		th.revokedIncrementally(e.Partitions, lost)
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			th.logger.Warn("incremental unassign", zap.Error(err))
		}
		th.fetch.waker.wake(slices.Clone(th.assignment))
		th.a.m.rebalanced(Revoked, len(e.Partitions), before-len(th.tasks.runners), time.Since(start))
	}
	return nil
}

// tasksOf groups partitions by the task that reads them.
func (th *thread) tasksOf(parts []kafka.TopicPartition) map[processor.TaskID][]kafka.TopicPartition {
	byTask := map[processor.TaskID][]kafka.TopicPartition{}
	for _, p := range parts {
		sub, ok := th.a.topo.SubtopologyOf(*p.Topic)
		if !ok {
			continue
		}
		id := processor.TaskID{Subtopology: sub, Partition: p.Partition}
		byTask[id] = append(byTask[id], p)
	}
	return byTask
}

// assignedIncrementally creates the tasks whose input partitions are now
// all assigned, and pauses the partitions of tasks still missing some.
func (th *thread) assignedIncrementally() {
	byTask := th.tasksOf(th.assignment)
	var ready []processor.TaskID
	var waiting []kafka.TopicPartition
	var missing []string
	for id, parts := range byTask {
		if _, ok := th.tasks.runners[id]; ok {
			continue
		}
		need := th.a.topo.Subtopologies()[id.Subtopology].SourceTopics
		if len(parts) < len(need) {
			waiting = append(waiting, parts...)
			missing = append(missing, id.String())
			continue
		}
		ready = append(ready, id)
	}
	slices.SortFunc(ready, processor.TaskID.Compare)
	if len(waiting) > 0 {
		if err := th.cons.Pause(waiting); err != nil {
			th.logger.Warn("pause", zap.Error(err))
		}
		slices.Sort(missing)
		th.logger.Info("tasks wait for the rest of their co-partitioned partitions", zap.Strings("tasks", missing))
	}
	if len(ready) > 0 {
		var parts []kafka.TopicPartition
		for _, id := range ready {
			parts = append(parts, byTask[id]...)
		}
		committed, err := th.cons.Committed(parts, int(th.cfg.StartupTimeout.Milliseconds()))
		if err != nil {
			th.fatal = fmt.Errorf("streams: read committed offsets: %w", err)
			return
		}
		byReady := th.tasksOf(committed)
		th.standbys.release(ready) // standby.go: promotion, before the active opens the directory
		var pause []kafka.TopicPartition
		for _, id := range ready {
			r, err := th.tasks.create(id, byReady[id], false)
			if err != nil {
				th.fatal = err
				return
			}
			th.tasks.runners[id] = r
			pause = append(pause, th.fetch.add(r)...)
		}
		if len(pause) > 0 {
			if err := th.cons.Pause(pause); err != nil {
				th.logger.Warn("pause", zap.Error(err))
			}
		}
		th.logger.Info("partitions assigned", zap.Int("tasks", len(ready)), zap.Int("running_or_restoring", len(th.tasks.runners)))
	}
	th.queriesAssigned(th.taskIDs())
	th.refreshPlacement()
	th.reconcileStandbys() // standby.go
}

// revokedIncrementally commits every task and closes those the revoked
// partitions belong to; see the file's comment.
func (th *thread) revokedIncrementally(parts []kafka.TopicPartition, lost bool) {
	revoked := map[topicPartition]bool{}
	for _, p := range parts {
		revoked[topicPartition{*p.Topic, p.Partition}] = true
	}
	th.assignment = slices.DeleteFunc(th.assignment, func(p kafka.TopicPartition) bool {
		return revoked[topicPartition{*p.Topic, p.Partition}]
	})
	var ids []processor.TaskID
	for id := range th.tasksOf(parts) {
		if _, ok := th.tasks.runners[id]; ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	if len(ids) == 0 {
		return
	}
	th.a.setState(Rebalancing)
	deadline := time.Now().Add(th.cfg.CloseTimeout)
	for _, id := range ids {
		th.fetch.remove(th.tasks.runners[id])
		th.a.unregister(id)
	}
	if lost {
		th.logger.Warn("assignment lost (this member was fenced): closing its tasks without a commit",
			zap.Stringers("tasks", ids))
		if th.eos {
			// Their writes are in the open transaction, with the other
			// tasks': abort it, and start the others over.
			if err := th.recoverFromAbort(fmt.Errorf("streams: assignment of %v lost", ids)); err != nil {
				th.fatal = err
			}
			return
		}
		th.tasks.closeSome(ids, false, lateDeadline(deadline), deadline, th.awaitLate)
		th.queriesAssigned(th.taskIDs())
		return
	}
	th.held = nil
	if err := th.commitAll(true, lateDeadline(deadline)); err != nil {
		if th.eos && isTxnFailure(err) {
			// Every task closes dirty and the others start over.
			if err := th.recoverTxn(err); err != nil {
				th.fatal = err
			}
			return
		}
		th.fatal = err
		return
	}
	// Held since the commit, the revoked tasks close cleanly.
	th.tasks.closeSome(ids, true, lateDeadline(deadline), deadline, th.awaitLate)
	// The tasks that stay go on.
	for _, r := range th.held {
		if _, gone := th.tasks.runners[r.id]; !gone || !r.started {
			continue
		}
		r.send(control{})
	}
	th.held = nil
	th.queriesAssigned(th.taskIDs())
	th.logger.Info("partitions revoked", zap.Int("partitions", len(parts)), zap.Int("tasks_closed", len(ids)),
		zap.Int("tasks_running", len(th.tasks.runners)))
}

// taskIDs returns the ids of the instance's tasks, sorted.
func (th *thread) taskIDs() []processor.TaskID {
	ids := make([]processor.TaskID, 0, len(th.tasks.runners))
	for id := range th.tasks.runners {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	return ids
}

// rewind makes the consumer fetch the assignment from the group's
// committed offsets again (after a transaction was aborted). Under the
// consumer protocol a whole assignment cannot be replaced (Assign fails
// while the protocol is cooperative): each partition is sought to its
// committed offset instead, or where auto.offset.reset puts a partition
// with none.
func (th *thread) rewind(assigned []kafka.TopicPartition) error {
	if !th.incremental() {
		return th.cons.Assign(assigned)
	}
	if len(assigned) == 0 {
		return nil
	}
	committed, err := th.cons.Committed(assigned, int(th.cfg.StartupTimeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("read committed offsets: %w", err)
	}
	reset := kafka.OffsetBeginning
	if v, ok := th.cfg.ConsumerConfig["auto.offset.reset"]; ok && (v == "latest" || v == "largest" || v == "end") {
		reset = kafka.OffsetEnd
	}
	for i := range committed {
		if committed[i].Offset < 0 {
			committed[i].Offset = reset
		}
	}
	done, err := th.cons.SeekPartitions(committed)
	if err != nil {
		return fmt.Errorf("seek to committed offsets: %w", err)
	}
	if failed := failedPartitions(done); len(failed) > 0 {
		return fmt.Errorf("seek to committed offsets: %v", failed)
	}
	return nil
}

// warnIncrementalEOS says, at start, what exactly-once costs under the
// consumer protocol on brokers without KIP-1251.
func (th *thread) warnIncrementalEOS() {
	if th.incremental() && th.eos {
		th.logger.Warn("exactly-once with the consumer group protocol: on a broker without KIP-1251 a transaction " +
			"whose offsets meet a group epoch that moved while it was open is aborted, and the tasks start over from " +
			"the last commit with their stores restored (outputs stay exactly once)")
	}
}
