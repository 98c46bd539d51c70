package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// errCrashed ends a run stopped hard by a test.
var errCrashed = errors.New("streams: stopped hard (test crash)")

// checkpointDelta is how many changelog records must accumulate before an
// at-least-once commit also writes a checkpoint (Kafka Streams: 10,000).
const checkpointDelta = 10_000

// runtime is one Run: the poller goroutine's state. Everything here is
// touched by the poller goroutine only (the rebalance callback runs inside
// Poll, on that goroutine).
type runtime struct {
	a       *App
	cfg     *Config
	logger  *zap.Logger
	plan    *plan
	dir     *statedir.Dir
	cache   *store.Cache
	prod    *producer
	rest    *restorer
	globals *globals
	cons    *kafka.Consumer
	eos     bool
	ctx     context.Context

	runners    map[processor.TaskID]*runner
	inputs     map[topicPartition]*input
	assignment []kafka.TopicPartition
	failures   chan taskFailure
	fatal      error
	closing    bool
	joined     bool // an assignment (maybe empty) arrived since the last revoke
	lastCommit time.Time
	lastLag    time.Time
	lastClean  time.Time
}

// input is one assigned source partition.
type input struct {
	tp      topicPartition
	r       *runner
	idx     int   // index in r.inputs / r.processed
	handed  int64 // offset after the last record handed to the task; -1 unknown
	paused  bool
	pending []record.ConsumerRecord
	lag     int64
}

func (a *App) run(ctx context.Context) (err error) {
	a.setState(Rebalancing)
	cfg := &a.cfg
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	p, err := preparePlan(startCtx, cfg, a.topo)
	if err != nil {
		return err
	}
	dir, err := statedir.Open(cfg.StateDir, cfg.ApplicationID, a.logger)
	if err != nil {
		return err
	}
	lock, err := dir.LockApp()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	pid, err := processID(dir.Path())
	if err != nil {
		return err
	}
	rt := &runtime{a: a, cfg: cfg, logger: a.logger, plan: p, dir: dir, cache: store.NewCache(cfg.CacheMaxBytes),
		eos: cfg.ProcessingGuarantee == ExactlyOnceV2, ctx: ctx, runners: map[processor.TaskID]*runner{},
		inputs: map[topicPartition]*input{}, failures: make(chan taskFailure, 64)}
	defer rt.shutdown(&err)

	tracked := map[string]bool{}
	for _, c := range p.changelogs {
		tracked[c.topic] = true
	}
	if rt.prod, err = newProducer(cfg, pid, tracked, a.m); err != nil {
		return err
	}
	if rt.eos {
		if err := rt.prod.initTransactions(startCtx); err != nil {
			return err
		}
	}
	if rt.rest, err = newRestorer(cfg, a.m); err != nil {
		return err
	}
	if rt.globals, err = startGlobals(ctx, cfg, a.topo, dir.Path(), a.m); err != nil {
		return err
	}
	if rt.cons, err = newConsumer(cfg); err != nil {
		return err
	}
	if err := rt.cons.SubscribeTopics(a.topo.SourceTopics(), rt.rebalance); err != nil {
		return fmt.Errorf("streams: subscribe: %w", err)
	}
	rt.lastCommit, rt.lastClean = time.Now(), time.Now()
	return rt.loop()
}

func newConsumer(cfg *Config) (*kafka.Consumer, error) {
	session := int(cfg.SessionTimeout.Milliseconds())
	cm := kafka.ConfigMap{
		"bootstrap.servers":             cfg.BootstrapServers,
		"group.id":                      cfg.ApplicationID,
		"partition.assignment.strategy": "range",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"auto.offset.reset":             "earliest",
		"session.timeout.ms":            session,
		"heartbeat.interval.ms":         min(3000, max(session/3, 1)),
		"go.logs.channel.enable":        false, "log_level": 3,
		"isolation.level": "read_uncommitted",
	}
	if cfg.ProcessingGuarantee == ExactlyOnceV2 {
		cm["isolation.level"] = "read_committed"
	}
	if cfg.InstanceID != "" {
		cm["group.instance.id"] = cfg.InstanceID
	}
	for k, v := range cfg.ConsumerConfig {
		cm[k] = v
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("streams: create consumer: %w", err)
	}
	return c, nil
}

