package prometheus

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/task"
)

// fixed collects a given snapshot through an Exporter.
type fixed struct {
	e *Exporter
	s streams.Metrics
}

func (f fixed) Describe(ch chan<- *prom.Desc) { f.e.Describe(ch) }
func (f fixed) Collect(ch chan<- prom.Metric) { f.e.collect(ch, f.s) }

// snapshot is a running App with an active task 0_1 (a source reading two
// topics, a sink writing two, a cached RocksDB store) and a task 0_0 that
// was revoked.
func snapshot() streams.Metrics {
	recent := func(count int64, sum float64, lo, hi int64) task.Measure {
		return task.Measure{Count: count, Sum: sum, Min: lo, Max: hi, Recent: true}
	}
	return streams.Metrics{ApplicationID: "app", State: streams.Running, Time: time.Now(),
		Lags:          []streams.PartitionLag{{Topic: "in", Partition: 1, Lag: 42}},
		GlobalDropped: []streams.DroppedRecords{{Reason: "null-key", Count: 2}}, ProductionDropped: 3,
		CacheMaxBytes: 1000, CacheUsedBytes: 100,
		Tasks: []streams.TaskMetrics{
			{ID: processor.TaskID{Partition: 0}, Processed: 5, Commits: 1,
				Dropped:   []streams.DroppedRecords{{Reason: "odd", Count: 1}},
				Lateness:  recent(5, 0, 0, 0), // inactive: its gauges are not sent
				Buffered:  9,
				Sources:   []task.SourceMetrics{{Node: "src", Topic: "a", Partition: 0, RecordsConsumed: 5, Processed: 5}},
				Stores:    []streams.StoreMetrics{{StoreMetrics: store.StoreMetrics{Name: "s", Cached: true, Cache: store.CacheStats{Hits: 1, Misses: 1, UsedBytes: 50}}}},
				Restoring: false},
			{ID: processor.TaskID{Partition: 1}, Active: true, Processed: 10, Commits: 2, EnforcedProcessing: 1, LateRecords: 2,
				Dropped:  []streams.DroppedRecords{{Reason: "deserialization-error", Count: 4}, {Reason: "odd", Count: 3}},
				Lateness: recent(10, 3000, 0, 2500), ProcessLatency: recent(10, 5000, 200, 900),
				Buffered: 7, BufferedBytes: 700, Blocked: 1500 * time.Millisecond,
				Sources: []task.SourceMetrics{
					{Node: "src", Topic: "a", Partition: 1, RecordsConsumed: 6, BytesConsumed: 60, Processed: 6, E2ELatency: recent(6, 600, 50, 150)},
					{Node: "src", Topic: "b", Partition: 1, RecordsConsumed: 4, BytesConsumed: 40, Processed: 4, E2ELatency: recent(4, 2000, 400, 600)},
				},
				Sinks: []task.SinkMetrics{{Node: "out", Topic: "x", Records: 7, Bytes: 70, E2ELatency: recent(7, 700, 100, 100)},
					{Node: "out", Topic: "y", Records: 1, Bytes: 10}},
				Stores: []streams.StoreMetrics{{StoreMetrics: store.StoreMetrics{Name: "s", Cached: true,
					Cache:        store.CacheStats{Hits: 3, Misses: 1, Evictions: 2, UsedBytes: 100, Entries: 4},
					HasDB:        true,
					DB:           store.DBProperties{Instances: 1, SizeAllMemTables: 2048, BlockCacheCapacity: 50 << 20, EstimateNumKeys: 4, CompactionPending: 1},
					ExpiredDrops: 5},
					Changelog: "app-s-changelog", Partition: 1, Restored: 20, Remaining: 30, Restoring: true}},
			},
		},
	}
}

