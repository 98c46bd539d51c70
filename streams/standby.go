package streams

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/task"
)

// StandbyAll is the Config.StandbyReplicas value that keeps, on every
// instance, a standby of every stateful task the instance does not run
// (goka's hot standby): any failover or move restores only what the
// standby had not fetched yet, at the cost of every instance holding and
// following the whole state.
const StandbyAll = -1

// standbyReconcileEvery is how often the runtime reconciles its standbys
// with the ones it wants, besides after every assignment.
const standbyReconcileEvery = 5 * time.Second

// Standby tasks (Kafka Streams' StandbyTask): a standby holds a task's
// persistent logged stores, opened under the task's directory lock, with
// no processors and no input partitions. The restorer feeds them from the
// changelogs (standbyfeed.go; read_committed under exactly-once), so they
// hold committed data only.
//
// Invariants:
//   - The active task and a standby of it never hold the task directory
//     together (statedir.LockTask); a standby is closed (flushed,
//     checkpointed, unlocked) before the active task of its id is created,
//     so the active restores only from the standby's checkpoint on.
//   - A standby starts from its checkpoint, which it does not delete, under
//     exactly-once too: it holds committed data only. A store without a
//     checkpoint entry is wiped at open and followed from the changelog's
//     start: its files may hold anything (an exactly-once task's aborted
//     writes).
//   - Stores restored from a source topic (store.SourceChangelog) and
//     in-memory stores are not fed: the first could only follow the group's
//     committed offsets, the second would be lost at promotion anyway. Their
//     checkpoint entries are kept as they are. A task with no persistent
//     logged store gets no standby.
//   - Everything here runs on the runtime's goroutine.
type standbyManager struct {
	cfg    *Config
	logger *zap.Logger
	topo   *processor.Topology
	plan   *plan
	dir    *statedir.Dir
	cache  *store.Cache
	rest   *restorer
	m      *metrics

	tasks map[processor.TaskID]*standbyTask
	// stateless are tasks found to have no store a standby can feed.
	stateless map[processor.TaskID]bool
	last      time.Time
}

// standbyTask is one open standby.
type standbyTask struct {
	id   processor.TaskID
	dir  *statedir.TaskDir
	task *task.Task
}

func newStandbyManager(th *thread) *standbyManager {
	return &standbyManager{cfg: th.cfg, logger: th.logger, topo: th.a.topo, plan: th.tasks.plan, dir: th.dir,
		cache: th.tasks.cache, rest: th.rest, m: th.a.m, tasks: map[processor.TaskID]*standbyTask{},
		stateless: map[processor.TaskID]bool{}, last: time.Now()}
}

// wantedStandbys is the one seam of standby placement: the tasks this
// instance should keep standbys of now (those it runs active are left out
// by the caller), from the placement's source (standbyplace.go); ok is
// false while the source does not know, and the standbys held stay.
func (th *thread) wantedStandbys() (map[processor.TaskID]bool, bool) {
	if th.standbySource == nil {
		return nil, false
	}
	return th.standbySource.wanted()
}

// allStandbys is the source of StandbyAll: every task of every
// sub-topology with logged stores, over the partition counts of the plan.
type allStandbys struct{ plan *plan }

func (s allStandbys) wanted() (map[processor.TaskID]bool, bool) {
	out := map[processor.TaskID]bool{}
	for _, sub := range s.plan.statefulSubtopologies() {
		for p := range s.plan.subParts[sub] {
			out[processor.TaskID{Subtopology: sub, Partition: p}] = true
		}
	}
	return out, true
}

func (allStandbys) refresh() {}
func (allStandbys) close()   {}

// statefulSubtopologies are the sub-topologies with changelogged stores,
// sorted.
func (p *plan) statefulSubtopologies() []int {
	var out []int
	for _, spec := range p.changelogs {
		if !slices.Contains(out, spec.sub) {
			out = append(out, spec.sub)
		}
	}
	slices.Sort(out)
	return out
}

// startStandbys sets up the standby manager and the placement source
// (nil without standbys). It runs once the consumer exists.
func (th *thread) startStandbys() error {
	if th.cfg.StandbyReplicas == 0 {
		return nil
	}
	if th.cfg.StandbyReplicas == StandbyAll {
		th.standbySource = allStandbys{plan: th.tasks.plan}
	} else {
		rs, err := newRangeStandbys(th, th.cfg.StandbyReplicas)
		if err != nil {
			return err
		}
		th.standbySource = rs
	}
	th.standbys = newStandbyManager(th)
	return nil
}