func (rt *runtime) loop() error {
	for {
		if rt.fatal != nil {
			return rt.fatal
		}
		if rt.a.crash.Load() {
			return errCrashed
		}
		if rt.ctx.Err() != nil {
			return nil
		}
		select {
		case f := <-rt.failures:
			if !rt.eos || !isTxnFailure(f.err) {
				return fmt.Errorf("streams: task %s failed: %w", f.id, f.err)
			}
			if err := rt.recoverTxn(f.err); err != nil {
				return err
			}
			continue
		default:
		}
		if err := rt.prod.err(); err != nil {
			return err
		}
		if err := rt.globals.err(); err != nil {
			return err
		}
		for _, res := range rt.rest.take() {
			if err := rt.restored(res); err != nil {
				return err
			}
		}
		ev := rt.cons.Poll(20)
		for n := 0; ev != nil && n < 4096; n++ {
			rt.handle(ev)
			if rt.fatal != nil {
				return rt.fatal
			}
			ev = rt.cons.Poll(0)
		}
		if ev != nil {
			rt.handle(ev)
		}
		rt.dispatch()
		if time.Since(rt.lastLag) >= 100*time.Millisecond {
			rt.updateLags()
		}
		rt.pauseResume()
		rt.maybeCleanState()
		if rt.commitDue() {
			if err := rt.commitAll(false); err != nil {
				return err
			}
		}
		rt.updateState()
	}
}

func (rt *runtime) handle(ev kafka.Event) {
	switch e := ev.(type) {
	case *kafka.Message:
		if e.TopicPartition.Error != nil {
			rt.logger.Warn("consumer error", zap.Error(e.TopicPartition.Error))
			return
		}
		in := rt.inputs[topicPartition{*e.TopicPartition.Topic, e.TopicPartition.Partition}]
		if in == nil {
			return // fetched before a revoke: the new owner reads it
		}
		r := record.ConsumerRecord{Topic: *e.TopicPartition.Topic, Partition: e.TopicPartition.Partition,
			Offset: int64(e.TopicPartition.Offset), Key: e.Key, Value: e.Value, Timestamp: e.Timestamp.UnixMilli()}
		switch e.TimestampType {
		case kafka.TimestampCreateTime:
			r.TimestampType = record.TimestampCreateTime
		case kafka.TimestampLogAppendTime:
			r.TimestampType = record.TimestampLogAppendTime
		default:
			r.TimestampType, r.Timestamp = record.TimestampNotAvailable, -1
		}
		if len(e.Headers) > 0 {
			r.Headers = make(record.Headers, len(e.Headers))
			for i, h := range e.Headers {
				r.Headers[i] = record.Header{Key: h.Key, Value: h.Value}
			}
		}
		in.pending = append(in.pending, r)
	case kafka.Error:
		if e.IsFatal() {
			rt.fatal = fmt.Errorf("streams: consumer: fatal: %w", e)
			return
		}
		rt.logger.Warn("consumer", zap.Error(e))
	}
}

// dispatch hands pending batches to their tasks.
func (rt *runtime) dispatch() {
	for _, in := range rt.inputs {
		if len(in.pending) == 0 {
			continue
		}
		last := in.pending[len(in.pending)-1].Offset
		in.r.in.push(inputItem{topic: in.tp.topic, partition: in.tp.partition, records: in.pending})
		in.handed = last + 1
		in.pending = nil
	}
}

