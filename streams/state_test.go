package streams_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/streams"
)

// wipingCount counts per key in a RocksDB store that wipes itself when its
// files cannot be opened.
func wipingCount(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "in").WithStores("counts")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.Config{WipeCorrupt: true}.KeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

func rounds(keys, n int) []kv {
	var out []kv
	for i := 0; i < n; i++ {
		for k := 0; k < keys; k++ {
			out = append(out, kv{fmt.Sprintf("k%d", k), "x", int64(1000 + i)})
		}
	}
	return out
}

// restartAfter runs a first App over 10 rounds of 5 keys, stops it
// cleanly, lets damage change the state directory, then runs a second App
// over one more round and checks every key counts 11.
func restartAfter(t *testing.T, app string, damage func(t *testing.T, dir string), cfg streams.Config) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	dir := t.TempDir()
	cfg.ApplicationID, cfg.BootstrapServers, cfg.StateDir = app, c.Bootstrap(), dir
	cfg.CommitInterval = 50 * time.Millisecond
	produce(t, c.Bootstrap(), "in", rounds(5, 10))
	first := start(t, wipingCount(t), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 50 }, first)
	must(t, first.stop(t)) // clean: commit and checkpoint
	damage(t, filepath.Join(dir, app, "0_0"))
	produce(t, c.Bootstrap(), "in", rounds(5, 1))
	second := start(t, wipingCount(t), cfg)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 55 }, second)
	got := lastCounts(out)
	for k := 0; k < 5; k++ {
		if key := fmt.Sprintf("k%d", k); got[key] != 11 {
			t.Errorf("%s counts %d after the restart, want 11 (the state before the damage plus one)", key, got[key])
		}
	}
}

func TestWipedCorruptStoreIsRestoredFromItsChangelogStart(t *testing.T) {
	restartAfter(t, "wiped", func(t *testing.T, taskDir string) {
		// A deleted CURRENT file: RocksDB cannot open the store, and
		// WipeCorrupt wipes it. Its checkpoint is still there.
		if _, err := os.Stat(filepath.Join(taskDir, ".checkpoint")); err != nil {
			t.Fatalf("no checkpoint after a clean stop: %v", err)
		}
		must(t, os.Remove(filepath.Join(taskDir, "rocksdb", "counts", "CURRENT")))
	}, streams.Config{})
}

func TestWipedTruncatedSSTIsRestoredFromItsChangelogStart(t *testing.T) {
	restartAfter(t, "truncated", func(t *testing.T, taskDir string) {
		ssts, _ := filepath.Glob(filepath.Join(taskDir, "rocksdb", "counts", "*.sst"))
		if len(ssts) == 0 {
			t.Fatal("no .sst file after a clean stop (the checkpoint flushes the store to disk)")
		}
		for _, f := range ssts {
			must(t, os.Truncate(f, 10))
		}
	}, streams.Config{})
}

// moveCheckpoint rewrites the task's checkpoint with the changelog offset
// far past the changelog's end.
func moveCheckpoint(t *testing.T, taskDir, app string) {
	d, err := statedir.Open(filepath.Dir(filepath.Dir(taskDir)), app, zap.NewNop())
	must(t, err)
	td, err := d.LockTask("0_0")
	must(t, err)
	defer td.Unlock()
	must(t, td.WriteCheckpoint(map[statedir.TopicPartition]int64{{Topic: app + "-counts-changelog", Partition: 0}: 1_000}))
}

func TestCheckpointBeyondTheChangelogEndWithLostStoreFilesIsRestoredFromTheStart(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	restartAfter(t, "beyond-lost", func(t *testing.T, taskDir string) {
		moveCheckpoint(t, taskDir, "beyond-lost")
		must(t, os.RemoveAll(filepath.Join(taskDir, "rocksdb", "counts")))
	}, streams.Config{Logger: zap.New(core)})
	if logs.FilterMessageSnippet("checkpoint is beyond the changelog's end").Len() == 0 {
		t.Error("no warning about the checkpoint beyond the changelog's end")
	}
}

func TestCheckpointBeyondTheChangelogEndWipesStoreFilesThatSurvived(t *testing.T) {
	restartAfter(t, "beyond-kept", func(t *testing.T, taskDir string) {
		moveCheckpoint(t, taskDir, "beyond-kept")
	}, streams.Config{})
}

// hugeState stores, for each record, a value over librdkafka's 1 MB
// message limit: its changelog write is refused.
func hugeState(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "keep", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		s, err := processor.KeyValueStore[string, string](ctx, "big")
		if err != nil {
			return err
		}
		v := r.Value()
		if v == "huge" {
			v = strings.Repeat("x", 2<<20)
		}
		if err := s.Put(r.Key(), v); err != nil {
			return err
		}
		return ctx.Forward(r)
	}), "in").WithStores("big")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "keep")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("big"), record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

func TestRefusedChangelogWriteStopsTheAppWhateverTheProcessingHandler(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		t.Run(g.String(), func(t *testing.T) {
			c := cluster(t, map[string]int32{"in": 1, "out": 1})
			produce(t, c.Bootstrap(), "in", []kv{{"a", "small", 1}, {"b", "huge", 2}, {"c", "small", 3}})
			app := start(t, hugeState(t), streams.Config{ApplicationID: "huge", BootstrapServers: c.Bootstrap(), ProcessingGuarantee: g,
				ProcessingHandler: handler.LogAndContinue{}})
			select {
			case err := <-app.done:
				if !errors.Is(err, handler.ErrFatal) || !strings.Contains(err.Error(), "huge-big-changelog") || !strings.Contains(err.Error(), `store "big"`) {
					t.Fatalf("Run: %v, want a fatal error naming the store and its changelog", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the App kept running (state %s) after its changelog refused a write", app.app.State())
			}
			// The record after the refused one was never processed.
			out := consumeUntil(t, c.Bootstrap(), "out", g == streams.ExactlyOnceV2, 2*time.Second, func(o []consumed) bool { return false })
			for _, o := range out {
				if string(o.key) != "a" {
					t.Errorf("output %s=%s after the refused changelog write", o.key, o.value)
				}
			}
		})
	}
}

func TestUnreadableProcessIDIsAnErrorNotANewIdentity(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "pid"), 0o755))
	path := filepath.Join(dir, "pid", "process-id")
	must(t, os.WriteFile(path, []byte("not-an-id\n"), 0o644))
	app := start(t, int64Source(t), streams.Config{ApplicationID: "pid", BootstrapServers: c.Bootstrap(), StateDir: dir,
		ProcessingGuarantee: streams.ExactlyOnceV2})
	select {
	case err := <-app.done:
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Run: %v, want an error naming %s", err, path)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the App runs with a new identity")
	}
	if b, _ := os.ReadFile(path); string(b) != "not-an-id\n" {
		t.Errorf("the process-id file was overwritten with %q", b)
	}
}
