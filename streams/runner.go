package streams

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/faultpoint"
	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/task"
)

// control messages reach a task goroutine between records. The runtime has
// at most one outstanding per task (ctrl has room for it), so sending one
// never blocks the runtime's goroutine.
type control struct {
	commit  *commitRequest
	close   *closeRequest
	suspend *suspendRequest
}

type commitRequest struct {
	reply  chan<- commitReply
	resume <-chan resumeInfo
}

type commitReply struct {
	r       *runner
	offsets []partitiongroup.Offset
	err     error
}

// resumeInfo ends a commit: with checkpoint set, the task makes its stores
// durable and writes them as its checkpoint before processing again. With
// hold set, the task does not process again: it waits for the next control
// message (the close that follows a final or failed commit), so nothing it
// did after the commit can reach the producer, its stores or a checkpoint.
type resumeInfo struct {
	checkpoint map[topicPartition]int64
	hold       bool
}

type closeRequest struct {
	clean bool
	// checkpoint: changelog offsets to write on a clean close.
	checkpoint map[topicPartition]int64
	reply      chan<- error
}

// runner owns one task: a goroutine runs it (after restoration), and the
// runtime's goroutine keeps the fields marked as its own.
type runner struct {
	id       processor.TaskID
	task     *task.Task
	dir      *statedir.TaskDir
	col      *collector
	in       *inputQueue
	ctrl     chan control
	failures chan<- taskFailure
	done     chan struct{}
	// abandoned is closed when the runtime gives up on the task (a call
	// did not return in time): the goroutine then closes the task itself
	// as soon as the call returns, and takes no control message again.
	abandoned chan struct{}
	logger    *zap.Logger
	metrics   *metrics
	// changelogs are this task's changelog partitions.
	changelogs []topicPartition
	// sources are the partitions of source topics that are changelogs of
	// the task's stores (store.SourceChangelog); sourceCommitted is their
	// offset at the last successful commit (runtime goroutine's own).
	sources         []topicPartition
	sourceCommitted map[topicPartition]int64
	// processed[i] is the next offset to process of input partition i
	// (registration order), published for the poller's pause decisions.
	processed []atomic.Int64
	inputs    []partitiongroup.Partition
	commitReq atomic.Bool // a processor called Context.Commit
	// wanted is set by the runtime before it sends a control message, so
	// the task stops at the next record boundary instead of finishing its
	// chunk; committing is set by the task once it is in a commit (its
	// stores flushing), so the runtime tells a slow flush from a call
	// stuck in user code.
	wanted     atomic.Bool
	committing atomic.Bool

	// The goroutine's own state.
	busy bool
	// failed is the error that stopped the task; the goroutine then only
	// answers control messages (commits with this error).
	failed error

	// The runtime goroutine's own state.
	started bool
	// suspended: kept across a rebalance (suspend.go): stores open,
	// directory locked, no goroutine.
	suspended bool
	// expect are the committed offsets of the inputs the task's state
	// reflects (absent: none committed); inFinalCommit: the task took part
	// in the last commit that succeeded since the revocation began.
	expect        map[topicPartition]int64
	inFinalCommit bool
	// stores are the task's stores restored from a changelog or a source
	// topic, with their partitions.
	stores []restoredStore
	// committed are the group's committed offsets the task started from.
	committed []kafka.TopicPartition
	// restoredTo is where restoration brought each changelog partition.
	restoredTo map[topicPartition]int64
	// pending is the commit round whose request the task has not answered
	// yet, and since when.
	pending      *commitRound
	pendingSince time.Time
	warned       bool // the runtime logged that the task is slow
	// hasPersistent: the task has logged persistent stores, so checkpoints
	// matter; lastCheckpoint is the changelog offsets last checkpointed.
	hasPersistent  bool
	lastCheckpoint map[topicPartition]int64
}

// restoredStore is one of a task's stores that restorations fill, and the
// partition they read.
type restoredStore struct {
	tp      topicPartition
	store   string
	source  bool
	convert func(*record.ConsumerRecord) ([]byte, []byte, string, error)
}

type taskFailure struct {
	id  processor.TaskID
	err error
}

const processChunk = 256

func (r *runner) start() {
	r.started = true
	go r.run()
}

