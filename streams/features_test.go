package streams_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/window"
)

func TestGlobalStoreIsRestoredBeforeTasksAndReadableFromEveryTask(t *testing.T) {
	c := cluster(t, map[string]int32{"customers": 2, "orders": 3, "enriched": 1, "looked-up": 1})
	produce(t, c.Bootstrap(), "customers", []kv{{"c1", "Ada", 1}, {"c2", "Grace", 2}, {"c3", "Linus", 3}})
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("customers"), record.String(), record.String()),
		"customers", record.String(), record.String())
	processor.AddSource(b, "orders", record.String(), record.String(), "orders")
	var writeErr error
	var mu sync.Mutex
	processor.AddProcessor(b, "enrich", func() processor.Processor[string, string, string, string] {
		var names store.KeyValueStore[string, string]
		return &funcInit{
			init: func(ctx processor.Context[string, string]) (err error) {
				names, err = processor.KeyValueStore[string, string](ctx, "customers")
				return err
			},
			process: func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				name, ok, err := names.Get(r.Key())
				if err != nil {
					return err
				}
				if !ok {
					name = "?"
				}
				if err := names.Put("x", "y"); err != nil {
					mu.Lock()
					writeErr = err
					mu.Unlock()
				}
				return ctx.Forward(r.WithValue(name + " ordered " + r.Value()))
			},
		}
	}, "orders")
	processor.AddSink(b, "out", "enriched", record.String(), record.String(), "enrich")
	// The ready-made lookup against the same global store, keyed by a
	// field derived from the record (here the order's customer id).
	processor.AddProcessor(b, "lookup", window.LookupBy("customers", true, func(k, _ string) (string, bool) { return k, k != "" },
		func(_ string, v string, name *string) string { return *name + " bought " + v }), "orders")
	processor.AddSink(b, "out2", "looked-up", record.String(), record.String(), "lookup")
	topo, err := b.Build()
	must(t, err)
	if !strings.Contains(topo.Describe().String(), "for global store (will not generate tasks)") {
		t.Errorf("Describe misses the global store:\n%s", topo.Describe())
	}
	app := start(t, topo, streams.Config{ApplicationID: "global", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond})
	produce(t, c.Bootstrap(), "orders", []kv{{"c1", "tea", 10}, {"c2", "books", 11}, {"c3", "chips", 12}, {"c9", "x", 13}})
	out := consumeUntil(t, c.Bootstrap(), "enriched", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 4 }, app)
	got := map[string]string{}
	for _, r := range out {
		got[string(r.key)] = string(r.value)
	}
	want := map[string]string{"c1": "Ada ordered tea", "c2": "Grace ordered books", "c3": "Linus ordered chips", "c9": "? ordered x"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	looked := consumeUntil(t, c.Bootstrap(), "looked-up", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 3 }, app)
	var lk []string
	for _, r := range looked {
		lk = append(lk, string(r.value))
	}
	sort.Strings(lk)
	if got := strings.Join(lk, ","); got != "Ada bought tea,Grace bought books,Linus bought chips" {
		t.Errorf("inner lookup: %s (c9 has no customer and must be dropped)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(writeErr, store.ErrReadOnly) {
		t.Errorf("write to the global store: %v, want ErrReadOnly", writeErr)
	}
}

type funcInit struct {
	ctx     processor.Context[string, string]
	init    func(processor.Context[string, string]) error
	process func(processor.Context[string, string], record.Record[string, string]) error
}

func (f *funcInit) Init(ctx processor.Context[string, string]) error {
	f.ctx = ctx
	return f.init(ctx)
}
func (f *funcInit) Process(r record.Record[string, string]) error { return f.process(f.ctx, r) }
func (f *funcInit) Close() error                                  { return nil }

func TestPunctuatorsAndContextCommitRunOnKafka(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "ticks": 1})
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "tick", func() processor.Processor[string, string, string, string] {
		return &funcInit{
			init: func(ctx processor.Context[string, string]) error {
				_, err := ctx.Schedule(20*time.Millisecond, punctuate.WallClock, func(now int64) error {
					r, err := record.New("wall", "tick", now)
					if err != nil {
						return err
					}
					return ctx.Forward(r)
				})
				return err
			},
			process: func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				ctx.Commit()
				return ctx.Forward(r)
			},
		}
	}, "in")
	processor.AddSink(b, "out", "ticks", record.String(), record.String(), "tick")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "ticks", BootstrapServers: c.Bootstrap()})
	produce(t, c.Bootstrap(), "in", []kv{{"k", "v", 1}})
	out := consumeUntil(t, c.Bootstrap(), "ticks", false, 30*time.Second, func(o []consumed) bool {
		walls := 0
		for _, r := range o {
			if string(r.key) == "wall" {
				walls++
			}
		}
		return walls >= 3 && len(o) > walls
	}, app)
	if len(out) < 4 {
		t.Errorf("got %d records, want the input and at least 3 wall-clock ticks", len(out))
	}
}

func TestInstanceWithoutPartitionsIsRunningAndCleansStateOfTasksItLost(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	dir := t.TempDir()
	// A task directory left behind by a task this instance will not run.
	must(t, os.MkdirAll(filepath.Join(dir, "clean", "7_7", "rocksdb"), 0o755))
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(dir, "clean", "7_7"), old, old))
	topo := countTopology(t, "in", "out", 0)
	a := start(t, topo, streams.Config{ApplicationID: "clean", BootstrapServers: c.Bootstrap(), StateDir: dir,
		StateCleanupDelay: 100 * time.Millisecond})
	waitState(t, a.app, streams.Running, 30*time.Second)
	b := start(t, topo, streams.Config{ApplicationID: "clean", BootstrapServers: c.Bootstrap()})
	deadline := time.Now().Add(30 * time.Second)
	for b.app.State() != streams.Running || a.app.State() != streams.Running {
		if time.Now().After(deadline) {
			t.Fatalf("states %s and %s, want both RUNNING (one instance has no partition)", a.app.State(), b.app.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(a.app.LocalTasks()) + len(b.app.LocalTasks()); n != 1 {
		t.Errorf("%d tasks run, want 1", n)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "clean", "7_7")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the directory of an unassigned task was not cleaned")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCloseWhileStartingIsAShutdownNotAnError(t *testing.T) {
	app := start(t, countTopology(t, "in", "out", 0), streams.Config{ApplicationID: "early-close",
		BootstrapServers: "127.0.0.1:1", StartupTimeout: 3 * time.Second})
	time.Sleep(200 * time.Millisecond)
	if err := app.stop(t); err != nil {
		t.Errorf("Close during start: %v, want nil", err)
	}
	if app.app.State() != streams.NotRunning {
		t.Errorf("state %s, want NOT_RUNNING", app.app.State())
	}
}
