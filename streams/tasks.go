package streams

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/task"
)

// ErrPartialAssignment is wrapped by the error for a task that was assigned
// only some of its co-partitioned input partitions (members of the group
// subscribe to different topics, for instance during a rolling upgrade): a
// join or any other use of co-partitioned inputs would give wrong results,
// so the App refuses to run it.
var ErrPartialAssignment = errors.New("streams: task assigned only some of its co-partitioned partitions")

// taskManager owns the instance's tasks and their lifecycle (Kafka Streams'
// TaskManager): it turns assigned partitions into tasks, hands their
// logged stores to the restorer, starts them once restored, and closes
// them, or gives up on them when a processor does not return. It runs on
// the runtime's goroutine.
type taskManager struct {
	a        *App
	cfg      *Config
	logger   *zap.Logger
	plan     *plan
	dir      *statedir.Dir
	cache    *store.Cache
	rest     *restorer
	globals  map[string]store.StateStore
	failures chan taskFailure
	eos      bool
	// prod is the current producer; the runtime replaces it after a
	// fencing, once every task is closed.
	prod *producer

	runners map[processor.TaskID]*runner
	// abandoned are tasks given up on whose goroutine may still be inside
	// a processor call (holding the task's state directory).
	abandoned map[processor.TaskID]*runner
}

