package streams

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

// Metrics returns a snapshot of the App's metrics, computed now: it reads
// the counters the tasks published (once per chunk of records), their
// stores' caches and backends, and what the runtime keeps. It is safe from
// any goroutine, at any time (before Run, while it runs, after it
// returned), and costs the tasks nothing but the store reads (a cache's
// lock, RocksDB's property reads); call it at scrape time, not per record.
func (a *App) Metrics() Metrics {
	if a == nil || a.m == nil {
		return Metrics{}
	}
	return a.m.snapshot(a.State(), time.Now())
}

// metrics is what the runtime counts and the hooks it calls. The tasks'
// own counters are read from them (task.Stats, task.Metrics) when a
// snapshot is taken; everything here is updated off the per-record path
// (per chunk, per batch, per commit, per restore batch) under mu, or
// through atomics.
type metrics struct {
	appID    string
	hooks    *hooks
	debug    bool
	cacheMax int64

	productionDropped, deliveryDeadLettered, purges, purgeFailures atomic.Int64
	// placementMismatches counts assignments that differed from the
	// standby placement's prediction (standbyplace.go).
	placementMismatches atomic.Int64
	// storeMem is the RocksDB budget while the App runs with one.
	storeMem atomic.Pointer[storeMemory]

	mu sync.Mutex
	// live are the tasks the instance runs; retired, per task id, the
	// counters of its earlier runs on this instance.
	live    map[processor.TaskID]*liveTask
	retired map[processor.TaskID]*TaskMetrics
	lags    map[topicPartition]int64
	blocked map[processor.TaskID]time.Duration
	// globalDropped counts global-topic records skipped, by reason;
	// restoreSkipped source-topic records skipped by a restoration.
	globalDropped  map[string]int64
	restoreSkipped map[[2]string]int64
	restores       map[restoreKey]*restoreStat
	round          restoreRound
	// lifecycle counts, per task, its openings and resumptions.
	lifecycle map[processor.TaskID]*taskLifecycle
	// sb are the standby tasks' figures (standbymetrics.go).
	sb standbyStats
}

type taskLifecycle struct{ opened, resumed int64 }

type liveTask struct {
	t      *task.Task
	stores []store.StateStore
}

type restoreKey struct {
	task  processor.TaskID
	store string
}

// restoreStat is one store's restoration: restored counts every run's
// records; the rest describe the current (or last) run.
type restoreStat struct {
	topic      string
	partition  int32
	restored   int64
	start, end int64
	position   int64
	active     bool
	began      time.Time
	runRecords int64
}

// restoreRound is the current or last round of restorations (see
// RestoreProgress).
type restoreRound struct {
	stats   []*restoreStat
	started time.Time
	ended   time.Time
}

func newMetrics(cfg *Config, hs *hooks) *metrics {
	return &metrics{appID: cfg.ApplicationID, hooks: hs, debug: cfg.MetricsRecordingLevel == RecordDebug,
		cacheMax: cfg.CacheMaxBytes, live: map[processor.TaskID]*liveTask{}, retired: map[processor.TaskID]*TaskMetrics{},
		lags: map[topicPartition]int64{}, blocked: map[processor.TaskID]time.Duration{}, globalDropped: map[string]int64{},
		restoreSkipped: map[[2]string]int64{}, restores: map[restoreKey]*restoreStat{},
		lifecycle: map[processor.TaskID]*taskLifecycle{}}
}

// addTask starts reading a new task's counters.
func (m *metrics) addTask(id processor.TaskID, t *task.Task) {
	m.mu.Lock()
	m.live[id] = &liveTask{t: t, stores: t.Stores()}
	m.lifecycleOf(id).opened++
	m.mu.Unlock()
}

// placementMismatch counts an assignment the standby placement did not
// predict.
func (m *metrics) placementMismatch() { m.placementMismatches.Add(1) }

// taskResumed counts a task resumed after a rebalance (its counters were
// never removed: it stayed live while suspended).
func (m *metrics) taskResumed(id processor.TaskID) {
	m.mu.Lock()
	m.lifecycleOf(id).resumed++
	m.mu.Unlock()
}