func (r *runner) run() {
	defer close(r.done)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for {
		if r.isAbandoned() {
			r.closeAbandoned()
			return
		}
		select {
		case c := <-r.ctrl:
			if r.handle(c) {
				return
			}
			continue
		default:
		}
		if r.failed != nil {
			select {
			case c := <-r.ctrl:
				if r.handle(c) {
					return
				}
			case <-r.abandoned:
			}
			continue
		}
		if err := r.step(); err != nil {
			// What the records before the failure sent still goes out, as
			// it would have record by record.
			_ = r.col.flushBatch()
			r.failed = err
			if !errors.Is(err, task.ErrCancelled) {
				r.report(err)
			}
			continue
		}
		if r.task.CommitRequested() && !r.commitReq.Load() {
			r.commitReq.Store(true)
		}
		if r.busy {
			continue
		}
		// Nothing to do now: wait for input, control, or the next timer.
		wait := time.Hour
		if next, ok := r.task.NextWallClockPunctuation(); ok {
			// In milliseconds first: a far-off (or clamped) point would
			// overflow a Duration.
			wait = time.Duration(min(max(record.SaturatingSub(next, r.task.WallClockTime()), 0), int64(time.Hour/time.Millisecond))) * time.Millisecond
		}
		if r.task.PartitionGroup().NumBuffered() > 0 && wait > 5*time.Millisecond {
			wait = 5 * time.Millisecond // records held back by MaxTaskIdle
		}
		if wait < 0 {
			wait = 0
		}
		idle.Reset(wait)
		select {
		case c := <-r.ctrl:
			if r.handle(c) {
				return
			}
		case <-r.in.notify:
		case <-idle.C:
		case <-r.abandoned:
		}
	}
}

func (r *runner) isAbandoned() bool {
	select {
	case <-r.abandoned:
		return true
	default:
		return false
	}
}

// closeAbandoned closes a task the runtime gave up on, once its call
// returned: dirty (no checkpoint), so its stores restore from the
// changelog next time, and its directory lock is released.
func (r *runner) closeAbandoned() {
	err := r.closeTask(&closeRequest{})
	r.col.pr.retire(r.col) // no send of this task can happen any more
	r.logger.Warn("task given up on has returned and is closed", zap.Stringer("task", r.id), zap.Error(err))
}

// step moves queued input into the task, processes a chunk and fires
// wall-clock punctuators. It sets busy when it made progress.
func (r *runner) step() error {
	r.busy = false
	added := false
	for _, it := range r.in.drain() {
		if it.records == nil {
			if err := r.task.SetLag(it.topic, it.partition, it.lag); err != nil {
				return err
			}
			continue
		}
		added = true
		if err := r.task.AddRecords(it.topic, it.partition, it.records); err != nil {
			return err
		}
	}
	start := time.Now()
	n := 0
	var slowest time.Duration
	debug := r.metrics.debug // RecordDebug: time each record
	for n < processChunk && !r.wanted.Load() {
		var t0 time.Time
		if debug {
			t0 = time.Now()
		}
		ok, err := r.task.Process()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if debug {
			slowest = max(slowest, time.Since(t0))
		}
		n++
	}
	publish := n > 0 || added
	end := start
	if publish {
		end = time.Now()
	}
	if n > 0 {
		r.busy = true
		took := end.Sub(start)
		r.task.ObserveProcessing(n, took, slowest)
		r.metrics.observeProcess(r.id, n, took)
	}
	if n > 0 || added {
		// Records skipped while decoding heads (handlers said continue)
		// are consumed too: publish them even when nothing was processed,
		// or a partition paused over a run of skipped records never
		// resumes.
		for _, p := range r.task.PartitionGroup().Committable() {
			r.publish(p)
		}
	}
	if next, ok := r.task.NextWallClockPunctuation(); ok && next <= r.task.WallClockTime() && !r.wanted.Load() {
		if _, err := r.task.PunctuateWallClock(); err != nil {
			return err
		}
		r.busy, publish = true, true
		end = time.Now()
	}
	// What the chunk and the punctuators sent goes to the producer in one
	// call.
	if err := r.col.flushBatch(); err != nil {
		return err
	}
	if publish {
		// Once per chunk (or batch, or punctuation round): what the task
		// counted becomes readable by App.Metrics.
		r.task.PublishMetrics(end)
	}
	return nil
}