// reconcileStandbys opens the standbys wanted and not active here and
// closes (cleanly) those no longer wanted or now active. It runs after
// every assignment and every standbyReconcileEvery; between a revoke and
// the next assignment it does nothing.
func (th *thread) reconcileStandbys() {
	sm := th.standbys
	if sm == nil || !th.joined || th.fatal != nil {
		return
	}
	sm.last = time.Now()
	want, known := th.wantedStandbys()
	if !known {
		return // the standbys held stay until the placement is known
	}
	for id := range th.tasks.runners {
		delete(want, id)
	}
	for _, id := range slices.SortedFunc(maps.Keys(sm.tasks), processor.TaskID.Compare) {
		if !want[id] {
			sm.close(id, true)
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(want), processor.TaskID.Compare) {
		if _, ok := sm.tasks[id]; ok || sm.stateless[id] {
			continue
		}
		if err := sm.open(id, false); err != nil {
			if errors.Is(err, statedir.ErrLocked) {
				sm.logger.Debug("standby task not opened yet: its directory is held", zap.Stringer("task", id), zap.Error(err))
			} else {
				sm.logger.Warn("opening standby task; trying again later", zap.Stringer("task", id), zap.Error(err))
			}
		}
	}
}

// maybeReconcileStandbys reconciles on the timer.
func (th *thread) maybeReconcileStandbys() {
	if th.standbys != nil && time.Since(th.standbys.last) >= standbyReconcileEvery {
		th.reconcileStandbys()
	}
}

// release closes, cleanly, the standbys of tasks about to become active
// here (promotion): their stores are flushed and checkpointed and their
// directories unlocked before the active tasks open them.
func (sm *standbyManager) release(ids []processor.TaskID) {
	if sm == nil {
		return
	}
	for _, id := range ids {
		if _, ok := sm.tasks[id]; ok {
			sm.close(id, true)
			sm.logger.Info("standby task promoted to active", zap.Stringer("task", id))
		}
	}
}

// checkpointTick asks the restorer to checkpoint the standbys that moved
// enough (the commit tick); it never blocks the runtime.
func (sm *standbyManager) checkpointTick() {
	if sm == nil || len(sm.tasks) == 0 {
		return
	}
	select {
	case sm.rest.cmds <- restoreCmd{checkpoint: true}:
	default: // the restorer is busy with commands: the next tick
	}
}

// addAssigned marks the standbys' tasks as assigned for the state cleaner.
func (sm *standbyManager) addAssigned(assigned map[string]bool) {
	if sm == nil {
		return
	}
	for id := range sm.tasks {
		assigned[id.String()] = true
	}
}

// closeAll closes every standby (at shutdown); clean checkpoints them.
func (sm *standbyManager) closeAll(clean bool) {
	if sm == nil {
		return
	}
	for _, id := range slices.SortedFunc(maps.Keys(sm.tasks), processor.TaskID.Compare) {
		sm.close(id, clean)
	}
}

// result handles what the restorer reported of a standby: a state that no
// longer matches its changelog is wiped and rebuilt from the start; any
// other failure closes the standby, which the next reconcile reopens.
func (sm *standbyManager) result(res restoreResult) {
	if sm == nil {
		return
	}
	if _, ok := sm.tasks[res.id]; !ok {
		return // closed meanwhile
	}
	if len(res.wipe) == 0 {
		sm.logger.Warn("standby task failed; closing it, to be reopened", zap.Stringer("task", res.id), zap.Error(res.err))
		sm.close(res.id, false)
		return
	}
	sm.logger.Warn("standby state does not match its changelog (deleted, truncated or recreated): wiping it and "+
		"following the changelog from its start", zap.Stringer("task", res.id), zap.Strings("stores", res.wipe),
		zap.String("detail", res.reason))
	sm.close(res.id, false)
	if err := sm.open(res.id, true); err != nil {
		sm.logger.Warn("reopening wiped standby task; trying again later", zap.Stringer("task", res.id), zap.Error(err))
	}
}

// close stops a standby: the restorer lets go of it (checkpointing it
// first when clean), then its stores close and its directory unlocks.
func (sm *standbyManager) close(id processor.TaskID, clean bool) {
	st, ok := sm.tasks[id]
	if !ok {
		return
	}
	delete(sm.tasks, id)
	sm.rest.removeTask(id, clean)
	if err := errors.Join(st.task.Close(), st.dir.Unlock()); err != nil {
		sm.logger.Warn("closing standby task", zap.Stringer("task", id), zap.Error(err))
	}
	sm.m.standbyClosed(id)
}

// open opens a standby of task id and hands it to the restorer; fresh
// wipes its fed stores and deletes its checkpoint first.
func (sm *standbyManager) open(id processor.TaskID, fresh bool) error {
	td, err := sm.dir.LockTask(id.String())
	if err != nil {
		return err
	}
	fail := func(err error) error { return errors.Join(err, td.Unlock()) }
	var logged []changelogSpec
	for _, name := range sm.topo.Subtopologies()[id.Subtopology].Stores {
		if spec, ok := sm.plan.byStore[name]; ok {
			logged = append(logged, spec)
		}
	}
	if fresh {
		for _, spec := range logged {
			if err := td.WipeStore(spec.store); err != nil {
				return fail(err)
			}
		}
		if err := td.DeleteCheckpoint(); err != nil {
			return fail(err)
		}
	}
	cp, err := td.ReadCheckpoint()
	if err != nil {
		sm.logger.Warn("ignoring unreadable checkpoint; the standby follows its changelogs from the start",
			zap.Stringer("task", id), zap.Error(err))
		cp = nil
	}
	for _, spec := range logged {
		if _, ok := cp[statedir.TopicPartition{Topic: spec.topic, Partition: id.Partition}]; !ok {
			// Files without a checkpoint may hold anything: start empty.
			if err := td.WipeStore(spec.store); err != nil {
				return fail(err)
			}
		}
	}
	tk, err := task.New(task.Config{ID: id, ApplicationID: sm.cfg.ApplicationID, Topology: sm.topo,
		Collector: standbyCollector{id: id}, Logger: sm.logger, StateDir: td.Path(), Cache: sm.cache})
	if err != nil {
		return fail(fmt.Errorf("streams: standby task %s: %w", id, err))
	}
	if err := tk.InitializeStores(); err != nil {
		return fail(errors.Join(fmt.Errorf("streams: standby task %s: %w", id, err), tk.Close()))
	}
	keep := maps.Clone(cp)
	x := &restoration{id: id}
	feed := &standbyFeed{dir: td}
	for _, spec := range logged {
		st, _ := tk.Store(spec.store)
		target, ok := store.RestoreTarget(st)
		if !ok || !st.Persistent() {
			continue
		}
		tp := topicPartition{spec.topic, id.Partition}
		ctp := statedir.TopicPartition{Topic: spec.topic, Partition: id.Partition}
		delete(keep, ctp)
		start, fromCheckpoint := int64(kafka.OffsetBeginning), false
		if o, ok := cp[ctp]; ok && !store.WasWiped(st) {
			start, fromCheckpoint = o, true
		}
		x.parts = append(x.parts, &restorePart{tp: tp, store: spec.store, target: target, start: start, fromCheckpoint: fromCheckpoint})
		feed.stores = append(feed.stores, st)
	}
	if len(x.parts) == 0 {
		sm.stateless[id] = true
		return fail(tk.Close())
	}
	feed.keep = keep
	x.sb = feed
	sm.tasks[id] = &standbyTask{id: id, dir: td, task: tk}
	sm.m.standbyOpened(id)
	sm.rest.add(x)
	return nil
}

// standbyCollector is a standby task's collector: a standby runs no
// processor, so nothing may send through it.
type standbyCollector struct{ id processor.TaskID }

// Send refuses every record.
func (c standbyCollector) Send(topic string, _ int32, _, _ []byte, _ record.Headers, _ int64) error {
	return fmt.Errorf("streams: standby task %s sent a record to %s: standby tasks run no processors", c.id, topic)
}

// PartitionCount refuses too: no sink runs.
func (c standbyCollector) PartitionCount(topic string) (int32, error) {
	return 0, fmt.Errorf("streams: standby task %s asked for the partitions of %s: standby tasks run no processors", c.id, topic)
}