// lifecycleOf returns a task's lifecycle counts; the caller holds mu.
func (m *metrics) lifecycleOf(id processor.TaskID) *taskLifecycle {
	lc := m.lifecycle[id]
	if lc == nil {
		lc = &taskLifecycle{}
		m.lifecycle[id] = lc
	}
	return lc
}

// removeTask keeps a closed task's counters with those of its earlier
// runs; its gauges end.
func (m *metrics) removeTask(id processor.TaskID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lt, ok := m.live[id]
	if !ok {
		return
	}
	delete(m.live, id)
	delete(m.blocked, id)
	final := readTask(id, lt, time.Now())
	r := m.retired[id]
	if r == nil {
		r = &TaskMetrics{ID: id}
		m.retired[id] = r
	}
	addCounters(r, final)
}

// setBlocked records how long a task has been late for a commit; 0 clears
// it.
func (m *metrics) setBlocked(id processor.TaskID, d time.Duration) {
	m.mu.Lock()
	if d <= 0 {
		delete(m.blocked, id)
	} else {
		m.blocked[id] = d
	}
	m.mu.Unlock()
}

// setLag records an input partition's lag; negative forgets it.
func (m *metrics) setLag(tp topicPartition, lag int64) {
	m.mu.Lock()
	if lag < 0 {
		delete(m.lags, tp)
	} else {
		m.lags[tp] = lag
	}
	m.mu.Unlock()
}

// dropped counts a record a global store skipped under reason.
func (m *metrics) dropped(reason string) {
	m.mu.Lock()
	m.globalDropped[reason]++
	m.mu.Unlock()
}

// deadLetteredDelivery counts a dead letter the producer wrote for a
// failed delivery.
func (m *metrics) deadLetteredDelivery() {
	if m != nil {
		m.deliveryDeadLettered.Add(1)
	}
}

// droppedProduction counts a record the producer could not deliver,
// dropped as the production handler said.
func (m *metrics) droppedProduction() { m.productionDropped.Add(1) }

// purged counts the partitions of internal topics purged, and those whose
// purge failed.
func (m *metrics) purged(ok, failed int) {
	m.purges.Add(int64(ok))
	m.purgeFailed(failed)
}

func (m *metrics) purgeFailed(n int) { m.purgeFailures.Add(int64(n)) }

// observeCommit reports a commit of tasks tasks and partitions offsets.
func (m *metrics) observeCommit(tasks, partitions int, took time.Duration) {
	m.hooks.onCommit(Commit{Tasks: tasks, Partitions: partitions, Took: took})
}

// observeProcess reports a chunk a task processed.
func (m *metrics) observeProcess(id processor.TaskID, n int, took time.Duration) {
	if len(m.hooks.processBatch) > 0 {
		m.hooks.onProcessBatch(ProcessBatch{Task: id, Records: n, Took: took})
	}
}

// punctuated returns task id's task.Config.Punctuated: nil, so that the
// task reads no clock for it, when no hook wants punctuations.
func (m *metrics) punctuated(id processor.TaskID) func(punctuate.Type, time.Duration) {
	if len(m.hooks.punctuate) == 0 {
		return nil
	}
	return func(typ punctuate.Type, took time.Duration) {
		m.hooks.onPunctuate(Punctuation{Task: id, Type: typ, Took: took})
	}
}

// rebalanced reports how a rebalance callback was handled.
func (m *metrics) rebalanced(phase RebalancePhase, partitions, tasks int, took time.Duration) {
	m.hooks.onRebalance(Rebalance{Phase: phase, Partitions: partitions, Tasks: tasks, Took: took})
}

// The restorer's reports, one store (and changelog partition) at a time.

func (m *metrics) restoreStarted(id processor.TaskID, storeName string, tp topicPartition, start, end int64) {
	now := time.Now()
	m.mu.Lock()
	if !m.round.active() {
		m.round = restoreRound{started: now}
	}
	k := restoreKey{id, storeName}
	s := m.restores[k]
	if s == nil {
		s = &restoreStat{}
		m.restores[k] = s
	}
	s.topic, s.partition, s.start, s.end, s.position = tp.topic, tp.partition, start, end, start
	s.active, s.began, s.runRecords = true, now, 0
	if !slices.Contains(m.round.stats, s) {
		m.round.stats = append(m.round.stats, s)
	}
	m.mu.Unlock()
	m.hooks.onRestoreStart(RestoreStart{Task: id, Store: storeName, Topic: tp.topic, Partition: tp.partition,
		StartOffset: start, EndOffset: end})
}

