package streams

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/task"
)

// metrics are the App's Prometheus metrics. Counters that tasks keep
// (processed, dropped, lateness, enforced processing) are read from the
// tasks' atomic Stats when scraped, so the per-record path pays nothing.
type metrics struct {
	processLatency   prometheus.Histogram
	punctuateLatency prometheus.Histogram
	commitLatency    prometheus.Histogram
	restoredTotal    prometheus.Counter
	droppedProd      prometheus.Counter
	purgedParts      prometheus.Counter
	purgeFailures    prometheus.Counter
	restoreSkipped   *prometheus.CounterVec

	mu        sync.Mutex
	tasks     map[processor.TaskID]*task.Stats
	retired   task.Stats // counters of closed tasks, kept so totals never go down
	lags      map[topicPartition]int64
	remaining map[processor.TaskID]int64
	blocked   map[processor.TaskID]time.Duration

	descProcessed, descDropped, descEnforced, descLate, descLateMax, descLag, descRemaining, descBlocked *prometheus.Desc
}

func newMetrics(appID string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"application_id": appID}
	buckets := prometheus.ExponentialBuckets(1e-7, 4, 14) // 100ns .. ~6.7s
	m := &metrics{
		processLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "millrace_process_latency_seconds",
			Help: "Time to process one record through a task (chunk average).", ConstLabels: labels, Buckets: buckets}),
		punctuateLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "millrace_punctuate_latency_seconds",
			Help: "Time of one wall-clock punctuation round of a task.", ConstLabels: labels, Buckets: buckets}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "millrace_commit_latency_seconds",
			Help: "Time of one commit of all tasks of the instance.", ConstLabels: labels, Buckets: buckets}),
		restoredTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "millrace_restored_records_total",
			Help: "Changelog records applied to stores during restoration.", ConstLabels: labels}),
		droppedProd: prometheus.NewCounter(prometheus.CounterOpts{Name: "millrace_dropped_records_production_total",
			Help: "Records the producer could not deliver, dropped as the production handler said.", ConstLabels: labels}),
		purgedParts: prometheus.NewCounter(prometheus.CounterOpts{Name: "millrace_internal_topic_purges_total",
			Help: "Partitions of internal topics whose records below the committed offset were deleted (one per partition and purge).", ConstLabels: labels}),
		purgeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "millrace_internal_topic_purge_failures_total",
			Help: "Partitions of internal topics whose purge failed (retried at the next purge; not fatal).", ConstLabels: labels}),
		restoreSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "millrace_restore_skipped_records_total",
			Help: "Source-topic records skipped while restoring a table's store from its source topic, by reason.", ConstLabels: labels}, []string{"store", "reason"}),
		tasks: map[processor.TaskID]*task.Stats{}, lags: map[topicPartition]int64{}, remaining: map[processor.TaskID]int64{},
		blocked: map[processor.TaskID]time.Duration{},
	}
	m.descProcessed = prometheus.NewDesc("millrace_processed_records_total", "Records processed.", nil, labels)
	m.descDropped = prometheus.NewDesc("millrace_dropped_records_total", "Records dropped, by reason.", []string{"reason"}, labels)
	m.descEnforced = prometheus.NewDesc("millrace_enforced_processing_total", "Records processed while an input partition was empty past max task idle.", nil, labels)
	m.descLate = prometheus.NewDesc("millrace_late_records_total", "Records older than stream time when processed.", nil, labels)
	m.descLateMax = prometheus.NewDesc("millrace_record_lateness_max_milliseconds", "Largest lateness seen.", nil, labels)
	m.descLag = prometheus.NewDesc("millrace_consumer_lag_records", "Records on the broker not yet handed to tasks.", []string{"topic", "partition"}, labels)
	m.descRemaining = prometheus.NewDesc("millrace_restore_remaining_records", "Changelog records left to restore.", []string{"task"}, labels)
	m.descBlocked = prometheus.NewDesc("millrace_task_blocked_seconds",
		"How long a task has been inside one processor call without reaching a commit it was asked for (0 when it is not).",
		[]string{"task"}, labels)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.processLatency, m.punctuateLatency, m.commitLatency, m.restoredTotal, m.droppedProd, m.purgedParts, m.purgeFailures, m.restoreSkipped, m} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.descProcessed, m.descDropped, m.descEnforced, m.descLate, m.descLateMax, m.descLag, m.descRemaining, m.descBlocked} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var processed, deser, ts, proc, enforced, late, lateMax int64
	reasons := map[string]int64{}
	add := func(s *task.Stats) {
		for r, n := range s.DroppedReasons() {
			reasons[r] += n
		}
		processed += s.Processed.Load()
		deser += s.SkippedDeserialization.Load()
		ts += s.SkippedInvalidTimestamp.Load()
		proc += s.DroppedProcessingError.Load()
		enforced += s.EnforcedProcessing.Load()
		late += s.LateRecords.Load()
		lateMax = max(lateMax, s.LatenessMax.Load())
	}
	add(&m.retired)
	for _, s := range m.tasks {
		add(s)
	}
	ch <- prometheus.MustNewConstMetric(m.descProcessed, prometheus.CounterValue, float64(processed))
	ch <- prometheus.MustNewConstMetric(m.descDropped, prometheus.CounterValue, float64(deser), "deserialization-error")
	ch <- prometheus.MustNewConstMetric(m.descDropped, prometheus.CounterValue, float64(ts), "invalid-timestamp")
	ch <- prometheus.MustNewConstMetric(m.descDropped, prometheus.CounterValue, float64(proc), "processing-error")
	for r, n := range reasons {
		ch <- prometheus.MustNewConstMetric(m.descDropped, prometheus.CounterValue, float64(n), r)
	}
	ch <- prometheus.MustNewConstMetric(m.descEnforced, prometheus.CounterValue, float64(enforced))
	ch <- prometheus.MustNewConstMetric(m.descLate, prometheus.CounterValue, float64(late))
	ch <- prometheus.MustNewConstMetric(m.descLateMax, prometheus.GaugeValue, float64(lateMax))
	for tp, lag := range m.lags {
		ch <- prometheus.MustNewConstMetric(m.descLag, prometheus.GaugeValue, float64(lag), tp.topic, itoa(tp.partition))
	}
	for id, n := range m.remaining {
		ch <- prometheus.MustNewConstMetric(m.descRemaining, prometheus.GaugeValue, float64(n), id.String())
	}
	for id := range m.tasks {
		ch <- prometheus.MustNewConstMetric(m.descBlocked, prometheus.GaugeValue, m.blocked[id].Seconds(), id.String())
	}
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

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }

