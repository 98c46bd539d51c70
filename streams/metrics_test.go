package streams_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// recorder is a hook implementing every hook interface; it keeps what it
// was told.
type recorder struct {
	mu         sync.Mutex
	app        *streams.App
	batches    []streams.ProcessBatch
	commits    []streams.Commit
	rebalances []streams.Rebalance
	states     []string
	starts     []streams.RestoreStart
	restored   []streams.RestoreBatch
	ends       []streams.RestoreEnd
	suspended  []streams.RestoreSuspended
}

func (r *recorder) lock() func() { r.mu.Lock(); return r.mu.Unlock }

func (r *recorder) OnNewApp(a *streams.App) { defer r.lock()(); r.app = a }
func (r *recorder) OnProcessBatch(e streams.ProcessBatch) {
	defer r.lock()()
	r.batches = append(r.batches, e)
}
func (r *recorder) OnCommit(e streams.Commit) { defer r.lock()(); r.commits = append(r.commits, e) }
func (r *recorder) OnRebalance(e streams.Rebalance) {
	defer r.lock()()
	r.rebalances = append(r.rebalances, e)
}
func (r *recorder) OnStateChange(_, to streams.State) {
	defer r.lock()()
	r.states = append(r.states, to.String())
}
func (r *recorder) OnRestoreStart(e streams.RestoreStart) {
	defer r.lock()()
	r.starts = append(r.starts, e)
}
func (r *recorder) OnRestoreBatch(e streams.RestoreBatch) {
	defer r.lock()()
	r.restored = append(r.restored, e)
}
func (r *recorder) OnRestoreEnd(e streams.RestoreEnd) { defer r.lock()(); r.ends = append(r.ends, e) }
func (r *recorder) OnRestoreSuspended(e streams.RestoreSuspended) {
	defer r.lock()()
	r.suspended = append(r.suspended, e)
}

// panicky panics at every commit.
type panicky struct{}

func (panicky) OnCommit(streams.Commit) { panic("a broken hook") }

// sumTasks adds f over the snapshot's tasks.
func sumTasks(m streams.Metrics, f func(streams.TaskMetrics) int64) int64 {
	var n int64
	for _, tm := range m.Tasks {
		n += f(tm)
	}
	return n
}