// restoreBatch reports n records written into a store, the last one at
// offset last.
func (m *metrics) restoreBatch(id processor.TaskID, storeName string, tp topicPartition, last int64, n int) {
	m.mu.Lock()
	if s := m.restores[restoreKey{id, storeName}]; s != nil {
		s.restored += int64(n)
		s.runRecords += int64(n)
		s.position = max(s.position, last+1)
	}
	m.mu.Unlock()
	m.hooks.onRestoreBatch(RestoreBatch{Task: id, Store: storeName, Topic: tp.topic, Partition: tp.partition,
		BatchEndOffset: last, Records: n})
}

// restorePosition reports how far a store's restoration has read (records
// skipped and offsets without records count too).
func (m *metrics) restorePosition(id processor.TaskID, storeName string, position int64) {
	m.mu.Lock()
	if s := m.restores[restoreKey{id, storeName}]; s != nil && s.active {
		s.position = max(s.position, min(position, s.end))
	}
	m.mu.Unlock()
}

func (m *metrics) restoreEnded(id processor.TaskID, storeName string, tp topicPartition) {
	now := time.Now()
	m.mu.Lock()
	var restored int64
	var took time.Duration
	if s := m.restores[restoreKey{id, storeName}]; s != nil {
		s.active, s.position = false, s.end
		restored, took = s.runRecords, now.Sub(s.began)
	}
	if !m.round.active() {
		m.round.ended = now
	}
	m.mu.Unlock()
	m.hooks.onRestoreEnd(RestoreEnd{Task: id, Store: storeName, Topic: tp.topic, Partition: tp.partition,
		Restored: restored, Took: took})
}

func (m *metrics) restoreSuspended(id processor.TaskID, storeName string, tp topicPartition) {
	now := time.Now()
	m.mu.Lock()
	var restored int64
	if s := m.restores[restoreKey{id, storeName}]; s != nil && s.active {
		s.active = false
		restored = s.runRecords
		// Out of the round: it will not finish in it.
		m.round.stats = slices.DeleteFunc(m.round.stats, func(x *restoreStat) bool { return x == s })
	}
	if !m.round.active() && m.round.ended.IsZero() {
		m.round.ended = now
	}
	m.mu.Unlock()
	m.hooks.onRestoreSuspended(RestoreSuspended{Task: id, Store: storeName, Topic: tp.topic, Partition: tp.partition,
		Restored: restored})
}

// restoreSkippedRecord counts a source-topic record a restoration skipped.
func (m *metrics) restoreSkippedRecord(storeName, reason string) {
	m.mu.Lock()
	m.restoreSkipped[[2]string{storeName, reason}]++
	m.mu.Unlock()
}

func (r *restoreRound) active() bool {
	for _, s := range r.stats {
		if s.active {
			return true
		}
	}
	return false
}

func (r *restoreRound) progress(now time.Time) RestoreProgress {
	p := RestoreProgress{Stores: len(r.stats), Started: r.started}
	for _, s := range r.stats {
		p.Offsets += s.end - s.start
		p.OffsetsDone += s.position - s.start
		p.Records += s.runRecords
		if s.active {
			p.Active = true
		} else {
			p.StoresDone++
		}
	}
	switch {
	case r.started.IsZero():
	case p.Active || r.ended.IsZero():
		p.Took = now.Sub(r.started)
	default:
		p.Took = r.ended.Sub(r.started)
	}
	return p
}

