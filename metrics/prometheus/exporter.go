// Package prometheus exports a Millrace App's metrics to Prometheus, close
// to Kafka Streams' set and names (docs/metrics.md is the table). It is an
// ordinary user of the App's two metric interfaces, which is why the core
// (package streams) does not import Prometheus:
//
//   - An Exporter is a hook (streams.Config.Hooks): it is told of each
//     chunk of records processed, each punctuation, commit and rebalance,
//     and keeps their durations in histograms.
//   - It is a prometheus.Collector: at scrape time it reads App.Metrics, a
//     snapshot the App computes on demand from the counters its tasks
//     publish once per chunk of records, and turns it into counters and
//     gauges labelled by task, node, topic and store.
//
// Use:
//
//	exp := prometheus.New(prometheus.Options{})
//	app, err := streams.New(topo, streams.Config{..., Hooks: []streams.Hook{exp}})
//	reg.MustRegister(exp) // any prometheus.Registerer
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every family has the label application_id. One Exporter serves one App:
// give each App its own (registered side by side, their application_id
// labels tell them apart); an Exporter put in the hooks of a second App
// makes every scrape fail with an error that names both.
//
// Invariants: nothing here runs on a task's per-record path (hooks are
// per chunk or per event, the snapshot per scrape); counters never go down
// while the App lives (a task closed on a rebalance and created again
// continues its counts); gauges describe the tasks the App runs now.
package prometheus

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/task"
)

// Options configure an Exporter; the zero value takes the defaults.
type Options struct {
	// Buckets of the latency histograms, in seconds; nil means
	// DefaultBuckets.
	Buckets []float64
}

// DefaultBuckets span 1 µs to about 17 s, by factors of 4.
var DefaultBuckets = prom.ExponentialBuckets(1e-6, 4, 13)

// Exporter is a streams hook and a prometheus.Collector; see the package
// documentation. Its methods are safe for concurrent use.
type Exporter struct {
	app   atomic.Pointer[streams.App]
	id    atomic.Pointer[string] // app's ApplicationID
	extra atomic.Pointer[string] // the id of a second App given this Exporter

	batch     *prom.HistogramVec
	punctuate *prom.HistogramVec
	commit    *prom.HistogramVec
	rebalance *prom.HistogramVec
	// observers caches a task's histograms, so a chunk costs no label
	// formatting.
	observers sync.Map // observerKey -> prom.Observer

	d descs
}

type observerKey struct {
	vec  *prom.HistogramVec
	task processor.TaskID
	typ  punctuate.Type
}

const ns = "millrace"

// New returns an Exporter. Put it in the App's Config.Hooks and register
// it with a prometheus.Registerer.
func New(opts Options) *Exporter {
	b := opts.Buckets
	if len(b) == 0 {
		b = DefaultBuckets
	}
	hist := func(name, help string, labels ...string) *prom.HistogramVec {
		return prom.NewHistogramVec(prom.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: b},
			append([]string{"application_id"}, labels...))
	}
	return &Exporter{
		batch: hist("task_process_batch_seconds",
			"Time a task took to process one chunk of up to 256 records (the stream-time punctuations it triggered included).", "task"),
		punctuate: hist("task_punctuate_latency_seconds",
			"Time of one punctuator callback (Kafka Streams: punctuate-latency, punctuate-total).", "task", "type"),
		commit: hist("commit_latency_seconds",
			"Time of one commit of every task of the instance, from the request to the committed offsets or transaction (Kafka Streams: commit-latency, commit-total).",
		),
		rebalance: hist("rebalance_latency_seconds",
			"Time the instance took to handle one rebalance callback: tasks created on an assignment, committed and closed on a revocation (Kafka Streams: tasks-assigned-latency, tasks-revoked-latency).",
			"phase"),
		d: newDescs(),
	}
}

// OnNewApp implements streams.HookNewApp: the Exporter reads this App's
// metrics at scrape time.
func (e *Exporter) OnNewApp(a *streams.App) {
	id := a.Config().ApplicationID
	if e.app.CompareAndSwap(nil, a) {
		e.id.Store(&id)
	} else if e.app.Load() != a {
		e.extra.CompareAndSwap(nil, &id)
	}
}