func TestMetricsAndHooksReportARun(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "out": 2})
	rec := &recorder{}
	var mu sync.Mutex
	var listened []string
	app := start(t, countTopology(t, "in", "out", 0), streams.Config{ApplicationID: "metrics", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, Hooks: []streams.Hook{rec, panicky{}}, MetricsRecordingLevel: streams.RecordDebug,
		StateListener: func(_, to streams.State) {
			mu.Lock()
			listened = append(listened, to.String())
			mu.Unlock()
		}})
	if rec.app != app.app {
		t.Fatalf("OnNewApp got %p, want the App New returned (%p)", rec.app, app.app)
	}
	produce(t, c.Bootstrap(), "in", events(5, 20))
	consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 100 }, app)
	var m streams.Metrics
	waitFor(t, 10*time.Second, "every record is counted and committed", func() bool {
		m = app.app.Metrics()
		return sumTasks(m, func(tm streams.TaskMetrics) int64 { return tm.Processed }) == 100 &&
			sumTasks(m, func(tm streams.TaskMetrics) int64 {
				var n int64
				for _, s := range tm.Sinks {
					n += s.Records
				}
				return n
			}) == 100 && m.HookPanics > 0
	})
	if m.ApplicationID != "metrics" || m.State != streams.Running || len(m.Tasks) != 2 {
		t.Fatalf("snapshot %+v: want 2 tasks of a running App", m)
	}
	for i, tm := range m.Tasks {
		if want := (processor.TaskID{Partition: int32(i)}); tm.ID != want || !tm.Active || tm.Restoring {
			t.Errorf("task %d: %s active=%v restoring=%v, want %s active", i, tm.ID, tm.Active, tm.Restoring, want)
		}
		if len(tm.Sources) != 1 || tm.Sources[0].Topic != "in" || tm.Sources[0].Partition != int32(i) ||
			tm.Sources[0].RecordsConsumed != tm.Processed || tm.Sources[0].Processed != tm.Processed ||
			tm.Sources[0].E2ELatency.Count != tm.Processed {
			t.Errorf("task %s sources %+v, want partition %d of in with every record consumed, processed and timed", tm.ID, tm.Sources, i)
		}
		if len(tm.Sinks) != 1 || tm.Sinks[0].Node != "out" || tm.Sinks[0].Topic != "out" || tm.Sinks[0].Records != tm.Processed {
			t.Errorf("task %s sinks %+v, want one output per input on out", tm.ID, tm.Sinks)
		}
		if tm.Commits == 0 || tm.Lateness.Count != tm.Processed || tm.ProcessLatency.Count != tm.Processed || len(tm.Dropped) != 0 {
			t.Errorf("task %s: commits %d, lateness %+v, process latency %+v, dropped %v", tm.ID, tm.Commits,
				tm.Lateness, tm.ProcessLatency, tm.Dropped)
		}
		if len(tm.Stores) != 1 || tm.Stores[0].Name != "counts" || !tm.Stores[0].Cached || !tm.Stores[0].HasDB ||
			tm.Stores[0].Cache.Misses == 0 || tm.Stores[0].DB.EstimateNumKeys == 0 || tm.Stores[0].DB.BlockCacheCapacity != 0 {
			t.Errorf("task %s stores %+v, want the cached RocksDB store counts, its block cache being the shared budget's", tm.ID, tm.Stores)
		}
	}
	if m.StoreMemory == nil || m.StoreMemory.CapacityBytes != streams.DefaultStoreMemoryBytes || m.StoreMemory.Stores != len(m.Tasks) {
		t.Errorf("StoreMemory %+v, want the default %d-byte budget holding one store per task", m.StoreMemory, streams.DefaultStoreMemoryBytes)
	}
	if m.CacheMaxBytes != 10<<20 || m.CacheUsedBytes <= 0 {
		t.Errorf("cache %d of %d bytes used", m.CacheUsedBytes, m.CacheMaxBytes)
	}
	must(t, app.stop(t))

	after := app.app.Metrics()
	if n := sumTasks(after, func(tm streams.TaskMetrics) int64 { return tm.Processed }); n != 100 || after.Tasks[0].Active {
		t.Errorf("after Close: processed %d, task active %v; want the counters kept, the tasks inactive", n, after.Tasks[0].Active)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var batched int
	for _, b := range rec.batches {
		if b.Records <= 0 || b.Records > 256 || b.Took <= 0 {
			t.Errorf("batch %+v", b)
		}
		batched += b.Records
	}
	if batched != 100 {
		t.Errorf("OnProcessBatch reported %d records, want 100", batched)
	}
	if n := len(rec.commits); n == 0 || rec.commits[n-1].Tasks != 2 || rec.commits[n-1].Partitions != 2 {
		t.Errorf("commits %+v, want some, the last of 2 tasks and their 2 partitions", rec.commits)
	}
	if len(rec.rebalances) != 1 || rec.rebalances[0].Phase != streams.Assigned || rec.rebalances[0].Partitions != 2 ||
		rec.rebalances[0].Tasks != 2 || rec.rebalances[0].Took <= 0 {
		t.Errorf("rebalances %+v, want 2 partitions and tasks assigned (Close is no rebalance)", rec.rebalances)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(rec.states, " "), strings.Join(listened, " "); got != want || !strings.HasSuffix(got, "PENDING_SHUTDOWN NOT_RUNNING") {
		t.Errorf("OnStateChange saw %q, the StateListener %q", got, want)
	}
}

func TestMetricsCountDroppedRecordsByReason(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "filter", func() processor.Processor[string, int64, string, int64] {
		return &dropOdd{}
	}, "in")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "filter")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "drops", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, DeserializationHandler: handler.LogAndContinue{}})
	var recs []kv
	for i := range 10 {
		recs = append(recs, kv{"k", string(i64(int64(i))), int64(i + 1)})
	}
	recs = append(recs, kv{"k", "not an int64", 20}, kv{"k", "bad", 21})
	produce(t, c.Bootstrap(), "in", recs)
	var tm streams.TaskMetrics
	waitFor(t, 30*time.Second, "12 records taken or skipped", func() bool {
		m := app.app.Metrics()
		if len(m.Tasks) != 1 {
			return false
		}
		tm = m.Tasks[0]
		return tm.Processed == 10 && tm.DroppedBy("deserialization-error") == 2
	})
	if tm.DroppedBy("odd") != 5 || len(tm.Dropped) != 2 {
		t.Errorf("dropped %+v, want 5 odd and 2 deserialization errors", tm.Dropped)
	}
	if tm.Sources[0].RecordsConsumed != 12 {
		t.Errorf("consumed %d, want all 12 records, the skipped ones too", tm.Sources[0].RecordsConsumed)
	}
	if len(tm.Sinks) != 0 {
		t.Errorf("sinks %+v metered at RecordInfo, want none (RecordDebug meters them)", tm.Sinks)
	}
}