// snapshot computes Metrics.
func (m *metrics) snapshot(state State, now time.Time) Metrics {
	out := Metrics{ApplicationID: m.appID, State: state, Time: now, CacheMaxBytes: m.cacheMax,
		ProductionDropped: m.productionDropped.Load(), DeliveryDeadLettered: m.deliveryDeadLettered.Load(), Purges: m.purges.Load(), PurgeFailures: m.purgeFailures.Load(),
		PlacementMismatches: m.placementMismatches.Load(),
		HookPanics:          m.hooks.panics.Load()}
	if m.debug {
		out.Level = RecordDebug
	}
	if sm := m.storeMem.Load(); sm != nil && sm.stats != nil {
		st := sm.stats()
		out.StoreMemory = &st
	}
	// The live tasks are read without the lock: their stores' reads (a
	// cache's lock, RocksDB's properties) must not hold up the poll loop
	// and the restorer, which report here.
	m.mu.Lock()
	live := maps.Clone(m.live)
	m.mu.Unlock()
	readings := make(map[processor.TaskID]TaskMetrics, len(live))
	for id, lt := range live {
		readings[id] = readTask(id, lt, now)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := maps.Clone(m.retired)
	ids := slices.Collect(maps.Keys(m.retired))
	for id := range m.live {
		if _, ok := seen[id]; !ok {
			ids = append(ids, id)
			seen[id] = nil
		}
	}
	for k := range m.restores {
		if _, ok := seen[k.task]; !ok {
			ids = append(ids, k.task)
			seen[k.task] = nil
		}
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	for _, id := range ids {
		var tm TaskMetrics
		switch lt, ok := m.live[id]; {
		case ok && live[id] == lt:
			tm = readings[id]
		case ok: // created since the reading
			tm = readTask(id, lt, now)
		default: // not running, or closed since the reading: retired has its counts
			tm = TaskMetrics{ID: id}
		}
		tm.Blocked = m.blocked[id]
		if r := m.retired[id]; r != nil {
			addCounters(&tm, *r)
		}
		m.addRestores(&tm)
		if lc := m.lifecycle[id]; lc != nil {
			tm.Opened, tm.Resumed = lc.opened, lc.resumed
		}
		for _, s := range tm.Stores {
			out.CacheUsedBytes += s.Cache.UsedBytes
		}
		out.Tasks = append(out.Tasks, tm)
	}
	for tp, lag := range m.lags {
		out.Lags = append(out.Lags, PartitionLag{Topic: tp.topic, Partition: tp.partition, Lag: lag})
	}
	slices.SortFunc(out.Lags, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	out.GlobalDropped = dropCounts(m.globalDropped)
	for k, n := range m.restoreSkipped {
		out.RestoreSkipped = append(out.RestoreSkipped, SkippedRecords{Store: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(out.RestoreSkipped, func(a, b SkippedRecords) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Reason, b.Reason))
	})
	out.Restore = m.round.progress(now)
	out.Standbys = m.standbys()
	return out
}

// addRestores adds the restoration of each of a task's stores; the
// caller holds mu.
func (m *metrics) addRestores(tm *TaskMetrics) {
	for k, s := range m.restores {
		if k.task != tm.ID {
			continue
		}
		i := slices.IndexFunc(tm.Stores, func(x StoreMetrics) bool { return x.Name == k.store })
		if i < 0 {
			tm.Stores = append(tm.Stores, StoreMetrics{StoreMetrics: store.StoreMetrics{Name: k.store}})
			i = len(tm.Stores) - 1
		}
		st := &tm.Stores[i]
		st.Changelog, st.Partition, st.Restored = s.topic, s.partition, s.restored
		if s.active {
			st.Restoring, st.Remaining = true, s.end-s.position
			tm.Restoring = true
		}
	}
	slices.SortFunc(tm.Stores, func(a, b StoreMetrics) int { return cmp.Compare(a.Name, b.Name) })
}

// readTask reads a live task's counters, published metrics and stores.
func readTask(id processor.TaskID, lt *liveTask, now time.Time) TaskMetrics {
	st := lt.t.Stats()
	pm := lt.t.Metrics(now)
	tm := TaskMetrics{ID: id, Active: true, Processed: st.Processed.Load(), Punctuations: st.Punctuations.Load(),
		Commits: st.Commits.Load(), EnforcedProcessing: st.EnforcedProcessing.Load(), LateRecords: st.LateRecords.Load(),
		DeadLettered: st.DeadLettered.Load(), Lateness: pm.Lateness, ProcessLatency: pm.ProcessLatency, Buffered: pm.Buffered, BufferedBytes: pm.BufferedBytes,
		Sources: pm.Sources, Sinks: pm.Sinks}
	reasons := st.DroppedReasons()
	for reason, n := range map[string]int64{"deserialization-error": st.SkippedDeserialization.Load(),
		"invalid-timestamp": st.SkippedInvalidTimestamp.Load(), "processing-error": st.DroppedProcessingError.Load()} {
		if n > 0 {
			reasons[reason] += n
		}
	}
	tm.Dropped = dropCounts(reasons)
	for _, s := range lt.stores {
		tm.Stores = append(tm.Stores, StoreMetrics{StoreMetrics: store.ReadMetrics(s)})
	}
	return tm
}

func dropCounts(byReason map[string]int64) []DroppedRecords {
	out := make([]DroppedRecords, 0, len(byReason))
	for r, n := range byReason {
		out = append(out, DroppedRecords{Reason: r, Count: n})
	}
	slices.SortFunc(out, func(a, b DroppedRecords) int { return cmp.Compare(a.Reason, b.Reason) })
	return out
}

// addCounters adds src's counters to dst (a task's earlier runs to its
// current one); dst's gauges and recent extremes stay as they are.
func addCounters(dst *TaskMetrics, src TaskMetrics) {
	dst.Processed += src.Processed
	dst.Punctuations += src.Punctuations
	dst.Commits += src.Commits
	dst.EnforcedProcessing += src.EnforcedProcessing
	dst.LateRecords += src.LateRecords
	dst.DeadLettered += src.DeadLettered
	byReason := map[string]int64{}
	for _, d := range dst.Dropped {
		byReason[d.Reason] += d.Count
	}
	for _, d := range src.Dropped {
		byReason[d.Reason] += d.Count
	}
	dst.Dropped = dropCounts(byReason)
	addMeasure(&dst.Lateness, src.Lateness)
	addMeasure(&dst.ProcessLatency, src.ProcessLatency)
	for _, s := range src.Sources {
		i := slices.IndexFunc(dst.Sources, func(x task.SourceMetrics) bool {
			return x.Node == s.Node && x.Topic == s.Topic && x.Partition == s.Partition
		})
		if i < 0 {
			dst.Sources = append(dst.Sources, task.SourceMetrics{Node: s.Node, Topic: s.Topic, Partition: s.Partition})
			i = len(dst.Sources) - 1
		}
		d := &dst.Sources[i]
		d.RecordsConsumed += s.RecordsConsumed
		d.BytesConsumed += s.BytesConsumed
		d.Processed += s.Processed
		addMeasure(&d.E2ELatency, s.E2ELatency)
	}
	for _, s := range src.Sinks {
		i := slices.IndexFunc(dst.Sinks, func(x task.SinkMetrics) bool { return x.Node == s.Node && x.Topic == s.Topic })
		if i < 0 {
			dst.Sinks = append(dst.Sinks, task.SinkMetrics{Node: s.Node, Topic: s.Topic})
			i = len(dst.Sinks) - 1
		}
		d := &dst.Sinks[i]
		d.Records += s.Records
		d.Bytes += s.Bytes
		addMeasure(&d.E2ELatency, s.E2ELatency)
	}
	for _, s := range src.Stores {
		i := slices.IndexFunc(dst.Stores, func(x StoreMetrics) bool { return x.Name == s.Name })
		if i < 0 {
			dst.Stores = append(dst.Stores, StoreMetrics{StoreMetrics: store.StoreMetrics{Name: s.Name, Cached: s.Cached, HasDB: s.HasDB}})
			i = len(dst.Stores) - 1
		}
		d := &dst.Stores[i]
		d.Cache.Hits += s.Cache.Hits
		d.Cache.Misses += s.Cache.Misses
		d.Cache.Evictions += s.Cache.Evictions
		d.Cache.Flushes += s.Cache.Flushes
		d.ExpiredDrops += s.ExpiredDrops
	}
}

// addMeasure adds src's count and sum to dst; extremes are dst's.
func addMeasure(dst *task.Measure, src task.Measure) {
	dst.Count += src.Count
	dst.Sum += src.Sum
}