func (e *Exporter) appID() string {
	if id := e.id.Load(); id != nil {
		return *id
	}
	return ""
}

func (e *Exporter) observer(vec *prom.HistogramVec, id processor.TaskID, typ punctuate.Type, labels ...string) prom.Observer {
	k := observerKey{vec, id, typ}
	if o, ok := e.observers.Load(k); ok {
		return o.(prom.Observer)
	}
	o, _ := e.observers.LoadOrStore(k, vec.WithLabelValues(append([]string{e.appID()}, labels...)...))
	return o.(prom.Observer)
}

// OnProcessBatch implements streams.HookProcessBatch.
func (e *Exporter) OnProcessBatch(b streams.ProcessBatch) {
	e.observer(e.batch, b.Task, 0, b.Task.String()).Observe(b.Took.Seconds())
}

// OnPunctuate implements streams.HookPunctuate.
func (e *Exporter) OnPunctuate(p streams.Punctuation) {
	e.observer(e.punctuate, p.Task, p.Type, p.Task.String(), punctuationType(p.Type)).Observe(p.Took.Seconds())
}

func punctuationType(t punctuate.Type) string {
	if t == punctuate.WallClock {
		return "wall-clock"
	}
	return "stream-time"
}

// OnCommit implements streams.HookCommit.
func (e *Exporter) OnCommit(c streams.Commit) {
	e.commit.WithLabelValues(e.appID()).Observe(c.Took.Seconds())
}

// OnRebalance implements streams.HookRebalance.
func (e *Exporter) OnRebalance(r streams.Rebalance) {
	e.rebalance.WithLabelValues(e.appID(), r.Phase.String()).Observe(r.Took.Seconds())
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prom.Desc) {
	for _, h := range e.histograms() {
		h.Describe(ch)
	}
	for _, d := range e.d.all() {
		ch <- d
	}
}

func (e *Exporter) histograms() []*prom.HistogramVec {
	return []*prom.HistogramVec{e.batch, e.punctuate, e.commit, e.rebalance}
}

// Collect implements prometheus.Collector: it reads App.Metrics.
func (e *Exporter) Collect(ch chan<- prom.Metric) {
	if extra := e.extra.Load(); extra != nil {
		ch <- prom.NewInvalidMetric(e.d.appState, fmt.Errorf("millrace exporter: one Exporter is in the hooks of two Apps, %q and %q: give each App its own",
			e.appID(), *extra))
		return
	}
	for _, h := range e.histograms() {
		h.Collect(ch)
	}
	a := e.app.Load()
	if a == nil {
		return // not in an App's hooks (yet)
	}
	e.collect(ch, a.Metrics())
}

// emitter sends const metrics with the application id first.
type emitter struct {
	ch    chan<- prom.Metric
	appID string
}

func (m emitter) send(d *prom.Desc, t prom.ValueType, v float64, labels ...string) {
	vals := make([]string, 0, len(labels)+1)
	vals = append(vals, m.appID)
	for _, l := range labels {
		vals = append(vals, strings.ToValidUTF8(l, "\uFFFD"))
	}
	metric, err := prom.NewConstMetric(d, t, v, vals...)
	if err != nil {
		metric = prom.NewInvalidMetric(d, err)
	}
	m.ch <- metric
}

func (m emitter) counter(d *prom.Desc, v int64, labels ...string) {
	m.send(d, prom.CounterValue, float64(v), labels...)
}

func (m emitter) gauge(d *prom.Desc, v float64, labels ...string) {
	m.send(d, prom.GaugeValue, v, labels...)
}

// summary sends a Measure's count and sum, in seconds: its unit is
// 1/perSecond s.
func (m emitter) summary(d *prom.Desc, x task.Measure, perSecond float64, labels ...string) {
	vals := append([]string{m.appID}, labels...)
	for i := range vals {
		vals[i] = strings.ToValidUTF8(vals[i], "\uFFFD")
	}
	metric, err := prom.NewConstSummary(d, uint64(max(x.Count, 0)), x.Sum/perSecond, nil, vals...)
	if err != nil {
		metric = prom.NewInvalidMetric(d, err)
	}
	m.ch <- metric
}