func (m *metrics) addTask(id processor.TaskID, s *task.Stats) {
	m.mu.Lock()
	m.tasks[id] = s
	m.mu.Unlock()
}

func (m *metrics) removeTask(id processor.TaskID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.tasks[id]
	if !ok {
		return
	}
	delete(m.tasks, id)
	delete(m.blocked, id)
	r := &m.retired
	r.Processed.Add(s.Processed.Load())
	r.SkippedDeserialization.Add(s.SkippedDeserialization.Load())
	r.SkippedInvalidTimestamp.Add(s.SkippedInvalidTimestamp.Load())
	r.DroppedProcessingError.Add(s.DroppedProcessingError.Load())
	r.EnforcedProcessing.Add(s.EnforcedProcessing.Load())
	r.LateRecords.Add(s.LateRecords.Load())
	if l := s.LatenessMax.Load(); l > r.LatenessMax.Load() {
		r.LatenessMax.Store(l)
	}
	for reason, n := range s.DroppedReasons() {
		r.AddDropped(reason, n)
	}
}

func (m *metrics) setLag(tp topicPartition, lag int64) {
	m.mu.Lock()
	if lag < 0 {
		delete(m.lags, tp)
	} else {
		m.lags[tp] = lag
	}
	m.mu.Unlock()
}

func (m *metrics) restoreRemaining(id processor.TaskID, n int64) {
	m.mu.Lock()
	if n <= 0 {
		delete(m.remaining, id)
	} else {
		m.remaining[id] = n
	}
	m.mu.Unlock()
}

func (m *metrics) restored(n int64)   { m.restoredTotal.Add(float64(n)) }
func (m *metrics) droppedProduction() { m.droppedProd.Inc() }

// dropped counts a record dropped outside any task (a global-topic record)
// under reason, with the tasks' dropped records.
func (m *metrics) dropped(reason string) {
	m.mu.Lock()
	m.retired.AddDropped(reason, 1)
	m.mu.Unlock()
}

func (m *metrics) observeProcess(n int, d time.Duration) {
	m.processLatency.Observe(d.Seconds() / float64(n))
}

func (m *metrics) observePunctuate(d time.Duration) { m.punctuateLatency.Observe(d.Seconds()) }
func (m *metrics) observeCommit(d time.Duration)    { m.commitLatency.Observe(d.Seconds()) }

// purged counts the partitions of internal topics purged, and those whose
// purge failed.
func (m *metrics) purged(ok, failed int) {
	m.purgedParts.Add(float64(ok))
	m.purgeFailed(failed)
}

func (m *metrics) purgeFailed(n int) { m.purgeFailures.Add(float64(n)) }