// create builds a task, opens its stores and hands its logged stores to the
// restorer (or starts it at once when it has none). ignoreCheckpoint makes
// every store restore from its changelog's start.
func (tm *taskManager) create(id processor.TaskID, committed []kafka.TopicPartition, ignoreCheckpoint bool) (*runner, error) {
	td, err := tm.dir.LockTask(id.String())
	if err != nil {
		if old, ok := tm.abandoned[id]; ok && errors.Is(err, statedir.ErrLocked) {
			select {
			case <-old.done:
			default:
				return nil, fmt.Errorf("streams: task %s cannot reopen: it was given up on while a processor call did not return, "+
					"and that call still runs, holding the task's state: %w", id, err)
			}
		}
		return nil, err
	}
	fail := func(err error) (*runner, error) {
		if uerr := td.Unlock(); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return nil, err
	}
	cp, err := td.ReadCheckpoint()
	if err != nil {
		tm.logger.Warn("ignoring unreadable checkpoint; stores restore from their changelogs' start",
			zap.Stringer("task", id), zap.Error(err))
		cp = nil
	}
	if ignoreCheckpoint {
		cp = nil
	}
	sub := tm.a.topo.Subtopologies()[id.Subtopology]
	var logged []changelogSpec
	for _, name := range sub.Stores {
		if spec, ok := tm.plan.byStore[name]; ok {
			logged = append(logged, spec)
		}
	}
	// Stores restored from the topic their table is read from.
	var sourced []sourceStore
	for _, name := range sub.Stores {
		if ss, ok := tm.plan.sources[name]; ok {
			sourced = append(sourced, ss)
		}
	}
	if tm.eos || ignoreCheckpoint {
		// Under exactly-once, without a checkpoint a persistent store's
		// files may hold writes of aborted transactions; a store to be
		// restored from the start must not keep what it held either.
		wipe := func(name, topic string) error {
			if _, ok := cp[statedir.TopicPartition{Topic: topic, Partition: id.Partition}]; ok {
				return nil
			}
			return td.WipeStore(name)
		}
		for _, spec := range logged {
			if err := wipe(spec.store, spec.topic); err != nil {
				return fail(err)
			}
		}
		for _, ss := range sourced {
			if err := wipe(ss.name, ss.topic); err != nil {
				return fail(err)
			}
		}
	}
	if tm.eos || ignoreCheckpoint {
		// Under exactly-once, from now until a clean close, a crash must
		// make the next start wipe again. An ignored checkpoint no longer
		// describes the stores (wiped, restoring from the start): a crash
		// must not make the next start trust it.
		if err := td.DeleteCheckpoint(); err != nil {
			return fail(err)
		}
	}
	col := newCollector(tm.prod, tm.cfg.ApplicationID, id, tm.logger)
	tcfg := task.Config{ID: id, ApplicationID: tm.cfg.ApplicationID, Topology: tm.a.topo, Collector: col,
		Logger: tm.logger, MaxTaskIdle: tm.cfg.MaxTaskIdle, DefaultTimestampExtractor: tm.cfg.DefaultTimestampExtractor,
		DeserializationHandler: tm.cfg.DeserializationHandler, ProcessingHandler: tm.cfg.ProcessingHandler,
		StateDir: td.Path(), Cache: tm.cache, GlobalStores: tm.globals, DeadLetterQueueTopic: tm.cfg.DeadLetterQueueTopic,
		Punctuated: tm.a.m.punctuated(id), MeterSinks: tm.a.m.debug}
	if len(logged) > 0 {
		tcfg.Changelog = col
	}
	tk, err := task.New(tcfg)
	if err != nil {
		tm.prod.retire(col)
		return fail(fmt.Errorf("streams: task %s: %w", id, err))
	}
	col.bind(tk)
	if err := tk.InitializeStores(); err != nil {
		tm.prod.retire(col)
		return fail(errors.Join(fmt.Errorf("streams: task %s: %w", id, err), tk.Close()))
	}
	r := &runner{id: id, task: tk, dir: td, col: col, in: newInputQueue(), ctrl: make(chan control, 1),
		failures: tm.failures, done: make(chan struct{}), abandoned: make(chan struct{}), logger: tm.logger,
		metrics: tm.a.m, inputs: tk.Partitions(), lastCheckpoint: map[topicPartition]int64{}}
	r.initProcessed(committed)
	r.noteExpected(committed)
	closeFail := func(err error) (*runner, error) {
		tm.prod.retire(col)
		return fail(errors.Join(err, tk.Close()))
	}
	for _, p := range committed {
		if p.Metadata != nil {
			if t, ok, err := decodePartitionTime(*p.Metadata); err != nil {
				tm.logger.Warn("ignoring commit metadata", zap.String("topic", *p.Topic), zap.Int32("partition", p.Partition), zap.Error(err))
			} else if ok {
				if err := tk.SetPartitionTime(*p.Topic, p.Partition, t); err != nil {
					return closeFail(err)
				}
			}
		}
	}
	tm.a.m.addTask(id, tk)
	x := &restoration{id: id}
	var stale []statedir.TopicPartition // checkpointed stores found wiped
	// part returns the restoration of one store from partition tp (nil
	// for a store that cannot be restored, which has no restore target).
	part := func(name string, tp topicPartition) *restorePart {
		st, _ := tk.Store(name)
		target, ok := store.RestoreTarget(st)
		if !ok {
			return nil
		}
		start := int64(kafka.OffsetBeginning)
		fromCheckpoint := false
		if st.Persistent() {
			r.hasPersistent = true
			if o, ok := cp[statedir.TopicPartition{Topic: tp.topic, Partition: tp.partition}]; ok {
				if store.WasWiped(st) {
					// Its files were unreadable and the backend wiped them
					// (rocksdb.Config.WipeCorrupt): the checkpoint describes
					// data that is gone.
					tm.logger.Warn("store was wiped as unreadable; restoring it from its changelog's start",
						zap.Stringer("task", id), zap.String("store", name), zap.Int64("checkpoint", o))
					stale = append(stale, statedir.TopicPartition{Topic: tp.topic, Partition: tp.partition})
				} else {
					start, fromCheckpoint = o, true
					r.lastCheckpoint[tp] = o
				}
			}
		}
		return &restorePart{tp: tp, store: name, target: target, start: start, fromCheckpoint: fromCheckpoint}
	}
	for _, spec := range logged {
		tp := topicPartition{spec.topic, id.Partition}
		if p := part(spec.store, tp); p != nil {
			r.changelogs = append(r.changelogs, tp)
			r.stores = append(r.stores, restoredStore{tp: tp, store: spec.store})
			x.parts = append(x.parts, p)
		}
	}
	for _, ss := range sourced {
		tp := topicPartition{ss.topic, id.Partition}
		p := part(ss.name, tp)
		if p == nil {
			st, _ := tk.Store(ss.name)
			tm.a.m.removeTask(id)
			return closeFail(fmt.Errorf("streams: task %s: store %q is restored from source topic %s, but it is a %T, "+
				"which the store package did not build: it has no restore target", id, ss.name, ss.topic, st))
		}
		// Restored up to the group's committed offset of the partition:
		// the records after it are processed again.
		p.source, p.convert, p.committed = true, ss.convert, -1
		for _, c := range committed {
			if *c.Topic == ss.topic && c.Partition == id.Partition && c.Offset >= 0 {
				p.committed = int64(c.Offset)
			}
		}
		r.sources = append(r.sources, tp)
		r.stores = append(r.stores, restoredStore{tp: tp, store: ss.name, source: true, convert: ss.convert})
		x.parts = append(x.parts, p)
	}
	if len(stale) > 0 && !tm.eos && !ignoreCheckpoint { // otherwise deleted already
		// The file must stop claiming the wiped stores' offsets, or a
		// crash before the next checkpoint makes the next start trust them.
		keep := maps.Clone(cp)
		for _, tp := range stale {
			delete(keep, tp)
		}
		if err := td.WriteCheckpoint(keep); err != nil {
			tm.a.m.removeTask(id)
			return closeFail(err)
		}
	}
	r.committed = committed
	if len(x.parts) == 0 {
		if err := tm.start(r); err != nil {
			tm.a.m.removeTask(id)
			return closeFail(err)
		}
		return r, nil
	}
	tm.rest.add(x)
	return r, nil
}

