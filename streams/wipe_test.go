package streams_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/streams"
)

// A store wiped (its checkpoint is beyond its changelog's end, or its files
// were unreadable) is restored from the changelog's start; its stale
// checkpoint must not survive the wipe. The bug (at-least-once): create
// ignores the checkpoint (ignoreCheckpoint, or store.WasWiped) but leaves
// the file on disk, so until the task writes a new one (after 10,000
// changelog records, or at a clean close) the file still claims the stale
// offset for a store that no longer holds what it describes. Once the
// changelog has grown past it, a crash makes the next start trust it: the
// store is restored from that offset only, and every key last written
// before it is lost. (Crash here closes RocksDB, which flushes what it
// holds; a killed process loses everything RocksDB had not flushed, its
// WAL being off: for a store wiped and restored since the last checkpoint,
// that can be all of it. Removing the store's files after the crash stands
// in for that.)
func TestStaleCheckpointDoesNotSurviveTheWipeOfAStore(t *testing.T) {
	for _, c := range []struct {
		name       string
		checkpoint int64 // written before the second start
		unreadable bool  // the store's files are made unreadable too
	}{
		{"checkpoint_beyond_the_changelog_end", 60, false},
		{"unreadable_store_files", 51, true},
	} {
		t.Run(c.name, func(t *testing.T) { staleCheckpoint(t, c.checkpoint, c.unreadable) })
	}
}

func staleCheckpoint(t *testing.T, checkpoint int64, unreadable bool) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	dir := t.TempDir()
	const app = "stale-checkpoint"
	cfg := streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), StateDir: dir, CommitInterval: 50 * time.Millisecond}
	taskDir := filepath.Join(dir, app, "0_0")
	changelog := statedir.TopicPartition{Topic: app + "-counts-changelog", Partition: 0}

	produce(t, c.Bootstrap(), "in", append(rounds(5, 10), kv{"z", "x", 2000})) // changelog offsets 0..50
	first := start(t, wipingCount(t), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 51 }, first)
	must(t, first.stop(t)) // clean: checkpoint 51
	// Either the checkpoint claims more than the changelog holds (as after
	// the changelog was recreated), or the store cannot be opened: the next
	// start wipes it and restores it from the changelog's start.
	d, err := statedir.Open(dir, app, zap.NewNop())
	must(t, err)
	td, err := d.LockTask("0_0")
	must(t, err)
	must(t, td.WriteCheckpoint(map[statedir.TopicPartition]int64{changelog: checkpoint}))
	must(t, td.Unlock())
	if unreadable {
		must(t, os.Remove(filepath.Join(taskDir, "rocksdb", "counts", "CURRENT")))
	}

	produce(t, c.Bootstrap(), "in", rounds(5, 4)) // changelog offsets 51..70: past the stale checkpoint
	second := start(t, wipingCount(t), cfg)
	consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 71 }, second)
	must(t, streams.Crash(second.app))
	td, err = d.LockTask("0_0")
	must(t, err)
	cp, err := td.ReadCheckpoint()
	must(t, err)
	must(t, td.Unlock())
	if o, ok := cp[changelog]; ok && o == checkpoint {
		t.Errorf("after the wipe the checkpoint still claims offset %d of the wiped store", o)
	}
	// Unless the task checkpointed since the wipe (a rebalance), a kill
	// leaves none of the store's writes since the wipe on disk.
	if _, ok := cp[changelog]; !ok || cp[changelog] == checkpoint {
		must(t, os.RemoveAll(filepath.Join(taskDir, "rocksdb", "counts")))
	}

	produce(t, c.Bootstrap(), "in", []kv{{"z", "x", 3000}})
	third := start(t, wipingCount(t), cfg)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool {
		n := 0
		for _, r := range o {
			if string(r.key) == "z" {
				n++
			}
		}
		return n >= 2
	}, third)
	if got := lastCounts(out)["z"]; got != 2 {
		t.Fatalf("z counts %d after the restart, want 2: its first count, written before the stale checkpoint offset, was lost", got)
	}
}