// pauseResume pauses partitions whose tasks hold more than the bound, or
// are still restoring, and resumes them once drained.
func (rt *runtime) pauseResume() {
	bound := int64(rt.cfg.BufferedRecordsPerPartition)
	var pause, resume []kafka.TopicPartition
	for _, in := range rt.inputs {
		want := !in.r.started
		if !want && in.handed >= 0 {
			buffered := in.handed - in.r.processed[in.idx].Load()
			want = buffered > bound || (in.paused && buffered > bound/2)
		}
		if want == in.paused {
			continue
		}
		t := in.tp.topic
		tp := kafka.TopicPartition{Topic: &t, Partition: in.tp.partition}
		if want {
			pause = append(pause, tp)
		} else {
			resume = append(resume, tp)
		}
		in.paused = want
	}
	if len(pause) > 0 {
		if err := rt.cons.Pause(pause); err != nil {
			rt.logger.Warn("pause", zap.Error(err))
		}
	}
	if len(resume) > 0 {
		if err := rt.cons.Resume(resume); err != nil {
			rt.logger.Warn("resume", zap.Error(err))
		}
	}
}

// updateLags tells tasks how far each partition is behind its high
// watermark (cached from fetches), so caught-up partitions do not hold
// processing back.
func (rt *runtime) updateLags() {
	rt.lastLag = time.Now()
	if len(rt.assignment) == 0 {
		return
	}
	pos, err := rt.cons.Position(rt.assignment)
	if err != nil {
		return
	}
	for _, p := range pos {
		tp := topicPartition{*p.Topic, p.Partition}
		in := rt.inputs[tp]
		if in == nil {
			continue
		}
		lag := int64(-1)
		if _, high, err := rt.cons.GetWatermarkOffsets(tp.topic, tp.partition); err == nil && high >= 0 && p.Offset >= 0 {
			lag = max(high-int64(p.Offset), 0)
		}
		if lag != in.lag {
			in.lag = lag
			in.r.in.push(inputItem{topic: tp.topic, partition: tp.partition, lag: lag})
			rt.a.m.setLag(tp, lag)
		}
	}
}

// maybeCleanState deletes the state directories of tasks this instance no
// longer runs, once they are older than StateCleanupDelay.
func (rt *runtime) maybeCleanState() {
	every := min(rt.cfg.StateCleanupDelay, time.Minute)
	if time.Since(rt.lastClean) < every {
		return
	}
	rt.lastClean = time.Now()
	assigned := make(map[string]bool, len(rt.runners))
	for id := range rt.runners {
		assigned[id.String()] = true
	}
	removed, err := rt.dir.CleanRemovedTasks(assigned, rt.cfg.StateCleanupDelay, time.Now())
	if err != nil {
		rt.logger.Warn("cleaning state of unassigned tasks", zap.Error(err))
	}
	if len(removed) > 0 {
		rt.logger.Info("removed state of tasks no longer assigned", zap.Strings("tasks", removed))
	}
}

func (rt *runtime) commitDue() bool {
	if time.Since(rt.lastCommit) >= rt.cfg.CommitInterval {
		return true
	}
	for _, r := range rt.runners {
		if r.started && r.commitReq.Load() {
			return true
		}
	}
	return false
}

func (rt *runtime) updateState() {
	if !rt.joined {
		return
	}
	for _, r := range rt.runners {
		if !r.started {
			return
		}
	}
	rt.a.setState(Running)
}

func (rt *runtime) started() []*runner {
	var out []*runner
	for _, r := range rt.runners {
		if r.started {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *runner) int {
		if a.id.Subtopology != b.id.Subtopology {
			return a.id.Subtopology - b.id.Subtopology
		}
		return int(a.id.Partition - b.id.Partition)
	})
	return out
}