// restored starts a task whose stores caught up with their changelogs, or
// recreates one whose checkpoint the restorer found wrong (returning the
// new runner).
func (tm *taskManager) restored(res restoreResult) (*runner, error) {
	r, ok := tm.runners[res.id]
	if !ok || r.started {
		return nil, nil // revoked meanwhile
	}
	if res.err != nil {
		return nil, res.err
	}
	if len(res.wipe) > 0 {
		tm.logger.Warn("checkpoint is beyond the changelog's end (the changelog was deleted or truncated, or the "+
			"checkpoint is corrupt): wiping the stores and restoring them from the changelog's start",
			zap.Stringer("task", res.id), zap.Strings("stores", res.wipe), zap.String("detail", res.reason))
		committed := r.committed
		tm.a.m.removeTask(r.id)
		tm.prod.retire(r.col)
		if err := r.closeTask(&closeRequest{}); err != nil {
			return nil, fmt.Errorf("streams: task %s: close before wiping: %w", r.id, err)
		}
		delete(tm.runners, res.id)
		nr, err := tm.create(res.id, committed, true)
		if err != nil {
			return nil, err
		}
		nr.reuseInputs(r)
		tm.runners[res.id] = nr
		return nr, nil
	}
	r.restoredTo = res.restoredTo
	return nil, tm.start(r)
}

func (tm *taskManager) start(r *runner) error {
	if err := r.task.CompleteRestoration(); err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	tm.a.register(r.id, r.task)
	r.start()
	return nil
}

// started returns the running tasks ordered by id.
func (tm *taskManager) started() []*runner {
	var out []*runner
	for _, r := range tm.runners {
		if r.started {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *runner) int { return a.id.Compare(b.id) })
	return out
}

