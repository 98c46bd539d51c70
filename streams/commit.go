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
// channels that release them. A round some tasks have not answered stays
// on the thread's list until they do.
type commitRound struct {
	replies chan commitReply
	resumes map[*runner]chan resumeInfo
	waiting map[*runner]bool
}

// answer is a reply taken from a round, with the channel that releases
// its task.
type answer struct {
	commitReply
	resume chan<- resumeInfo
}

// commitAll commits every running task: they stop between two records,
// flush their caches and stores (writing their changelogs) and report
// their offsets; the outputs are acknowledged (or the transaction
// committed) and the offsets committed; then the tasks resume. A task
// inside a long processor call does not hold the others: the commit goes
// on without it, its sends waiting at its collector's gate while the
// commit runs; when it answers, it joins the next commit. Under
// exactly-once that is only possible while it has written nothing into the
// open transaction; otherwise the commit waits for it, up to TaskTimeout.
// When closing (the caller closes every task next), or when the commit
// failed, the tasks do not resume: they hold until closed, and a
// transaction failure is returned, not recovered from.
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
	if len(runners) == 0 && len(th.late) == 0 {
		return nil
	}
	start := time.Now()
	round := &commitRound{replies: make(chan commitReply, len(runners)), resumes: make(map[*runner]chan resumeInfo, len(runners)),
		waiting: make(map[*runner]bool, len(runners))}
	for _, r := range runners {
		ch := make(chan resumeInfo, 1)
		round.resumes[r] = ch
		round.waiting[r] = true
		r.pending, r.pendingSince, r.warned = round, start, false
		r.send(control{commit: &commitRequest{reply: round.replies, resume: ch}})
	}
	if len(runners) > 0 {
		th.late = append(th.late, round)
	}
	answers, err := th.awaitRound(closing, deadline)
	late := th.lateRunners()
	// Under exactly-once awaitRound may have held late tasks' gates (and
	// this commit holds them all below): whatever the outcome, they open
	// when it ends, and before a recovery closes the tasks.
	openLate := func() {
		for _, r := range late {
			r.col.open()
		}
	}
	defer openLate()
	release := func(info func(*runner) resumeInfo) {
		for _, a := range answers {
			a.resume <- info(a.r)
		}
	}
	hold := func(*runner) resumeInfo { return resumeInfo{hold: true} }
	if err != nil {
		release(hold)
		return err
	}
	var offsets []kafka.TopicPartition
	var firstErr error
	for _, a := range answers {
		if a.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("streams: task %s: commit: %w", a.r.id, a.err)
		}
		for _, o := range a.offsets {
			offsets = append(offsets, committedOffset(o))
		}
	}
	if firstErr != nil {
		release(hold)
		if th.eos && isTxnFailure(firstErr) && !closing {
			openLate()
			return th.recoverTxn(firstErr)
		}
		return firstErr
	}
	faultpoint.Hit(faultpoint.CommitTasksFlushed)
	// Tasks not in the barrier are inside a processor call: their sends
	// wait at their gate until the commit is done (under exactly-once
	// awaitRound holds them already, having checked they are clean).
	gateDeadline := time.Now().Add(barrierWait)
	for _, r := range late {
		if !r.col.hold(gateDeadline) {
			// One of its sends is still under way (librdkafka's queue is
			// full): the count a flush waits for is not fixed yet, and
			// under exactly-once the task may be writing into the
			// transaction. No commit now; the tasks go on and the next
			// commit tries again.
			th.logger.Warn("commit put off: a task late for it is still inside a send", zap.Stringer("task", r.id))
			if closing {
				release(hold)
				return fmt.Errorf("streams: final commit: task %s is still inside a send", r.id)
			}
			release(func(*runner) resumeInfo { return resumeInfo{} })
			return nil
		}
	}
	if th.eos {
		for _, r := range late {
			if r.col.dirty.Load() { // only when closing: awaitRound waits for it otherwise
				release(hold)
				return txnAbortable{fmt.Errorf("streams: task %s wrote into the transaction and did not reach the commit", r.id)}
			}
		}
		ctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(th.prod.ackTimeout())))
		err := th.prod.commitTransaction(ctx, offsets, th.cons, func() { faultpoint.Hit(faultpoint.CommitOffsetsSent) })
		cancel()
		if err != nil {
			release(hold)
			if isTxnFailure(err) && !closing {
				// The recovery closes every task: a late one must reach its
				// commit request and its close, not wait at its gate.
				openLate()
				return th.recoverTxn(err)
			}
			return err
		}
		for _, a := range answers {
			a.r.col.dirty.Store(false)
		}
		th.purge.committed(offsets) // the transaction, and the offsets in it, committed
		for _, a := range answers {
			a.r.noteCommitted(a.offsets)
		}
		faultpoint.Hit(faultpoint.CommitDone)
		th.noteHeld(closing, answers)
		release(func(*runner) resumeInfo { return resumeInfo{hold: closing} })
	} else {
		if err := th.prod.flush(time.Until(earliest(deadline, time.Now().Add(th.prod.ackTimeout())))); err != nil {
			release(hold)
			return err
		}
		faultpoint.Hit(faultpoint.CommitOutputsAcked)
		committed := true // nothing to commit is a success
		if len(offsets) > 0 {
			if done, err := th.cons.CommitOffsets(offsets); err != nil {
				// A rebalance is under way (the next owner resumes from the
				// previous commit, reprocessing), or a source topic is gone.
				th.logger.Warn("offset commit failed", zap.Error(err))
				th.watch.suspect()
				committed = false
			} else {
				th.purge.committed(done) // those without a partition error
				if failed := failedPartitions(done); len(failed) > 0 {
					// The commit went through for the others only; the
					// next commit carries these again.
					th.logger.Warn("offset commit failed for some partitions", zap.Strings("partitions", failed))
					committed = false
				}
			}
		}
		if committed {
			for _, a := range answers {
				a.r.noteCommitted(a.offsets)
			}
		}
		faultpoint.Hit(faultpoint.CommitDone)
		th.noteHeld(closing, answers)
		release(func(r *runner) resumeInfo {
			if closing {
				return resumeInfo{hold: true} // the close writes the checkpoint
			}
			return th.checkpointDue(r)
		})
	}
	th.a.m.observeCommit(len(answers), len(offsets), time.Since(start))
	return nil
}