// commitAll is the commit barrier: every running task flushes its stores
// and reports its offsets, then waits; the outputs are acknowledged (or the
// transaction committed) and the offsets committed; then the tasks resume.
// When closing (the caller closes every task next), or when the commit
// failed, the tasks do not resume: they hold until closed, so nothing is
// processed after the last commit (outputs and store writes that would be
// in no committed transaction, or in the next one).
func (rt *runtime) commitAll(closing bool) error {
	rt.lastCommit = time.Now()
	runners := rt.started()
	if len(runners) == 0 {
		return nil
	}
	start := time.Now()
	replies := make(chan commitReply, len(runners))
	resumes := make(map[*runner]chan resumeInfo, len(runners))
	for _, r := range runners {
		ch := make(chan resumeInfo, 1)
		resumes[r] = ch
		r.send(control{commit: &commitRequest{reply: replies, resume: ch}})
	}
	var offsets []kafka.TopicPartition
	var firstErr error
	for range runners {
		rep := <-replies
		if rep.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("streams: task %s: commit: %w", rep.r.id, rep.err)
		}
		for _, o := range rep.offsets {
			offsets = append(offsets, committedOffset(o))
		}
	}
	release := func(info func(*runner) resumeInfo) {
		for r, ch := range resumes {
			ch <- info(r)
		}
	}
	hold := func(*runner) resumeInfo { return resumeInfo{hold: true} }
	if firstErr == nil {
		faultpoint.Hit(faultpoint.CommitTasksFlushed)
	}
	if firstErr != nil {
		release(hold)
		if rt.eos && isTxnFailure(firstErr) {
			return rt.recoverTxn(firstErr)
		}
		return firstErr
	}
	if rt.eos {
		meta, err := rt.cons.GetConsumerGroupMetadata()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err = rt.prod.commitTransaction(ctx, offsets, meta, func() { faultpoint.Hit(faultpoint.CommitOffsetsSent) })
			cancel()
		}
		if err != nil {
			release(hold)
			if isTxnFailure(err) {
				return rt.recoverTxn(err)
			}
			return err
		}
		release(func(*runner) resumeInfo { return resumeInfo{hold: closing} })
	} else {
		if err := rt.prod.flush(60 * time.Second); err != nil {
			release(hold)
			return err
		}
		faultpoint.Hit(faultpoint.CommitOutputsAcked)
		if len(offsets) > 0 {
			if _, err := rt.cons.CommitOffsets(offsets); err != nil {
				// A rebalance is under way: the next owner resumes from the
				// previous commit, reprocessing (at-least-once).
				rt.logger.Warn("offset commit failed", zap.Error(err))
			}
		}
		release(func(r *runner) resumeInfo {
			if closing {
				return resumeInfo{hold: true} // the close writes the checkpoint
			}
			if !r.hasPersistent {
				return resumeInfo{}
			}
			cur := rt.prod.changelogOffsets(r.changelogs)
			var delta int64
			for tp, o := range cur {
				delta += o - r.lastCheckpoint[tp]
			}
			if delta < checkpointDelta {
				return resumeInfo{}
			}
			r.lastCheckpoint = cur
			return resumeInfo{checkpoint: cur}
		})
	}
	faultpoint.Hit(faultpoint.CommitDone)
	rt.a.m.observeCommit(time.Since(start))
	return nil
}

func committedOffset(o partitiongroup.Offset) kafka.TopicPartition {
	t := o.Topic
	meta := encodePartitionTime(o.PartitionTime)
	return kafka.TopicPartition{Topic: &t, Partition: o.Partition, Offset: kafka.Offset(o.Offset), Metadata: &meta}
}

// recoverFromAbort handles a failed transaction: abort it, close the tasks
// dirty (their state is wiped and restored from committed changelogs) and
// start over from the committed offsets.
func (rt *runtime) recoverFromAbort(cause error) error {
	rt.logger.Warn("transaction failed; aborting and resuming from the last commit", zap.Error(cause))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rt.prod.abortTransaction(ctx); err != nil {
		if errors.As(err, new(txnFenced)) {
			// Fenced before the abort: the transaction is lost either way.
			return rt.recoverFromFencing(err)
		}
		return fmt.Errorf("%w (after %v)", err, cause)
	}
	assigned := append([]kafka.TopicPartition(nil), rt.assignment...)
	rt.closeAll(false)
	for i := range assigned {
		assigned[i].Offset = kafka.OffsetStored
	}
	if err := rt.cons.Assign(assigned); err != nil {
		return fmt.Errorf("streams: reassign after abort: %w", err)
	}
	rt.assigned(assigned)
	return rt.fatal
}