// closeAll closes every task, writing checkpoints when clean. It returns
// the tasks given up on (see closeSome).
func (tm *taskManager) closeAll(clean bool, lateDeadline, deadline time.Time, awaitLate func(*runner, time.Time) bool) []*runner {
	ids := make([]processor.TaskID, 0, len(tm.runners))
	for id := range tm.runners {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	return tm.closeSome(ids, clean, lateDeadline, deadline, awaitLate)
}

// closeSome closes the tasks ids (sorted), writing checkpoints when clean.
// Tasks close at once, not one after another: every running task is sent
// its close first. A task with an unanswered commit request (inside a
// processor call) gets until lateDeadline to answer, then its close, dirty
// (it was not in the last commit, so under exactly-once its writes since
// are in a transaction nobody commits); one that does not answer is given
// up on. Every other task gets until deadline to close. A suspended task
// (kept across a rebalance, its goroutine gone) is closed here at once.
// It returns the tasks given up on.
func (tm *taskManager) closeSome(ids []processor.TaskID, clean bool, lateDeadline, deadline time.Time, awaitLate func(*runner, time.Time) bool) []*runner {
	type closing struct {
		r     *runner
		reply chan error
	}
	var sent []closing
	var abandoned []*runner
	closeOne := func(r *runner, clean bool) {
		var cp map[topicPartition]int64
		// Only a running task's stores reflect its changelogs up to the
		// producer's offsets; a task still restoring holds less (and the
		// producer's offsets may be from an earlier incarnation, or from
		// aborted writes): it keeps the checkpoint it had, if any.
		if clean && r.hasPersistent && (r.started || r.suspended) {
			cp = r.changelogPositions(tm.prod)
		}
		req := &closeRequest{clean: clean, checkpoint: cp}
		if !r.started {
			if !r.suspended {
				tm.rest.remove(r.id)
			}
			if err := r.closeTask(req); err != nil {
				tm.logger.Warn("closing task", zap.Stringer("task", r.id), zap.Error(err))
			}
			tm.prod.retire(r.col)
			return
		}
		reply := make(chan error, 1)
		req.reply = reply
		r.send(control{close: req})
		sent = append(sent, closing{r, reply})
	}
	var late []*runner
	for _, id := range ids {
		r := tm.runners[id]
		tm.a.unregister(id)
		if r.started && r.pending != nil {
			late = append(late, r)
			continue
		}
		closeOne(r, clean)
	}
	for _, r := range late {
		if !awaitLate(r, lateDeadline) {
			tm.abandon(r, "did not answer a commit request before the close deadline")
			abandoned = append(abandoned, r)
			continue
		}
		closeOne(r, false)
	}
	for _, c := range sent {
		select {
		case err := <-c.reply:
			<-c.r.done
			tm.prod.retire(c.r.col)
			if err != nil {
				tm.logger.Warn("closing task", zap.Stringer("task", c.r.id), zap.Error(err))
			}
		case <-time.After(time.Until(deadline)):
			tm.abandon(c.r, "did not close before the close deadline")
			abandoned = append(abandoned, c.r)
		}
	}
	for _, id := range ids {
		tm.forget(id)
	}
	slices.SortFunc(abandoned, func(a, b *runner) int { return a.id.Compare(b.id) })
	return abandoned
}

// forget drops a task closed, or given up on, from the instance's tasks;
// its counters stay in the metrics.
func (tm *taskManager) forget(id processor.TaskID) {
	tm.a.m.removeTask(id)
	delete(tm.runners, id)
}

// abandon gives up on a task whose processor does not return: its context
// is cancelled, its collector refuses every send from now on (so nothing it
// does reaches an output or a changelog), and its goroutine closes the task
// when the call returns. Its state directory stays locked until then.
func (tm *taskManager) abandon(r *runner, why string) {
	quiet := r.col.close(time.Now().Add(time.Second))
	r.task.Cancel()
	close(r.abandoned)
	if tm.abandoned == nil {
		tm.abandoned = map[processor.TaskID]*runner{}
	}
	tm.abandoned[r.id] = r
	tm.logger.Error("giving up on a task whose processor does not return: its context is cancelled, it can produce "+
		"nothing more, and its records since the last commit will be processed again by the next owner",
		zap.Stringer("task", r.id), zap.String("why", why), zap.Duration("waited", time.Since(r.pendingSince)),
		zap.String("inputs", r.positions()), zap.Bool("sends_quiet", quiet))
}

// changelogPositions returns, per changelog partition of the task, the
// offset its stores reflect: after its last acknowledged write, or where
// restoration brought it if it wrote nothing since (or only before an
// earlier close: the later of the two).
//
// A store restored from its table's source topic reflects that topic up
// to the task's last committed offset of the partition (or where
// restoration brought it, before any commit).
func (r *runner) changelogPositions(pr *producer) map[topicPartition]int64 {
	cur := pr.changelogOffsets(r.changelogs)
	for tp, o := range r.restoredTo {
		if o > cur[tp] {
			cur[tp] = o
		}
	}
	for tp, o := range r.sourceCommitted {
		if o > cur[tp] {
			cur[tp] = o
		}
	}
	return cur
}

// noteCommitted records a successful commit of the task's offsets: what
// its state now reflects (see atOffsets), and the committed offsets of the
// partitions of source topics whose stores take them as checkpoints.
func (r *runner) noteCommitted(offsets []partitiongroup.Offset) {
	r.inFinalCommit = true
	for _, o := range offsets {
		r.expect[topicPartition{o.Topic, o.Partition}] = o.Offset
	}
	if len(r.sources) == 0 {
		return
	}
	for _, o := range offsets {
		for _, tp := range r.sources {
			if tp.topic == o.Topic && tp.partition == o.Partition {
				if r.sourceCommitted == nil {
					r.sourceCommitted = map[topicPartition]int64{}
				}
				r.sourceCommitted[tp] = o.Offset
			}
		}
	}
}

// positions describes where a task is in its inputs, for messages.
func (r *runner) positions() string {
	var b strings.Builder
	for i, in := range r.inputs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s-%d@%d", in.Topic, in.Partition, r.processed[i].Load())
	}
	return b.String()
}

// initProcessed publishes the committed offsets the task starts from as
// its next offsets to process (-1: none committed).
func (r *runner) initProcessed(committed []kafka.TopicPartition) {
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
	}
}

// reuseInputs carries a recreated task's published positions over.
func (r *runner) reuseInputs(old *runner) {
	for i := range r.processed {
		if i < len(old.processed) {
			r.processed[i].Store(old.processed[i].Load())
		}
	}
}

// checkCoPartitioned refuses tasks that got only some of their input
// partitions, naming what is missing.
func checkCoPartitioned(topo *processor.Topology, byTask map[processor.TaskID][]kafka.TopicPartition) error {
	var problems []string
	ids := make([]processor.TaskID, 0, len(byTask))
	for id := range byTask {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	for _, id := range ids {
		have := map[string]bool{}
		for _, tp := range byTask[id] {
			have[*tp.Topic] = true
		}
		var got, missing []string
		for _, topic := range topo.Subtopologies()[id.Subtopology].SourceTopics {
			name := fmt.Sprintf("%s-%d", topic, id.Partition)
			if have[topic] {
				got = append(got, name)
			} else {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("task %s got %s but not %s", id, strings.Join(got, ", "), strings.Join(missing, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s (every member of the group must subscribe to the same topics; with the range assignor, "+
		"co-partitioned topics must have equal partition counts)", ErrPartialAssignment, strings.Join(problems, "; "))
}
