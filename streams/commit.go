package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/faultpoint"
	"github.com/millrace/millrace/partitiongroup"
)

// ErrTaskStuck is wrapped by the error that stops the App when a task stays
// inside one call into its processors (a record, a punctuation, a flush
// that forwards) for longer than Config.TaskTimeout.
var ErrTaskStuck = errors.New("streams: task stuck")

// checkpointDelta is how many changelog records must accumulate before an
// at-least-once commit also writes a checkpoint (Kafka Streams: 10,000).
const checkpointDelta = 10_000

// barrierWait is how long a commit waits for tasks to reach it before it
// goes on without those still inside a processor call (at-least-once), or
// checks whether they wrote into the open transaction (exactly-once). A task
// already flushing its stores for the commit is always waited for.
const barrierWait = time.Second

// commitRound is one commit barrier: the tasks asked to commit, their
// replies (room for all, so a late reply never blocks its task) and the
// channels that release them.
type commitRound struct {
	replies chan commitReply
	resumes map[*runner]chan resumeInfo
	waiting map[*runner]bool
	started time.Time
}

// commitAll commits every running task: they stop between two records,
// flush their caches and stores (writing their changelogs) and report
// their offsets; the outputs are acknowledged (or the transaction
// committed) and the offsets committed; then the tasks resume. A task
// inside a long processor call does not hold the others: under
// at-least-once the commit goes on without it (its sends wait at its gate
// while the outputs are flushed); under exactly-once too if it wrote
// nothing into the open transaction, otherwise the commit waits for it up
// to TaskTimeout. When closing (the caller closes every task next), or
// when the commit failed, the tasks do not resume: they hold until closed.
func (th *thread) commitAll(closing bool, deadline time.Time) error {
	th.lastCommit = time.Now()
	if err := th.collectLate(closing); err != nil {
		return err
	}
	var runners []*runner
	for _, r := range th.tasks.started() {
		if r.pending == nil {
			runners = append(runners, r)
		}
	}
	if len(runners) == 0 && !th.hasLate() {
		return nil
	}
	start := time.Now()
	round := &commitRound{replies: make(chan commitReply, len(runners)), resumes: make(map[*runner]chan resumeInfo, len(runners)),
		waiting: make(map[*runner]bool, len(runners)), started: start}
	for _, r := range runners {
		ch := make(chan resumeInfo, 1)
		round.resumes[r] = ch
		round.waiting[r] = true
		r.pending, r.pendingSince, r.warned = round, start, false
		r.send(control{commit: &commitRequest{reply: round.replies, resume: ch}})
	}
	replies, err := th.awaitRound(round, closing, deadline)
	late := th.lateRunners()
	release := func(info func(*runner) resumeInfo) {
		for _, rep := range replies {
			round.resumes[rep.r] <- info(rep.r)
		}
	}
	hold := func(*runner) resumeInfo { return resumeInfo{hold: true} }
	if err != nil {
		release(hold)
		return err
	}
	var offsets []kafka.TopicPartition
	var firstErr error
	for _, rep := range replies {
		if rep.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("streams: task %s: commit: %w", rep.r.id, rep.err)
		}
		for _, o := range rep.offsets {
			offsets = append(offsets, committedOffset(o))
		}
	}
	if firstErr != nil {
		release(hold)
		if th.eos && isTxnFailure(firstErr) {
			return th.recoverTxn(firstErr)
		}
		return firstErr
	}
	faultpoint.Hit(faultpoint.CommitTasksFlushed)
	// Tasks not in the barrier are inside a processor call: their sends
	// wait at their gate until the commit is done.
	gateDeadline := time.Now().Add(barrierWait)
	for _, r := range late {
		r.col.hold(gateDeadline)
	}
	defer func() {
		for _, r := range late {
			r.col.open()
		}
	}()
	if th.eos {
		for _, r := range late {
			if r.col.dirty.Load() {
				// Its writes are in the open transaction: committing would
				// commit them without its offsets.
				release(hold)
				return txnAbortable{fmt.Errorf("streams: task %s wrote into the transaction and did not reach the commit", r.id)}
			}
		}
		meta, err := th.cons.GetConsumerGroupMetadata()
		if err == nil {
			ctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(th.prod.ackTimeout())))
			err = th.prod.commitTransaction(ctx, offsets, meta, func() { faultpoint.Hit(faultpoint.CommitOffsetsSent) })
			cancel()
		}
		if err != nil {
			release(hold)
			if isTxnFailure(err) {
				return th.recoverTxn(err)
			}
			return err
		}
		for _, rep := range replies {
			rep.r.col.dirty.Store(false)
		}
		faultpoint.Hit(faultpoint.CommitDone)
		release(func(*runner) resumeInfo { return resumeInfo{hold: closing} })
	} else {
		if err := th.prod.flush(time.Until(earliest(deadline, time.Now().Add(th.prod.ackTimeout())))); err != nil {
			release(hold)
			return err
		}
		faultpoint.Hit(faultpoint.CommitOutputsAcked)
		if len(offsets) > 0 {
			if _, err := th.cons.CommitOffsets(offsets); err != nil {
				// A rebalance is under way (the next owner resumes from the
				// previous commit, reprocessing), or a source topic is gone.
				th.logger.Warn("offset commit failed", zap.Error(err))
				th.watch.suspect()
			}
		}
		faultpoint.Hit(faultpoint.CommitDone)
		release(func(r *runner) resumeInfo {
			if closing {
				return resumeInfo{hold: true} // the close writes the checkpoint
			}
			return th.checkpointDue(r)
		})
	}
	th.a.m.observeCommit(time.Since(start))
	return nil
}