// dropOdd forwards even values and drops odd ones, reporting them.
type dropOdd struct {
	ctx processor.Context[string, int64]
}

func (d *dropOdd) Init(ctx processor.Context[string, int64]) error { d.ctx = ctx; return nil }
func (d *dropOdd) Close() error                                    { return nil }
func (d *dropOdd) Process(r record.Record[string, int64]) error {
	if r.Value()%2 == 1 {
		d.ctx.Dropped("odd")
		return nil
	}
	return d.ctx.Forward(r)
}

func TestRestoreListenerAndProgressFollowARestoration(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	topo := func() *processor.Topology {
		b := processor.NewBuilder()
		processor.AddSource(b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "in").
			WithStores("counts")
		processor.AddSink(b, "out", "out", record.String(), record.Int64(), "count")
		b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()))
		topo, err := b.Build()
		must(t, err)
		return topo
	}
	cfg := streams.Config{ApplicationID: "restore", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	first := start(t, topo(), cfg)
	produce(t, c.Bootstrap(), "in", events(300, 5)) // uncached: 1500 changelog records
	consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 1500 }, first)
	must(t, first.stop(t))

	// A new state directory: the store restores from its changelog.
	rec := &recorder{}
	var line bytes.Buffer
	live := false
	printer := streams.NewRestorePrinter(&syncWriter{w: &line}, streams.RestorePrinterOptions{Live: &live, Interval: time.Hour})
	cfg.Hooks = []streams.Hook{rec, printer}
	cfg.StateDir = t.TempDir()
	second := start(t, topo(), cfg)
	waitState(t, second.app, streams.Running, 60*time.Second)
	m := second.app.Metrics()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.starts) != 1 || len(rec.ends) != 1 || len(rec.suspended) != 0 {
		t.Fatalf("restore starts %+v, ends %+v, suspended %+v: want the store started and ended", rec.starts, rec.ends, rec.suspended)
	}
	want := streams.RestoreStart{Task: processor.TaskID{}, Store: "counts", Topic: "restore-counts-changelog", StartOffset: 0, EndOffset: 1500}
	if rec.starts[0] != want {
		t.Errorf("start %+v, want %+v", rec.starts[0], want)
	}
	// Batches of 1000: the restorer's batch size.
	if len(rec.restored) != 2 || rec.restored[0].Records != 1000 || rec.restored[0].BatchEndOffset != 999 ||
		rec.restored[1].Records != 500 || rec.restored[1].BatchEndOffset != 1499 {
		t.Errorf("batches %+v, want 1000 records to offset 999, then 500 to 1499", rec.restored)
	}
	if e := rec.ends[0]; e.Store != "counts" || e.Restored != 1500 || e.Took <= 0 {
		t.Errorf("end %+v, want 1500 records restored", e)
	}
	s := m.Tasks[0].Stores[0]
	if s.Restored != 1500 || s.Restoring || s.Remaining != 0 || s.Changelog != "restore-counts-changelog" {
		t.Errorf("store after RUNNING: %+v, want 1500 restored, nothing remaining", s)
	}
	p := m.Restore
	if p.Active || p.Stores != 1 || p.StoresDone != 1 || p.Offsets != 1500 || p.OffsetsDone != 1500 || p.Records != 1500 || p.Took <= 0 {
		t.Errorf("progress %+v; want a finished round of 1 store and 1500 records", p)
	}
	lines := strings.Split(strings.TrimSuffix(line.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "restoring: 0/1 stores, 0/1.5 k records, 0 rec/s" ||
		!strings.HasPrefix(lines[1], "restored: 1/1 stores, 1.5 k records in ") {
		t.Errorf("progress lines %q, want the first and the final one (the interval is an hour)", lines)
	}
}

// syncWriter serializes writes for a test reading the buffer later.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestHooksThatImplementNoHookAreAConfigError(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	topo, err := b.Build()
	must(t, err)
	_, err = streams.New(topo, streams.Config{ApplicationID: "a", BootstrapServers: "localhost:9092",
		Hooks: []streams.Hook{&recorder{}, 42, nil}, MetricsRecordingLevel: 7})
	if !errors.Is(err, streams.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, want := range []string{"Hooks[1] (int) implements none of the hook interfaces", "Hooks[2] is nil",
		"MetricsRecordingLevel 7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Hooks[0]") {
		t.Errorf("error %q blames a hook that implements them all", err)
	}
}

func TestMetricsOfAnAppNotRunYet(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	topo, err := b.Build()
	must(t, err)
	app, err := streams.New(topo, streams.Config{ApplicationID: "idle", BootstrapServers: "localhost:9092",
		MetricsRecordingLevel: streams.RecordDebug})
	must(t, err)
	defer app.Close()
	m := app.Metrics()
	if m.ApplicationID != "idle" || m.State != streams.Created || len(m.Tasks) != 0 || m.Level != streams.RecordDebug || m.Restore.Active {
		t.Errorf("metrics of a new App: %+v", m)
	}
	var nilApp *streams.App
	if m := nilApp.Metrics(); m.ApplicationID != "" {
		t.Errorf("nil App: %+v", m)
	}
}

func TestDebugLevelTimesEachRecordSoTheMaxIsTheSlowestRecord(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	const slow = 30 * time.Millisecond
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "maybe-slow", func() processor.Processor[string, string, string, string] {
		return &funcInit{init: func(processor.Context[string, string]) error { return nil },
			process: func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				if r.Value() == "slow" {
					time.Sleep(slow)
				}
				return ctx.Forward(r)
			}}
	}, "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "maybe-slow")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "debug", BootstrapServers: c.Bootstrap(),
		MetricsRecordingLevel: streams.RecordDebug})
	var recs []kv
	for i := range 200 {
		v := "fast"
		if i == 100 {
			v = "slow"
		}
		recs = append(recs, kv{"k", v, int64(i + 1)})
	}
	produce(t, c.Bootstrap(), "in", recs)
	var p streams.TaskMetrics
	waitFor(t, 30*time.Second, "200 records processed", func() bool {
		m := app.app.Metrics()
		if len(m.Tasks) == 0 {
			return false
		}
		p = m.Tasks[0]
		return p.Processed == 200
	})
	if l := p.ProcessLatency; l.Count != 200 || !l.Recent || time.Duration(l.Max) < slow || l.Sum < float64(slow) {
		t.Errorf("process latency %+v: want 200 records, the slowest at least %v", l, slow)
	}
}