func TestSnapshotBecomesFamiliesInSecondsWithTaskNodeTopicAndStoreLabels(t *testing.T) {
	c := fixed{New(Options{}), snapshot()}
	want := `
# HELP millrace_task_process_total Records a task processed (Kafka Streams: process-total, task level).
# TYPE millrace_task_process_total counter
millrace_task_process_total{application_id="app",task="0_0"} 5
millrace_task_process_total{application_id="app",task="0_1"} 10
# HELP millrace_task_dropped_records_total Records dropped, by reason: skipped by the handlers (deserialization-error, invalid-timestamp, processing-error) or reported by processors (Kafka Streams: dropped-records-total).
# TYPE millrace_task_dropped_records_total counter
millrace_task_dropped_records_total{application_id="app",reason="deserialization-error",task="0_1"} 4
millrace_task_dropped_records_total{application_id="app",reason="odd",task="0_0"} 1
millrace_task_dropped_records_total{application_id="app",reason="odd",task="0_1"} 3
# HELP millrace_task_record_lateness_max_seconds Largest record lateness over the last 30 to 60 s (Kafka Streams: record-lateness-max).
# TYPE millrace_task_record_lateness_max_seconds gauge
millrace_task_record_lateness_max_seconds{application_id="app",task="0_1"} 2.5
# HELP millrace_task_process_latency_seconds Time to process a record: sum and count over records, timed per chunk (Kafka Streams: process-latency-avg).
# TYPE millrace_task_process_latency_seconds summary
millrace_task_process_latency_seconds_sum{application_id="app",task="0_0"} 0
millrace_task_process_latency_seconds_count{application_id="app",task="0_0"} 0
millrace_task_process_latency_seconds_sum{application_id="app",task="0_1"} 5e-06
millrace_task_process_latency_seconds_count{application_id="app",task="0_1"} 10
# HELP millrace_task_buffered_records Records waiting in the task's partition queues (Kafka Streams: active-buffer-count).
# TYPE millrace_task_buffered_records gauge
millrace_task_buffered_records{application_id="app",task="0_1"} 7
# HELP millrace_task_blocked_seconds How long a task has been inside one processor call without reaching a commit it was asked for (0 when it is not).
# TYPE millrace_task_blocked_seconds gauge
millrace_task_blocked_seconds{application_id="app",task="0_1"} 1.5
# HELP millrace_node_process_total Records a source node processed (Kafka Streams: process-total, node level).
# TYPE millrace_node_process_total counter
millrace_node_process_total{application_id="app",node="src",task="0_0"} 5
millrace_node_process_total{application_id="app",node="src",task="0_1"} 10
# HELP millrace_node_record_e2e_latency_max_seconds Largest end-to-end latency over the last 30 to 60 s (Kafka Streams: record-e2e-latency-max).
# TYPE millrace_node_record_e2e_latency_max_seconds gauge
millrace_node_record_e2e_latency_max_seconds{application_id="app",node="out",task="0_1"} 0.1
millrace_node_record_e2e_latency_max_seconds{application_id="app",node="src",task="0_1"} 0.6
# HELP millrace_node_record_e2e_latency_min_seconds Smallest end-to-end latency over the last 30 to 60 s (Kafka Streams: record-e2e-latency-min).
# TYPE millrace_node_record_e2e_latency_min_seconds gauge
millrace_node_record_e2e_latency_min_seconds{application_id="app",node="out",task="0_1"} 0.1
millrace_node_record_e2e_latency_min_seconds{application_id="app",node="src",task="0_1"} 0.05
# HELP millrace_topic_records_produced_total Records a sink node handed to the producer, at recording level DEBUG (Kafka Streams: records-produced-total).
# TYPE millrace_topic_records_produced_total counter
millrace_topic_records_produced_total{application_id="app",node="out",task="0_1",topic="x"} 7
millrace_topic_records_produced_total{application_id="app",node="out",task="0_1",topic="y"} 1
# HELP millrace_topic_bytes_consumed_total Bytes (keys, values, headers) a task was handed from a topic (Kafka Streams: bytes-consumed-total).
# TYPE millrace_topic_bytes_consumed_total counter
millrace_topic_bytes_consumed_total{application_id="app",node="src",task="0_0",topic="a"} 0
millrace_topic_bytes_consumed_total{application_id="app",node="src",task="0_1",topic="a"} 60
millrace_topic_bytes_consumed_total{application_id="app",node="src",task="0_1",topic="b"} 40
# HELP millrace_store_cache_hit_ratio Hits over reads of a store's cache since the task started (Kafka Streams: hit-ratio-avg).
# TYPE millrace_store_cache_hit_ratio gauge
millrace_store_cache_hit_ratio{application_id="app",store="s",task="0_1"} 0.75
# HELP millrace_store_cache_hits_total Reads a store's cache answered.
# TYPE millrace_store_cache_hits_total counter
millrace_store_cache_hits_total{application_id="app",store="s",task="0_0"} 1
millrace_store_cache_hits_total{application_id="app",store="s",task="0_1"} 3
# HELP millrace_store_restore_remaining_records Changelog offsets a store has left to restore (Kafka Streams: restore-remaining-records-total).
# TYPE millrace_store_restore_remaining_records gauge
millrace_store_restore_remaining_records{application_id="app",store="s",task="0_1"} 30
# HELP millrace_restoring_stores Stores being restored from their changelogs now (Kafka Streams: active-restoring-tasks counts tasks).
# TYPE millrace_restoring_stores gauge
millrace_restoring_stores{application_id="app"} 1
# HELP millrace_rocksdb_compaction_pending 1 when a compaction is pending (RocksDB property rocksdb.compaction-pending, summed over a window or session store's segments).
# TYPE millrace_rocksdb_compaction_pending gauge
millrace_rocksdb_compaction_pending{application_id="app",store="s",task="0_1"} 1
# HELP millrace_rocksdb_size_all_mem_tables_bytes Bytes of the active, unflushed and pinned memtables (RocksDB property rocksdb.size-all-mem-tables, summed over a window or session store's segments).
# TYPE millrace_rocksdb_size_all_mem_tables_bytes gauge
millrace_rocksdb_size_all_mem_tables_bytes{application_id="app",store="s",task="0_1"} 2048
# HELP millrace_store_expired_window_record_drop_total Writes a window or session store dropped because their window had expired (Kafka Streams: expired-window-record-drop).
# TYPE millrace_store_expired_window_record_drop_total counter
millrace_store_expired_window_record_drop_total{application_id="app",store="s",task="0_1"} 5
# HELP millrace_consumer_lag_records Records of an input partition on the broker not yet handed to its task (consumer records-lag).
# TYPE millrace_consumer_lag_records gauge
millrace_consumer_lag_records{application_id="app",partition="1",topic="in"} 42
# HELP millrace_app_state 1 for the App's current state, 0 for the others (Kafka Streams: state).
# TYPE millrace_app_state gauge
millrace_app_state{application_id="app",state="CREATED"} 0
millrace_app_state{application_id="app",state="ERROR"} 0
millrace_app_state{application_id="app",state="NOT_RUNNING"} 0
millrace_app_state{application_id="app",state="PENDING_ERROR"} 0
millrace_app_state{application_id="app",state="PENDING_SHUTDOWN"} 0
millrace_app_state{application_id="app",state="REBALANCING"} 0
millrace_app_state{application_id="app",state="RUNNING"} 1
`
	names := []string{"millrace_task_process_total", "millrace_task_dropped_records_total", "millrace_task_record_lateness_max_seconds",
		"millrace_task_process_latency_seconds", "millrace_task_buffered_records", "millrace_task_blocked_seconds",
		"millrace_node_process_total", "millrace_node_record_e2e_latency_max_seconds", "millrace_node_record_e2e_latency_min_seconds",
		"millrace_topic_records_produced_total", "millrace_topic_bytes_consumed_total", "millrace_store_cache_hit_ratio",
		"millrace_store_cache_hits_total", "millrace_store_restore_remaining_records", "millrace_restoring_stores",
		"millrace_rocksdb_compaction_pending", "millrace_rocksdb_size_all_mem_tables_bytes",
		"millrace_store_expired_window_record_drop_total", "millrace_consumer_lag_records", "millrace_app_state"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The source's two topics make one node: its e2e sum and count add up.
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP millrace_node_record_e2e_latency_seconds Wall-clock time when a record's chunk was done minus the record's timestamp, at source nodes (and sink nodes at recording level DEBUG): sum and count (Kafka Streams: record-e2e-latency-avg).
# TYPE millrace_node_record_e2e_latency_seconds summary
millrace_node_record_e2e_latency_seconds_sum{application_id="app",node="src",task="0_0"} 0
millrace_node_record_e2e_latency_seconds_count{application_id="app",node="src",task="0_0"} 0
millrace_node_record_e2e_latency_seconds_sum{application_id="app",node="out",task="0_1"} 0.7
millrace_node_record_e2e_latency_seconds_count{application_id="app",node="out",task="0_1"} 7
millrace_node_record_e2e_latency_seconds_sum{application_id="app",node="src",task="0_1"} 2.6
millrace_node_record_e2e_latency_seconds_count{application_id="app",node="src",task="0_1"} 10
`), "millrace_node_record_e2e_latency_seconds"); err != nil {
		t.Error(err)
	}
}

func TestEveryFamilyPassesPrometheusLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(fixed{New(Options{}), snapshot()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func newApp(t *testing.T, id string, hooks ...streams.Hook) *streams.App {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	a, err := streams.New(topo, streams.Config{ApplicationID: id, BootstrapServers: "localhost:9092", Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestHooksFillTheLatencyHistograms(t *testing.T) {
	e := New(Options{Buckets: []float64{0.001, 1}})
	newApp(t, "hist", e)
	id := processor.TaskID{Partition: 3}
	e.OnProcessBatch(streams.ProcessBatch{Task: id, Records: 256, Took: 2 * time.Millisecond})
	e.OnProcessBatch(streams.ProcessBatch{Task: id, Records: 10, Took: 500 * time.Microsecond})
	e.OnPunctuate(streams.Punctuation{Task: id, Type: punctuate.WallClock, Took: time.Second * 2})
	e.OnCommit(streams.Commit{Tasks: 1, Took: 3 * time.Millisecond})
	e.OnRebalance(streams.Rebalance{Phase: streams.Revoked, Took: 5 * time.Millisecond})
	want := `
# HELP millrace_task_process_batch_seconds Time a task took to process one chunk of up to 256 records (the stream-time punctuations it triggered included).
# TYPE millrace_task_process_batch_seconds histogram
millrace_task_process_batch_seconds_bucket{application_id="hist",task="0_3",le="0.001"} 1
millrace_task_process_batch_seconds_bucket{application_id="hist",task="0_3",le="1"} 2
millrace_task_process_batch_seconds_bucket{application_id="hist",task="0_3",le="+Inf"} 2
millrace_task_process_batch_seconds_sum{application_id="hist",task="0_3"} 0.0025
millrace_task_process_batch_seconds_count{application_id="hist",task="0_3"} 2
# HELP millrace_task_punctuate_latency_seconds Time of one punctuator callback (Kafka Streams: punctuate-latency, punctuate-total).
# TYPE millrace_task_punctuate_latency_seconds histogram
millrace_task_punctuate_latency_seconds_bucket{application_id="hist",task="0_3",type="wall-clock",le="0.001"} 0
millrace_task_punctuate_latency_seconds_bucket{application_id="hist",task="0_3",type="wall-clock",le="1"} 0
millrace_task_punctuate_latency_seconds_bucket{application_id="hist",task="0_3",type="wall-clock",le="+Inf"} 1
millrace_task_punctuate_latency_seconds_sum{application_id="hist",task="0_3",type="wall-clock"} 2
millrace_task_punctuate_latency_seconds_count{application_id="hist",task="0_3",type="wall-clock"} 1
# HELP millrace_rebalance_latency_seconds Time the instance took to handle one rebalance callback: tasks created on an assignment, committed and closed on a revocation (Kafka Streams: tasks-assigned-latency, tasks-revoked-latency).
# TYPE millrace_rebalance_latency_seconds histogram
millrace_rebalance_latency_seconds_bucket{application_id="hist",phase="revoked",le="0.001"} 0
millrace_rebalance_latency_seconds_bucket{application_id="hist",phase="revoked",le="1"} 1
millrace_rebalance_latency_seconds_bucket{application_id="hist",phase="revoked",le="+Inf"} 1
millrace_rebalance_latency_seconds_sum{application_id="hist",phase="revoked"} 0.005
millrace_rebalance_latency_seconds_count{application_id="hist",phase="revoked"} 1
# HELP millrace_app_state 1 for the App's current state, 0 for the others (Kafka Streams: state).
# TYPE millrace_app_state gauge
millrace_app_state{application_id="hist",state="CREATED"} 1
millrace_app_state{application_id="hist",state="ERROR"} 0
millrace_app_state{application_id="hist",state="NOT_RUNNING"} 0
millrace_app_state{application_id="hist",state="PENDING_ERROR"} 0
millrace_app_state{application_id="hist",state="PENDING_SHUTDOWN"} 0
millrace_app_state{application_id="hist",state="REBALANCING"} 0
millrace_app_state{application_id="hist",state="RUNNING"} 0
`
	if err := testutil.CollectAndCompare(e, strings.NewReader(want), "millrace_task_process_batch_seconds",
		"millrace_task_punctuate_latency_seconds", "millrace_rebalance_latency_seconds", "millrace_app_state"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(e, "millrace_commit_latency_seconds"); n != 1 {
		t.Errorf("commit latency series: %d, want 1", n)
	}
	reg := prom.NewPedanticRegistry()
	if err := reg.Register(e); err != nil {
		t.Fatalf("the exporter is not a valid collector: %v", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func TestAnExporterInTwoAppsFailsEveryScrapeNamingBoth(t *testing.T) {
	e := New(Options{})
	newApp(t, "first", e)
	newApp(t, "second", e)
	reg := prom.NewRegistry()
	reg.MustRegister(e)
	_, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), `"first" and "second"`) {
		t.Errorf("gather error %v, want one naming both Apps", err)
	}
}

func TestAnExporterInNoAppExportsOnlyItsHistograms(t *testing.T) {
	e := New(Options{})
	if n := testutil.CollectAndCount(e); n != 0 {
		t.Errorf("%d series before any App or event, want none", n)
	}
}

func TestLabelValuesThatAreNotUTF8AreRepaired(t *testing.T) {
	s := snapshot()
	s.Tasks[1].Sinks[0].Topic = "bad\xff"
	if n := testutil.CollectAndCount(fixed{New(Options{}), s}, "millrace_topic_records_produced_total"); n != 2 {
		t.Errorf("%d series, want both sinks' (the bad topic name repaired, not dropped)", n)
	}
}

func TestDocsTableListsEveryFamilyAndNoOther(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(millrace_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	ch := make(chan *prom.Desc, 200)
	New(Options{}).Describe(ch)
	close(ch)
	exported := map[string]bool{}
	for d := range ch {
		name := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]
		exported[name] = true
		if !documented[name] {
			t.Errorf("%s is exported but not in docs/metrics.md's table", name)
		}
	}
	for name := range documented {
		if !exported[name] {
			t.Errorf("docs/metrics.md lists %s, which is not exported", name)
		}
	}
}