// recoverFromFencing replaces a producer that another instance with the
// same transactional id fenced: its open transaction is lost, so the tasks
// close dirty and start over from the committed offsets with a new
// producer (whose InitTransactions fences the other in turn).
func (rt *runtime) recoverFromFencing(cause error) error {
	rt.logger.Warn("producer fenced; replacing it and resuming from the last commit", zap.Error(cause))
	assigned := append([]kafka.TopicPartition(nil), rt.assignment...)
	rt.closeAll(false)
	old := rt.prod
	old.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
	old.close()
	pid, err := processID(rt.dir.Path())
	if err != nil {
		return err
	}
	if rt.prod, err = newProducer(rt.cfg, pid, old.tracked, rt.a.m); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(rt.ctx, 60*time.Second)
	defer cancel()
	if err := rt.prod.initTransactions(ctx); err != nil {
		return fmt.Errorf("%w (after %v)", err, cause)
	}
	for i := range assigned {
		assigned[i].Offset = kafka.OffsetStored
	}
	if err := rt.cons.Assign(assigned); err != nil {
		return fmt.Errorf("streams: reassign after fencing: %w", err)
	}
	rt.assigned(assigned)
	return rt.fatal
}

// isTxnFailure reports whether a task failed because its transaction
// did (the producer was fenced or the transaction must be aborted) rather
// than because of its records.
func isTxnFailure(err error) bool {
	return errors.As(err, new(txnFenced)) || errors.As(err, new(txnAbortable))
}

// recoverTxn recovers from a task's transaction failure (see isTxnFailure):
// every task restarts from the last commit, so the failures other tasks
// reported for the same transaction are dropped; any other failure is
// returned.
func (rt *runtime) recoverTxn(cause error) error {
	var err error
	if errors.As(cause, new(txnFenced)) {
		err = rt.recoverFromFencing(cause)
	} else {
		err = rt.recoverFromAbort(cause)
	}
	if err != nil {
		return err
	}
	for {
		select {
		case f := <-rt.failures:
			if !isTxnFailure(f.err) {
				return fmt.Errorf("streams: task %s failed: %w", f.id, f.err)
			}
		default:
			return nil
		}
	}
}

// rebalance is the consumer's rebalance callback (eager, range assignor).
func (rt *runtime) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if rt.closing {
			return nil
		}
		rt.a.setState(Rebalancing)
		rt.joined = true
		if err := c.Assign(e.Partitions); err != nil {
			rt.fatal = fmt.Errorf("streams: assign: %w", err)
			return nil
		}
		rt.assigned(e.Partitions)
	case kafka.RevokedPartitions:
		if !rt.closing {
			rt.a.setState(Rebalancing)
		}
		rt.joined = false
		rt.revoked()
		if err := c.Unassign(); err != nil {
			rt.logger.Warn("unassign", zap.Error(err))
		}
	}
	return nil
}

// revoked commits and closes every task; with the eager protocol a
// rebalance takes all partitions away.
func (rt *runtime) revoked() {
	clean := rt.fatal == nil && !rt.a.crash.Load()
	if clean && len(rt.runners) > 0 {
		if err := rt.commitAll(true); err != nil {
			rt.fatal = err
			clean = false
		}
	}
	rt.closeAll(clean)
	rt.assignment = nil
}

// closeAll closes every task, writing checkpoints when clean.
func (rt *runtime) closeAll(clean bool) {
	for id, r := range rt.runners {
		rt.a.unregister(id)
		var cp map[topicPartition]int64
		// Only a running task's stores reflect its changelogs up to the
		// producer's offsets; a task still restoring holds less (and the
		// producer's offsets may be from an earlier incarnation, or from
		// aborted writes): it keeps the checkpoint it had, if any.
		if clean && r.hasPersistent && r.started {
			cp = rt.prod.changelogOffsets(r.changelogs)
		}
		req := &closeRequest{clean: clean, checkpoint: cp}
		var err error
		if r.started {
			reply := make(chan error, 1)
			req.reply = reply
			r.send(control{close: req})
			err = <-reply
			<-r.done
		} else {
			rt.rest.remove(id)
			err = r.closeTask(req)
		}
		if err != nil {
			rt.logger.Warn("closing task", zap.Stringer("task", id), zap.Error(err))
		}
		rt.a.m.removeTask(id)
		delete(rt.runners, id)
	}
	for tp := range rt.inputs {
		rt.a.m.setLag(tp, -1)
	}
	rt.inputs = map[topicPartition]*input{}
}