func (e *Exporter) collect(ch chan<- prom.Metric, s streams.Metrics) {
	d := &e.d
	m := emitter{ch: ch, appID: s.ApplicationID}
	for st := streams.Created; st <= streams.Error; st++ {
		v := 0.0
		if st == s.State {
			v = 1
		}
		m.gauge(d.appState, v, st.String())
	}
	for _, l := range s.Lags {
		m.gauge(d.lag, float64(l.Lag), l.Topic, strconv.Itoa(int(l.Partition)))
	}
	restoring := 0
	for _, r := range s.RestoreSkipped {
		m.counter(d.restoreSkipped, r.Count, r.Store, r.Reason)
	}
	for _, g := range s.GlobalDropped {
		m.counter(d.globalDropped, g.Count, g.Reason)
	}
	m.counter(d.productionDropped, s.ProductionDropped)
	open := 0
	for _, sb := range s.Standbys {
		id := sb.ID.String()
		if sb.Open {
			open++
			if sb.Lag >= 0 {
				m.gauge(d.standbyLag, float64(sb.Lag), id)
			}
		}
		m.counter(d.standbyApplied, sb.Applied, id)
		m.counter(d.standbyCheckpoints, sb.Checkpoints, id)
	}
	m.gauge(d.standbyTasks, float64(open))
	m.counter(d.deliveryDeadLetters, s.DeliveryDeadLettered)
	m.counter(d.placementMismatches, s.PlacementMismatches)
	m.counter(d.purges, s.Purges)
	m.counter(d.purgeFailures, s.PurgeFailures)
	m.gauge(d.cacheMax, float64(s.CacheMaxBytes))
	m.gauge(d.cacheUsed, float64(s.CacheUsedBytes))
	m.counter(d.hookPanics, s.HookPanics)
	if sm := s.StoreMemory; sm != nil {
		m.gauge(d.memCapacity, float64(sm.CapacityBytes))
		m.gauge(d.memUsed, float64(sm.UsedBytes))
		m.gauge(d.memPinned, float64(sm.PinnedBytes))
		m.gauge(d.memWriteBuffers, float64(sm.WriteBufferBytes))
		m.gauge(d.memWriteBufferLimit, float64(sm.WriteBufferLimitBytes))
		m.gauge(d.memStores, float64(sm.Stores))
	}
	const ms, nanos = 1e3, 1e9 // per second
	for _, t := range s.Tasks {
		id := t.ID.String()
		m.counter(d.process, t.Processed, id)
		m.summary(d.processLatency, t.ProcessLatency, nanos, id)
		m.counter(d.commits, t.Commits, id)
		m.counter(d.enforced, t.EnforcedProcessing, id)
		m.summary(d.lateness, t.Lateness, ms, id)
		m.counter(d.late, t.LateRecords, id)
		m.counter(d.deadLetters, t.DeadLettered, id)
		m.counter(d.opened, t.Opened, id)
		m.counter(d.resumed, t.Resumed, id)
		for _, dr := range t.Dropped {
			m.counter(d.dropped, dr.Count, id, dr.Reason)
		}
		if t.Active {
			if t.ProcessLatency.Recent {
				m.gauge(d.processLatencyMax, float64(t.ProcessLatency.Max)/nanos, id)
			}
			if t.Lateness.Recent {
				m.gauge(d.latenessMax, float64(t.Lateness.Max)/ms, id)
			}
			m.gauge(d.buffered, float64(t.Buffered), id)
			m.gauge(d.bufferedBytes, float64(t.BufferedBytes), id)
			m.gauge(d.blocked, t.Blocked.Seconds(), id)
		}
		// A source node may read several topics, and a sink write to
		// several: node figures add up their entries.
		var nodes []string
		byNode := map[string]*nodeFigures{}
		node := func(name string) *nodeFigures {
			n := byNode[name]
			if n == nil {
				n = &nodeFigures{}
				byNode[name] = n
				nodes = append(nodes, name)
			}
			return n
		}
		for _, src := range t.Sources {
			m.counter(d.recordsConsumed, src.RecordsConsumed, id, src.Node, src.Topic)
			m.counter(d.bytesConsumed, src.BytesConsumed, id, src.Node, src.Topic)
			n := node(src.Node)
			n.source = true
			n.processed += src.Processed
			n.e2e = merge(n.e2e, src.E2ELatency)
		}
		for _, snk := range t.Sinks {
			m.counter(d.recordsProduced, snk.Records, id, snk.Node, snk.Topic)
			m.counter(d.bytesProduced, snk.Bytes, id, snk.Node, snk.Topic)
			n := node(snk.Node)
			n.e2e = merge(n.e2e, snk.E2ELatency)
		}
		for _, name := range nodes {
			n := byNode[name]
			if n.source {
				m.counter(d.nodeProcess, n.processed, id, name)
			}
			e.e2e(m, t.Active, n.e2e, id, name)
		}
		for _, st := range t.Stores {
			e.store(m, t, st)
			if st.Restoring {
				restoring++
			}
		}
	}
	m.gauge(d.restoringStores, float64(restoring))
}