// report tells the runtime about a failure without ever blocking: a full
// channel already holds failures enough to stop the App, and a task blocked
// here would never take the close the shutdown sends it.
func (r *runner) report(err error) {
	select {
	case r.failures <- taskFailure{id: r.id, err: err}:
	default:
		r.logger.Error("task failed", zap.Stringer("task", r.id), zap.Error(err))
	}
}

func (r *runner) publish(o partitiongroup.Offset) {
	for i, in := range r.inputs {
		if in.Topic == o.Topic && in.Partition == o.Partition {
			r.processed[i].Store(o.Offset)
			return
		}
	}
}

// handle runs a control message; it reports whether the goroutine must
// exit.
func (r *runner) handle(c control) bool {
	r.wanted.Store(false)
	switch {
	case c.commit != nil:
		if r.isAbandoned() {
			r.closeAbandoned()
			return true
		}
		r.committing.Store(true)
		var rep commitReply
		if r.failed != nil {
			// The record that failed was taken from its queue: the group's
			// offsets already count it as consumed. Never report them.
			rep = commitReply{r: r, err: r.failed}
		} else {
			offsets, err := r.task.Commit()
			if err == nil {
				// Everything the task sent, the stores' changelog writes
				// included, reaches the producer before the task answers.
				err = r.col.flushBatch()
			}
			r.task.PublishMetrics(time.Now()) // what the flush sent
			r.commitReq.Store(false)
			rep = commitReply{r: r, offsets: offsets, err: err}
		}
		r.committing.Store(false)
		c.commit.reply <- rep // room for every reply of the round
		var info resumeInfo
		select {
		case info = <-c.commit.resume:
		case <-r.abandoned:
			r.closeAbandoned()
			return true
		}
		if info.checkpoint != nil && rep.err == nil {
			if err := r.checkpoint(info.checkpoint); err != nil {
				r.report(err)
			}
		}
		if info.hold {
			select {
			case next := <-r.ctrl:
				return r.handle(next)
			case <-r.abandoned:
				r.closeAbandoned()
				return true
			}
		}
		return false
	case c.close != nil:
		c.close.reply <- r.closeTask(c.close)
		return true
	case c.suspend != nil:
		c.suspend.reply <- r.suspend(c.suspend.checkpoint)
		return true
	}
	return false
}

// checkpoint makes the stores durable and records the changelog offsets
// they reflect.
func (r *runner) checkpoint(offsets map[topicPartition]int64) error {
	for _, s := range r.task.Stores() {
		if err := store.FlushToDisk(s); err != nil {
			return fmt.Errorf("task %s: flush store %q to disk: %w", r.id, s.Name(), err)
		}
	}
	cp := make(map[statedir.TopicPartition]int64, len(offsets))
	for tp, o := range offsets {
		cp[statedir.TopicPartition{Topic: tp.topic, Partition: tp.partition}] = o
	}
	if err := r.dir.WriteCheckpoint(cp); err != nil {
		return fmt.Errorf("task %s: %w", r.id, err)
	}
	faultpoint.Hit(faultpoint.CheckpointWritten)
	return nil
}

// closeTask closes the task's processors and stores and releases its
// directory; a clean close with offsets writes them as the checkpoint.
func (r *runner) closeTask(req *closeRequest) error {
	var errs []error
	if req.clean && req.checkpoint != nil && r.task.State() != task.Closed {
		errs = append(errs, r.checkpoint(req.checkpoint))
	}
	errs = append(errs, r.task.Close())
	if err := r.col.flushBatch(); err != nil && !errors.Is(err, processor.ErrTaskClosed) {
		errs = append(errs, err)
	}
	r.col.closeBatch()
	errs = append(errs, r.dir.Unlock())
	r.task.PublishMetrics(time.Now()) // the final counts, which the runtime keeps
	return errors.Join(errs...)
}

// send delivers a control message, asking the task to stop at the next
// record boundary. The runtime sends at most one at a time per task.
func (r *runner) send(c control) {
	r.wanted.Store(true)
	r.ctrl <- c
}