// assigned creates the tasks of the assigned partitions and starts their
// restoration; their partitions stay paused until they run.
func (rt *runtime) assigned(parts []kafka.TopicPartition) {
	rt.assignment = append([]kafka.TopicPartition(nil), parts...)
	committed, err := rt.cons.Committed(parts, 30_000)
	if err != nil {
		rt.fatal = fmt.Errorf("streams: read committed offsets: %w", err)
		return
	}
	byTask := map[processor.TaskID][]kafka.TopicPartition{}
	for _, p := range committed {
		sub, ok := rt.a.topo.SubtopologyOf(*p.Topic)
		if !ok {
			continue
		}
		id := processor.TaskID{Subtopology: sub, Partition: p.Partition}
		byTask[id] = append(byTask[id], p)
	}
	var pause []kafka.TopicPartition
	for id, tps := range byTask {
		r, err := rt.createTask(id, tps)
		if err != nil {
			rt.fatal = err
			return
		}
		rt.runners[id] = r
		for i, in := range r.inputs {
			t := in.Topic
			pause = append(pause, kafka.TopicPartition{Topic: &t, Partition: in.Partition})
			handed := r.processed[i].Load()
			rt.inputs[topicPartition{in.Topic, in.Partition}] = &input{tp: topicPartition{in.Topic, in.Partition},
				r: r, idx: i, handed: handed, paused: true, lag: -2}
		}
		if len(tps) != len(r.inputs) {
			rt.logger.Error("task got only some of its co-partitioned partitions; check that every member subscribes "+
				"to the same topics", zap.Stringer("task", id), zap.Int("assigned", len(tps)), zap.Int("expected", len(r.inputs)))
		}
	}
	if len(pause) > 0 {
		if err := rt.cons.Pause(pause); err != nil {
			rt.logger.Warn("pause", zap.Error(err))
		}
	}
	rt.logger.Info("partitions assigned", zap.Int("partitions", len(parts)), zap.Int("tasks", len(byTask)))
}