// failedPartitions names the partitions of an offset commit's result that
// carry an error, with it.
func failedPartitions(done []kafka.TopicPartition) []string {
	var out []string
	for _, p := range done {
		if p.Error != nil && p.Topic != nil {
			out = append(out, fmt.Sprintf("%s-%d: %v", *p.Topic, p.Partition, p.Error))
		}
	}
	return out
}

// noteHeld records the tasks a successful closing commit holds: an
// incremental revocation closes some of them and releases the others (a
// control message with nothing in it).
func (th *thread) noteHeld(closing bool, answers []answer) {
	if !closing || !th.incremental() {
		return
	}
	for _, a := range answers {
		th.held = append(th.held, a.r)
	}
}

// checkpointDue asks a task to checkpoint once enough changelog records
// accumulated since its last checkpoint (at-least-once).
func (th *thread) checkpointDue(r *runner) resumeInfo {
	if !r.hasPersistent {
		return resumeInfo{}
	}
	cur := r.changelogPositions(th.prod)
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

// awaitRound collects the answers of every task with a pending commit
// request (this round's and those late from earlier rounds, which join
// this commit when they answer now). Tasks still inside a processor call
// after barrierWait stay pending (late) and the commit goes on without
// them, except: a task already flushing its stores for the commit is
// waited for; under exactly-once, so is a task that wrote into the open
// transaction (the others are held at their gate from here on, checked
// clean). Nothing is waited for past TaskTimeout (the task is stuck: an
// error) or, when closing, past deadline, nor once an answer carries an
// error (the commit fails whatever the others answer).
func (th *thread) awaitRound(closing bool, deadline time.Time) ([]answer, error) {
	var answers []answer
	soft := time.Now().Add(barrierWait)
	if closing {
		soft = deadline
	}
	for {
		answers = append(answers, th.drain()...)
		pending := th.lateRunners()
		if len(pending) == 0 || slices.ContainsFunc(answers, func(a answer) bool { return a.err != nil }) {
			// Done, or the commit fails whatever the others answer: the
			// failure is not held up by a late task.
			return answers, nil
		}
		if !closing && th.ctx.Err() != nil {
			// Shutting down: the final commit (with the close deadline)
			// takes over; the tasks that answered hold until then.
			return answers, errInterrupted
		}
		now := time.Now()
		if now.Before(soft) {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		waitMore := false
		var held []*runner
		for _, r := range pending {
			hard := r.pendingSince.Add(th.cfg.TaskTimeout)
			if closing {
				hard = deadline
			}
			switch {
			case !now.Before(hard):
			case r.committing.Load():
				waitMore = true // flushing its stores: progress
			case th.eos:
				// Checked once its sends wait at the gate, so none slips
				// into the transaction after the check.
				if !r.col.hold(now.Add(barrierWait)) || r.col.dirty.Load() {
					r.col.open()
					waitMore = true
				} else {
					held = append(held, r)
				}
			}
		}
		if waitMore {
			// Tasks checked clean may answer while the others are waited
			// for, and their commit's store flush writes changelogs: a gate
			// held meanwhile would block that flush (and the commit waiting
			// for it) until TaskTimeout. They are held and checked again at
			// the next pass.
			for _, r := range held {
				r.col.open()
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if !closing {
			if err := th.checkStuck(); err != nil {
				return answers, err
			}
		}
		for _, r := range pending {
			th.warnLate(r)
		}
		return answers, nil
	}
}

// drain takes the answers waiting in every pending round and forgets
// rounds nobody owes an answer any more.
func (th *thread) drain() []answer {
	var out []answer
	th.late = slices.DeleteFunc(th.late, func(round *commitRound) bool {
		for len(round.waiting) > 0 {
			select {
			case rep := <-round.replies:
				delete(round.waiting, rep.r)
				th.answered(rep.r)
				out = append(out, answer{commitReply: rep, resume: round.resumes[rep.r]})
				continue
			default:
			}
			break
		}
		return len(round.waiting) == 0
	})
	return out
}

// collectLate, between commits, releases tasks that answered after their
// commit went on without them (they resume; their offsets commit in the
// next commit), updates how long the others have been late, and fails the
// App on a task stuck past TaskTimeout.
func (th *thread) collectLate(closing bool) error {
	if len(th.late) == 0 {
		return nil
	}
	for _, a := range th.drain() {
		// A failed task reported its failure when it failed; it only holds
		// until closed.
		a.resume <- resumeInfo{hold: closing || a.err != nil}
	}
	for _, r := range th.lateRunners() {
		th.a.m.setBlocked(r.id, time.Since(r.pendingSince))
	}
	if closing {
		return nil
	}
	return th.checkStuck()
}

// awaitLate waits until deadline for a late task to answer its pending
// commit request and holds it (a close follows); tasks of the same round
// that answer meanwhile hold too. It reports whether it answered.
func (th *thread) awaitLate(r *runner, deadline time.Time) bool {
	if th.stuckRunners[r] {
		return false
	}
	for r.pending != nil {
		for _, a := range th.drain() {
			a.resume <- resumeInfo{hold: true}
		}
		if r.pending == nil {
			break
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

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
	slices.SortFunc(out, func(a, b *runner) int { return a.id.Compare(b.id) })
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

// checkStuck returns the error for tasks inside one call past TaskTimeout.
func (th *thread) checkStuck() error {
	var names []string
	for _, r := range th.lateRunners() {
		if time.Since(r.pendingSince) <= th.cfg.TaskTimeout {
			continue
		}
		if th.stuckRunners == nil {
			th.stuckRunners = map[*runner]bool{}
		}
		th.stuckRunners[r] = true
		names = append(names, fmt.Sprintf("task %s (inputs %s) for %v", r.id, r.positions(), time.Since(r.pendingSince).Round(time.Millisecond)))
	}
	if len(names) == 0 {
		return nil
	}
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