// nodeFigures are a node's figures over its topics.
type nodeFigures struct {
	source    bool
	processed int64
	e2e       task.Measure
}

// merge adds two Measures of one node.
func merge(a, b task.Measure) task.Measure {
	out := task.Measure{Count: a.Count + b.Count, Sum: a.Sum + b.Sum}
	switch {
	case a.Recent && b.Recent:
		out.Min, out.Max, out.Recent = min(a.Min, b.Min), max(a.Max, b.Max), true
	case a.Recent:
		out.Min, out.Max, out.Recent = a.Min, a.Max, true
	case b.Recent:
		out.Min, out.Max, out.Recent = b.Min, b.Max, true
	}
	return out
}

// e2e sends a node's end-to-end latency.
func (e *Exporter) e2e(m emitter, active bool, x task.Measure, id, node string) {
	const ms = 1e3 // per second
	m.summary(e.d.e2e, x, ms, id, node)
	if active && x.Recent {
		m.gauge(e.d.e2eMin, float64(x.Min)/ms, id, node)
		m.gauge(e.d.e2eMax, float64(x.Max)/ms, id, node)
	}
}

func (e *Exporter) store(m emitter, t streams.TaskMetrics, s streams.StoreMetrics) {
	d := &e.d
	id := t.ID.String()
	if s.Cached {
		m.counter(d.cacheHits, s.Cache.Hits, id, s.Name)
		m.counter(d.cacheMisses, s.Cache.Misses, id, s.Name)
		m.counter(d.cacheEvictions, s.Cache.Evictions, id, s.Name)
		if t.Active {
			m.gauge(d.cacheHitRatio, s.Cache.HitRatio(), id, s.Name)
			m.gauge(d.cacheSize, float64(s.Cache.UsedBytes), id, s.Name)
			m.gauge(d.cacheEntries, float64(s.Cache.Entries), id, s.Name)
		}
	}
	if s.Changelog != "" {
		m.counter(d.restored, s.Restored, id, s.Name)
		if t.Active {
			m.gauge(d.restoreRemaining, float64(s.Remaining), id, s.Name)
		}
	}
	if s.ExpiredDrops > 0 {
		m.counter(d.expired, s.ExpiredDrops, id, s.Name)
	}
	if !t.Active || !s.HasDB {
		return
	}
	db := s.DB
	for _, p := range []struct {
		d *prom.Desc
		v uint64
	}{
		{d.rocksSizeAllMemTables, db.SizeAllMemTables}, {d.rocksCurSizeAllMemTables, db.CurSizeAllMemTables},
		{d.rocksImmutableMemTables, db.NumImmutableMemTables}, {d.rocksBlockCacheCapacity, db.BlockCacheCapacity},
		{d.rocksBlockCacheUsage, db.BlockCacheUsage}, {d.rocksBlockCachePinned, db.BlockCachePinnedUsage},
		{d.rocksNumKeys, db.EstimateNumKeys}, {d.rocksTableReaders, db.EstimateTableReadersMem},
		{d.rocksTotalSST, db.TotalSSTFilesSize}, {d.rocksLiveSST, db.LiveSSTFilesSize},
		{d.rocksPendingCompaction, db.EstimatePendingCompactionBytes}, {d.rocksCompactionPending, db.CompactionPending},
		{d.rocksRunningCompactions, db.NumRunningCompactions}, {d.rocksRunningFlushes, db.NumRunningFlushes},
	} {
		m.gauge(p.d, float64(p.v), id, s.Name)
	}
}