// checkpointDue asks a task to checkpoint once enough changelog records
// accumulated since its last checkpoint (at-least-once).
func (th *thread) checkpointDue(r *runner) resumeInfo {
	if !r.hasPersistent {
		return resumeInfo{}
	}
	cur := th.prod.changelogOffsets(r.changelogs)
	var delta int64
	for tp, o := range cur {
		delta += o - r.lastCheckpoint[tp]
	}
	if delta < checkpointDelta {
		return resumeInfo{}
	}
	r.lastCheckpoint = cur
	return resumeInfo{checkpoint: cur}
}

// awaitRound collects the replies of a round. Tasks that did not reach the
// barrier within barrierWait and are still inside a processor call stay
// pending (late): under at-least-once the commit goes on without them;
// under exactly-once too if they wrote nothing into the transaction. A task
// that is flushing is waited for. Nothing is waited for past TaskTimeout
// (the task is stuck) or past deadline when closing.
func (th *thread) awaitRound(round *commitRound, closing bool, deadline time.Time) ([]commitReply, error) {
	var replies []commitReply
	soft := round.started.Add(barrierWait)
	hard := round.started.Add(th.cfg.TaskTimeout)
	if closing {
		soft, hard = deadline, deadline
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(round.waiting) > 0 {
		select {
		case rep := <-round.replies:
			delete(round.waiting, rep.r)
			th.answered(rep.r)
			replies = append(replies, rep)
			continue
		case <-tick.C:
		}
		if !closing && th.ctx.Err() != nil {
			// Shutting down: the final commit (with the close deadline)
			// takes over; the tasks that replied hold until then.
			th.late = append(th.late, round)
			return replies, errInterrupted
		}
		now := time.Now()
		if now.Before(soft) {
			continue
		}
		waitMore := false
		for r := range round.waiting {
			switch {
			case !now.Before(hard):
			case r.committing.Load():
				waitMore = true // flushing its stores: progress
			case th.eos && (!r.col.hold(now.Add(barrierWait)) || r.col.dirty.Load()):
				// Its writes are in the transaction (checked once its sends
				// wait at the gate, so none slips in after the check).
				waitMore = true
			}
		}
		if waitMore {
			continue
		}
		if !closing && !now.Before(hard) {
			return replies, th.stuck(round)
		}
		break // the rest are late
	}
	if len(round.waiting) > 0 {
		th.late = append(th.late, round)
		for r := range round.waiting {
			th.warnLate(r)
		}
	}
	return replies, nil
}

// collectLate releases tasks that answered an earlier round after it went
// on without them (they resume; their offsets commit in the next round),
// and fails the App on a task stuck past TaskTimeout.
func (th *thread) collectLate(closing bool) error {
	var stuck []*commitRound
	th.late = slices.DeleteFunc(th.late, func(round *commitRound) bool {
		for {
			select {
			case rep := <-round.replies:
				delete(round.waiting, rep.r)
				th.answered(rep.r)
				// A failed task reported its failure when it failed; it only
				// holds until closed.
				round.resumes[rep.r] <- resumeInfo{hold: closing || rep.err != nil}
				continue
			default:
			}
			break
		}
		for r := range round.waiting {
			th.a.m.setBlocked(r.id, time.Since(r.pendingSince))
			if time.Since(r.pendingSince) > th.cfg.TaskTimeout {
				stuck = append(stuck, round)
			}
		}
		return len(round.waiting) == 0
	})
	if len(stuck) > 0 && !closing {
		return th.stuck(stuck[0])
	}
	return nil
}

// awaitLate waits until deadline for a late task to answer its pending
// commit request, then holds it (a close follows). It reports whether it
// answered.
func (th *thread) awaitLate(r *runner, deadline time.Time) bool {
	round := r.pending
	if round == nil {
		return true
	}
	if th.stuckRunners[r] {
		return false
	}
	for r.pending != nil {
		select {
		case rep := <-round.replies:
			delete(round.waiting, rep.r)
			th.answered(rep.r)
			round.resumes[rep.r] <- resumeInfo{hold: true}
			if rep.r != r {
				// Another late task of the same round: it holds too and
				// takes its close next.
				continue
			}
		case <-time.After(time.Until(deadline)):
			return false
		}
	}
	return true
}

func (th *thread) hasLate() bool { return len(th.late) > 0 }

// answered clears a task's pending commit request.
func (th *thread) answered(r *runner) {
	if !r.pendingSince.IsZero() && time.Since(r.pendingSince) > barrierWait {
		th.a.m.setBlocked(r.id, 0)
	}
	r.pending, r.pendingSince = nil, time.Time{}
}

// errInterrupted ends a commit round the App's shutdown interrupted.
var errInterrupted = errors.New("streams: commit interrupted by shutdown")

// lateRunners returns the tasks with an unanswered commit request.
func (th *thread) lateRunners() []*runner {
	var out []*runner
	for _, round := range th.late {
		for r := range round.waiting {
			out = append(out, r)
		}
	}
	return out
}

func (th *thread) warnLate(r *runner) {
	if r.warned {
		return
	}
	r.warned = true
	th.logger.Warn("task did not reach the commit: a processor call is still running; the other tasks go on",
		zap.Stringer("task", r.id), zap.Duration("waited", time.Since(r.pendingSince)),
		zap.Duration("task_timeout", th.cfg.TaskTimeout), zap.String("inputs", r.positions()))
}

// stuck is the error for the tasks of round still inside a call past
// TaskTimeout.
func (th *thread) stuck(round *commitRound) error {
	var names []string
	if th.stuckRunners == nil {
		th.stuckRunners = map[*runner]bool{}
	}
	for r := range round.waiting {
		th.stuckRunners[r] = true
		names = append(names, fmt.Sprintf("task %s (inputs %s) for %v", r.id, r.positions(), time.Since(r.pendingSince).Round(time.Millisecond)))
	}
	slices.Sort(names)
	return fmt.Errorf("%w: inside a processor call longer than TaskTimeout %v: %s", ErrTaskStuck, th.cfg.TaskTimeout, strings.Join(names, "; "))
}

func committedOffset(o partitiongroup.Offset) kafka.TopicPartition {
	t := o.Topic
	meta := encodePartitionTime(o.PartitionTime)
	return kafka.TopicPartition{Topic: &t, Partition: o.Partition, Offset: kafka.Offset(o.Offset), Metadata: &meta}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
