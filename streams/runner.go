package streams

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/faultpoint"
	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/task"
)

// inputQueue hands batches from the poller to a task goroutine: a
// mutex-guarded slice plus a one-slot notify channel. Pushing never blocks;
// the poller bounds what it hands over by pausing partitions.
type inputQueue struct {
	mu     sync.Mutex
	items  []inputItem
	spare  []inputItem
	notify chan struct{}
}

type inputItem struct {
	topic     string
	partition int32
	records   []record.ConsumerRecord
	lag       int64 // with no records: a lag update (-1 unknown)
}

func newInputQueue() *inputQueue { return &inputQueue{notify: make(chan struct{}, 1)} }

func (q *inputQueue) push(it inputItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain takes everything queued; the returned slice is valid until the next
// drain.
func (q *inputQueue) drain() []inputItem {
	// The spare array is the previous batch, no longer visible to push:
	// clear it before handing it to the poller, never after.
	clear(q.spare[:cap(q.spare)])
	q.mu.Lock()
	items := q.items
	q.items = q.spare[:0]
	q.mu.Unlock()
	q.spare = items
	return items
}

// control messages reach a task goroutine between records.
type control struct {
	commit *commitRequest
	close  *closeRequest
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

// runner is the goroutine that owns one task.
type runner struct {
	id         processor.TaskID
	task       *task.Task
	dir        *statedir.TaskDir
	col        *collector
	in         *inputQueue
	ctrl       chan control
	failures   chan<- taskFailure
	done       chan struct{}
	logger     *zap.Logger
	metrics    *metrics
	changelogs []topicPartition // this task's changelog partitions
	// processed[i] is the next offset to process of input partition i
	// (registration order), published for the poller's pause decisions.
	processed []atomic.Int64
	inputs    []partitiongroup.Partition
	commitReq *atomic.Bool // a processor called Context.Commit
	// wanted is set by the poller before it sends a control message, so
	// the task stops at the next record boundary instead of finishing its
	// chunk.
	wanted atomic.Bool
	// sinceCheckpoint counts changelog records since the last checkpoint.
	sinceCheckpoint int64
	started         bool
	busy            bool
	// failed is the error that stopped the task; the goroutine then only
	// answers control messages (commits with this error).
	failed error
	// hasPersistent: the task has logged persistent stores, so checkpoints
	// matter; lastCheckpoint is the changelog offsets last checkpointed.
	hasPersistent  bool
	lastCheckpoint map[topicPartition]int64
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
		select {
		case c := <-r.ctrl:
			if r.handle(c) {
				return
			}
			continue
		default:
		}
		if r.failed != nil {
			if r.handle(<-r.ctrl) {
				return
			}
			continue
		}
		if err := r.step(); err != nil {
			r.failed = err
			r.report(err)
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
			wait = time.Duration(next-r.task.WallClockTime()) * time.Millisecond
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
		}
	}
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
	for n < processChunk && !r.wanted.Load() {
		ok, err := r.task.Process()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		n++
	}
	if n > 0 {
		r.busy = true
		r.metrics.observeProcess(n, time.Since(start))
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
	if next, ok := r.task.NextWallClockPunctuation(); ok && next <= r.task.WallClockTime() {
		pstart := time.Now()
		if _, err := r.task.PunctuateWallClock(); err != nil {
			return err
		}
		r.metrics.observePunctuate(time.Since(pstart))
		r.busy = true
	}
	return nil
}

// report tells the poller about a failure without ever blocking: a full
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
		if r.failed != nil {
			// The record that failed was taken from its queue: the group's
			// offsets already count it as consumed. Never report them.
			c.commit.reply <- commitReply{r: r, err: r.failed}
			<-c.commit.resume
			return false
		}
		offsets, err := r.task.Commit()
		r.commitReq.Store(false)
		c.commit.reply <- commitReply{r: r, offsets: offsets, err: err}
		info, ok := <-c.commit.resume
		if ok && info.checkpoint != nil && err == nil {
			if err := r.checkpoint(info.checkpoint); err != nil {
				r.report(err)
			}
		}
		if ok && info.hold {
			return r.handle(<-r.ctrl)
		}
		return false
	case c.close != nil:
		c.close.reply <- r.closeTask(c.close)
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
	r.sinceCheckpoint = 0
	return nil
}

func (r *runner) closeTask(req *closeRequest) error {
	var err error
	if req.clean && req.checkpoint != nil && r.task.State() != task.Closed {
		err = r.checkpoint(req.checkpoint)
	}
	if cerr := r.task.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if uerr := r.dir.Unlock(); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// send delivers a control message, asking the task to stop at the next
// record boundary.
func (r *runner) send(c control) {
	r.wanted.Store(true)
	r.ctrl <- c
}