// createTask builds a task, opens its stores and hands its logged stores to
// the restorer (or starts it at once when it has none).
func (rt *runtime) createTask(id processor.TaskID, committed []kafka.TopicPartition) (*runner, error) {
	td, err := rt.dir.LockTask(id.String())
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*runner, error) {
		td.Unlock()
		return nil, err
	}
	cp, err := td.ReadCheckpoint()
	if err != nil {
		rt.logger.Warn("ignoring unreadable checkpoint; stores restore from their changelogs' start", zap.Error(err))
		cp = nil
	}
	sub := rt.a.topo.Subtopologies()[id.Subtopology]
	var logged []changelogSpec
	for _, name := range sub.Stores {
		if spec, ok := rt.plan.byStore[name]; ok {
			logged = append(logged, spec)
		}
	}
	if rt.eos {
		// Without a checkpoint, a persistent store's files may hold writes
		// of aborted transactions: wipe them and restore committed data.
		for _, spec := range logged {
			if _, ok := cp[statedir.TopicPartition{Topic: spec.topic, Partition: id.Partition}]; !ok {
				if err := td.WipeStore(spec.store); err != nil {
					return fail(err)
				}
			}
		}
		// From now until a clean close, a crash must make the next start
		// wipe again.
		if err := td.DeleteCheckpoint(); err != nil {
			return fail(err)
		}
	}
	col := newCollector(rt.prod, rt.cfg.ApplicationID, id.Partition)
	tcfg := task.Config{ID: id, ApplicationID: rt.cfg.ApplicationID, Topology: rt.a.topo, Collector: col,
		Logger: rt.logger, MaxTaskIdle: rt.cfg.MaxTaskIdle, DefaultTimestampExtractor: rt.cfg.DefaultTimestampExtractor,
		DeserializationHandler: rt.cfg.DeserializationHandler, ProcessingHandler: rt.cfg.ProcessingHandler,
		StateDir: td.Path(), Cache: rt.cache, GlobalStores: rt.globals.views}
	if len(logged) > 0 {
		tcfg.Changelog = col
	}
	tk, err := task.New(tcfg)
	if err != nil {
		return fail(fmt.Errorf("streams: task %s: %w", id, err))
	}
	if err := tk.InitializeStores(); err != nil {
		tk.Close()
		return fail(fmt.Errorf("streams: task %s: %w", id, err))
	}
	r := &runner{id: id, task: tk, dir: td, col: col, in: newInputQueue(), ctrl: make(chan control),
		failures: rt.failures, done: make(chan struct{}), logger: rt.logger, metrics: rt.a.m,
		commitReq: &atomic.Bool{}, inputs: tk.Partitions(), lastCheckpoint: map[topicPartition]int64{}}
	r.processed = make([]atomic.Int64, len(r.inputs))
	for i := range r.processed {
		r.processed[i].Store(-1)
	}
	for _, p := range committed {
		for i, in := range r.inputs {
			if in.Topic == *p.Topic && in.Partition == p.Partition && p.Offset >= 0 {
				r.processed[i].Store(int64(p.Offset))
			}
		}
		if p.Metadata != nil {
			if t, ok, err := decodePartitionTime(*p.Metadata); err != nil {
				rt.logger.Warn("ignoring commit metadata", zap.String("topic", *p.Topic), zap.Int32("partition", p.Partition), zap.Error(err))
			} else if ok {
				if err := tk.SetPartitionTime(*p.Topic, p.Partition, t); err != nil {
					tk.Close()
					return fail(err)
				}
			}
		}
	}
	rt.a.m.addTask(id, tk.Stats())
	x := &restoration{id: id}
	for _, spec := range logged {
		st, _ := tk.Store(spec.store)
		target, ok := store.RestoreTarget(st)
		if !ok {
			continue
		}
		tp := topicPartition{spec.topic, id.Partition}
		r.changelogs = append(r.changelogs, tp)
		start := int64(kafka.OffsetBeginning)
		if st.Persistent() {
			r.hasPersistent = true
			if o, ok := cp[statedir.TopicPartition{Topic: spec.topic, Partition: id.Partition}]; ok {
				start = o
				r.lastCheckpoint[tp] = o
			}
		}
		x.parts = append(x.parts, &restorePart{tp: tp, store: spec.store, target: target, start: start})
	}
	if len(x.parts) == 0 {
		if err := rt.startTask(r); err != nil {
			tk.Close()
			return fail(err)
		}
		return r, nil
	}
	rt.rest.add(x)
	return r, nil
}

// restored starts a task whose stores caught up with their changelogs.
func (rt *runtime) restored(res restoreResult) error {
	r, ok := rt.runners[res.id]
	if !ok {
		return nil // revoked meanwhile
	}
	if res.err != nil {
		return res.err
	}
	return rt.startTask(r)
}

func (rt *runtime) startTask(r *runner) error {
	if err := r.task.CompleteRestoration(); err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	rt.a.register(r.id, r.task)
	r.start()
	return nil
}

// shutdown stops everything the run started; it commits first when the run
// ended cleanly.
func (rt *runtime) shutdown(errp *error) {
	crashed := errors.Is(*errp, errCrashed)
	if crashed {
		*errp = nil
	}
	clean := *errp == nil && !crashed
	if rt.cons != nil {
		if clean && len(rt.runners) > 0 {
			if err := rt.commitAll(true); err != nil {
				*errp = err
				clean = false
			}
		}
		rt.closeAll(clean)
		rt.closing = true
		if err := rt.cons.Close(); err != nil {
			rt.logger.Warn("close consumer", zap.Error(err))
		}
	}
	if rt.rest != nil {
		rt.rest.close()
	}
	if rt.globals != nil {
		rt.globals.close()
	}
	if rt.prod != nil {
		switch {
		case crashed:
			rt.prod.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
		case rt.eos && !clean:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := rt.prod.p.AbortTransaction(ctx); err != nil {
				rt.logger.Debug("abort on shutdown", zap.Error(err))
			}
			cancel()
		case !rt.eos:
			if err := rt.prod.flush(30 * time.Second); err != nil && *errp == nil {
				*errp = err
			}
		}
		rt.prod.close()
	}
}
