package streams_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/streams"
)

// standbyCount counts per key in a RocksDB store "counts": every input
// record writes one changelog record.
func standbyCount(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "in").WithStores("counts")
	processor.AddSink(b, "out", "out", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.Config{}.KeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t *testing.T, bootstrap, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": "watermarks",
		"go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer c.Close()
	out := map[int32]int64{}
	for p := range partitions {
		_, high, err := c.QueryWatermarkOffsets(topic, p, 10_000)
		must(t, err)
		out[p] = high
	}
	return out
}

// countsReach returns a done function for consumeUntil: true once every
// key k0..k<keys-1> has a count of at least n. It looks at each record once.
func countsReach(keys int, n int64) func([]consumed) bool {
	seen, below := 0, keys
	last := map[string]int64{}
	return func(out []consumed) bool {
		for _, c := range out[seen:] {
			if len(c.value) != 8 {
				continue
			}
			k, v := string(c.key), int64(binary.BigEndian.Uint64(c.value))
			if last[k] < n && v >= n {
				below--
			}
			last[k] = max(last[k], v)
		}
		seen = len(out)
		return below == 0
	}
}

// consumeFrom reads topic from the offsets given (read_committed when
// committed is set) until done says so or the timeout passes.
func consumeFrom(t *testing.T, bootstrap, topic string, from map[int32]int64, committed bool, timeout time.Duration,
	done func([]consumed) bool, apps ...*running) []consumed {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": "from-reader",
		"enable.auto.commit": false, "isolation.level": iso, "go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer c.Close()
	var tps []kafka.TopicPartition
	for p, o := range from {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	must(t, c.Assign(tps))
	var out []consumed
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !done(out) {
		for _, a := range apps {
			if a.app.State() == streams.Error {
				t.Fatalf("App failed while waiting for output: %v", a.stop(t))
			}
		}
		if m, ok := c.Poll(50).(*kafka.Message); ok {
			out = append(out, consumed{key: m.Key, value: m.Value, partition: m.TopicPartition.Partition, offset: int64(m.TopicPartition.Offset)})
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing after timeout with what it
// last said.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// caughtUp reports whether every standby the App keeps has lag 0, and
// it keeps want of them.
func caughtUp(app *streams.App, want int) (bool, string) {
	var open []streams.StandbyMetrics
	for _, s := range app.Metrics().Standbys {
		if s.Open {
			open = append(open, s)
		}
	}
	if len(open) != want {
		return false, fmt.Sprintf("%d standbys open, want %d: %+v", len(open), want, open)
	}
	for _, s := range open {
		if s.Lag != 0 {
			return false, fmt.Sprintf("standby %s lags %d", s.ID, s.Lag)
		}
	}
	return true, ""
}

// restoredByTask returns each task's restored records on an App.
func restoredByTask(app *streams.App) map[processor.TaskID]int64 {
	out := map[processor.TaskID]int64{}
	for _, tm := range app.Metrics().Tasks {
		out[tm.ID] = tm.RestoredRecords()
	}
	return out
}

// failoverRun runs two instances (InstanceIDs a and b) of a count over 6
// partitions with standbys, or none, writes K records, crashes b once
// everything is processed (and, with standbys, every standby caught up),
// and returns, for each task b ran, what its restoration on a restored,
// with the records of its input partition. It checks the counts after one
// more round: exact under exactly-once, complete under at-least-once.
func failoverRun(t *testing.T, app string, standbys int, guarantee streams.Guarantee) (restored, inputs map[processor.TaskID]int64) {
	const partitions, keys, rounds = 6, 600, 40 // K = 24,000
	c := cluster(t, map[string]int32{"in": partitions, "out": partitions})
	cfg := streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
		StandbyReplicas: standbys, ProcessingGuarantee: guarantee}
	ca, cb := cfg, cfg
	ca.InstanceID, cb.InstanceID = "a", "b"
	a := start(t, standbyCount(t), ca)
	b := start(t, standbyCount(t), cb)
	waitUntil(t, 60*time.Second, "each instance runs 3 tasks", func() (bool, string) {
		na, nb := len(a.app.LocalTasks()), len(b.app.LocalTasks())
		return na == 3 && nb == 3, fmt.Sprintf("a runs %v, b runs %v", a.app.LocalTasks(), b.app.LocalTasks())
	})
	var recs []kv
	for r := range rounds {
		for k := range keys {
			recs = append(recs, kv{fmt.Sprintf("k%d", k), "x", int64(1000 + r)})
		}
	}
	produce(t, c.Bootstrap(), "in", recs)
	eos := guarantee == streams.ExactlyOnceV2
	began := time.Now()
	all := countsReach(keys, rounds)
	if !all(consumeUntil(t, c.Bootstrap(), "out", eos, 120*time.Second, all, a, b)) {
		t.Fatalf("not every key counted %d within 120s", rounds)
	}
	if standbys != 0 {
		// Caught up twice, more than three commit intervals apart: nothing
		// more reaches the changelogs.
		for range 2 {
			waitUntil(t, 60*time.Second, "a's standbys catch up", func() (bool, string) { return caughtUp(a.app, 3) })
			waitUntil(t, 60*time.Second, "b's standbys catch up", func() (bool, string) { return caughtUp(b.app, 3) })
			time.Sleep(400 * time.Millisecond) // spacing between the two checks, not synchronisation
		}
	}
	t.Logf("processed and caught up %v after the input was written", time.Since(began))
	moved := b.app.LocalTasks()
	before := restoredByTask(a.app)
	crashed := time.Now()
	must(t, streams.Crash(b.app))
	waitUntil(t, 60*time.Second, "a takes over every task", func() (bool, string) {
		return len(a.app.LocalTasks()) == partitions, fmt.Sprintf("a runs %v", a.app.LocalTasks())
	})
	if got := a.app.StandbyTasks(); standbys != 0 && len(got) != 0 {
		t.Errorf("a keeps standbys %v of tasks it runs", got)
	}
	t.Logf("a runs every task %v after the crash", time.Since(crashed))
	after := restoredByTask(a.app)
	ends := endOffsets(t, c.Bootstrap(), "in", partitions)
	restored, inputs = map[processor.TaskID]int64{}, map[processor.TaskID]int64{}
	for _, id := range moved {
		restored[id] = after[id] - before[id]
		inputs[id] = ends[id.Partition]
	}
	// One more round: every count is rounds+1 (exactly under exactly-once;
	// at least, and complete, under at-least-once).
	from := endOffsets(t, c.Bootstrap(), "out", partitions)
	var more []kv
	for k := range keys {
		more = append(more, kv{fmt.Sprintf("k%d", k), "x", int64(5000)})
	}
	produce(t, c.Bootstrap(), "in", more)
	out := consumeFrom(t, c.Bootstrap(), "out", from, eos, 90*time.Second, countsReach(keys, rounds+1), a)
	got := lastCounts(out)
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		if n := got[key]; n < rounds+1 || (eos && n != rounds+1) {
			t.Errorf("%s counts %d after the failover, want %d", key, n, rounds+1)
		}
	}
	return restored, inputs
}

func TestStandbyPromotedAfterOwnerCrashRestoresNothing(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		t.Run(g.String(), func(t *testing.T) {
			restored, inputs := failoverRun(t, "standby-failover", streams.StandbyAll, g)
			if len(restored) != 3 {
				t.Fatalf("b ran %d tasks, want 3", len(restored))
			}
			for id, n := range restored {
				t.Logf("task %s: restored %d records on takeover (%d input records)", id, n, inputs[id])
				if n != 0 {
					t.Errorf("task %s restored %d records on a, which kept a caught-up standby of it; want 0", id, n)
				}
			}
		})
	}
}

func TestWithoutStandbysTheSurvivorRestoresTheMovedTasksWholeState(t *testing.T) {
	restored, inputs := failoverRun(t, "standby-control", 0, streams.AtLeastOnce)
	if len(restored) != 3 {
		t.Fatalf("b ran %d tasks, want 3", len(restored))
	}
	for id, n := range restored {
		t.Logf("task %s: restored %d records on takeover (%d input records)", id, n, inputs[id])
		if inputs[id] == 0 || n < inputs[id] {
			t.Errorf("task %s restored %d records, want at least its %d input records (one changelog record each)", id, n, inputs[id])
		}
	}
}

// readCheckpoint reads a task's checkpoint from a stopped instance's state
// directory.
func readCheckpoint(t *testing.T, stateDir, app string, id processor.TaskID) map[statedir.TopicPartition]int64 {
	t.Helper()
	d, err := statedir.Open(stateDir, app, nil)
	must(t, err)
	td, err := d.LockTask(id.String())
	must(t, err)
	defer func() { must(t, td.Unlock()) }()
	cp, err := td.ReadCheckpoint()
	must(t, err)
	return cp
}

func TestStandbyKilledAndRestartedResumesFromItsCheckpoint(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		t.Run(g.String(), func(t *testing.T) {
			const partitions = 2
			app := "standby-restart"
			c := cluster(t, map[string]int32{"in": partitions, "out": partitions})
			cfg := streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
				StandbyReplicas: streams.StandbyAll, ProcessingGuarantee: g}
			ca, cb := cfg, cfg
			ca.InstanceID, cb.InstanceID = "a", "b"
			ca.StateDir = t.TempDir()
			a := start(t, standbyCount(t), ca)
			b := start(t, standbyCount(t), cb)
			waitUntil(t, 60*time.Second, "each instance runs 1 task", func() (bool, string) {
				return len(a.app.LocalTasks()) == 1 && len(b.app.LocalTasks()) == 1,
					fmt.Sprintf("a runs %v, b runs %v", a.app.LocalTasks(), b.app.LocalTasks())
			})
			var recs []kv
			for r := range 50 {
				for k := range 600 {
					recs = append(recs, kv{fmt.Sprintf("k%d", k), "x", int64(1000 + r)})
				}
			}
			produce(t, c.Bootstrap(), "in", recs) // 30,000: about 15,000 changelog records per task
			sb := a.app.StandbyTasks()
			if len(sb) != 1 {
				t.Fatalf("a keeps standbys %v, want 1", sb)
			}
			id := sb[0]
			inputs := endOffsets(t, c.Bootstrap(), "in", partitions)[id.Partition]
			changelog := app + "-counts-changelog"
			waitUntil(t, 90*time.Second, "a's standby checkpoints and catches up with the whole input", func() (bool, string) {
				ms := a.app.Metrics().Standbys
				i := slices.IndexFunc(ms, func(s streams.StandbyMetrics) bool { return s.ID == id })
				if i < 0 {
					return false, "no standby metrics"
				}
				s := ms[i]
				return s.Checkpoints > 0 && s.Lag == 0 && s.Applied >= inputs, fmt.Sprintf("%+v, %d input records", s, inputs)
			})
			must(t, streams.Crash(a.app)) // no checkpoint at close: the periodic one stands
			cp := readCheckpoint(t, ca.StateDir, app, id)[statedir.TopicPartition{Topic: changelog, Partition: id.Partition}]
			end := endOffsets(t, c.Bootstrap(), changelog, partitions)[id.Partition]
			if cp <= 0 || cp > end {
				t.Fatalf("standby checkpoint of %s is %d, want within (0, %d]", id, cp, end)
			}
			a2 := start(t, standbyCount(t), ca)
			waitUntil(t, 60*time.Second, "the restarted standby catches up", func() (bool, string) {
				if got := a2.app.StandbyTasks(); !slices.Equal(got, []processor.TaskID{id}) {
					return false, fmt.Sprintf("standbys %v, want [%s]", got, id)
				}
				return caughtUp(a2.app, 1)
			})
			var applied int64
			for _, s := range a2.app.Metrics().Standbys {
				if s.ID == id {
					applied = s.Applied
				}
			}
			t.Logf("%s: checkpoint %d, changelog end %d, %d input records; applied %d after the restart", g, cp, end, inputs, applied)
			if g == streams.AtLeastOnce && applied != end-cp {
				t.Errorf("the restarted standby applied %d records, want %d (checkpoint %d to end %d)", applied, end-cp, cp, end)
			}
			if applied > end-cp || applied >= inputs {
				t.Errorf("the restarted standby applied %d records; from its checkpoint %d to the end %d it has at most %d, "+
					"a full restore at least %d", applied, cp, end, end-cp, inputs)
			}
		})
	}
}

func TestStandbyDirectoriesSurviveTheStateCleaner(t *testing.T) {
	const partitions = 2
	app := "standby-cleaner"
	c := cluster(t, map[string]int32{"in": partitions, "out": partitions})
	cfg := streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
		StandbyReplicas: streams.StandbyAll, StateCleanupDelay: 100 * time.Millisecond}
	ca, cb := cfg, cfg
	ca.InstanceID, cb.InstanceID = "a", "b"
	ca.StateDir = t.TempDir()
	a := start(t, standbyCount(t), ca)
	b := start(t, standbyCount(t), cb)
	produce(t, c.Bootstrap(), "in", rounds(20, 5))
	waitUntil(t, 60*time.Second, "a keeps a caught-up standby", func() (bool, string) {
		if len(a.app.LocalTasks()) != 1 || len(b.app.LocalTasks()) != 1 {
			return false, fmt.Sprintf("a runs %v, b runs %v", a.app.LocalTasks(), b.app.LocalTasks())
		}
		return caughtUp(a.app, 1)
	})
	id := a.app.StandbyTasks()[0]
	dir := filepath.Join(ca.StateDir, app, id.String())
	// Ten cleaner passes (every StateCleanupDelay), the directory untouched
	// and older than the delay all along.
	deadline := time.Now().Add(10 * cfg.StateCleanupDelay)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("standby %s's state directory: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := a.app.StandbyTasks(); !slices.Equal(got, []processor.TaskID{id}) {
		t.Fatalf("a keeps standbys %v, want [%s]", got, id)
	}
	if _, err := os.Stat(filepath.Join(dir, "rocksdb", "counts")); err != nil {
		t.Fatalf("standby %s's store: %v", id, err)
	}
}

func TestStandbyReplicasNegativeOtherThanStandbyAllIsAConfigError(t *testing.T) {
	for _, n := range []int{-2, -100} {
		err := newErr(t, standbyCount(t), streams.Config{StandbyReplicas: n})
		if err == nil || !strings.Contains(err.Error(), "StandbyReplicas") {
			t.Errorf("StandbyReplicas %d: New = %v, want an error naming StandbyReplicas", n, err)
		}
	}
	for _, n := range []int{0, 1, 2, streams.StandbyAll} {
		if err := newErr(t, standbyCount(t), streams.Config{StandbyReplicas: n}); err != nil {
			t.Errorf("StandbyReplicas %d: New = %v, want no error", n, err)
		}
	}
}

func TestStandbyWithACheckpointBeyondItsChangelogEndIsWipedAndRebuilt(t *testing.T) {
	const partitions, keys, rounds = 2, 600, 5
	app := "standby-rebuild"
	c := cluster(t, map[string]int32{"in": partitions, "out": partitions})
	cfg := streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
		StandbyReplicas: streams.StandbyAll}
	ca, cb := cfg, cfg
	ca.InstanceID, cb.InstanceID = "a", "b"
	ca.StateDir = t.TempDir()
	a := start(t, standbyCount(t), ca)
	b := start(t, standbyCount(t), cb)
	waitUntil(t, 60*time.Second, "each instance runs 1 task", func() (bool, string) {
		return len(a.app.LocalTasks()) == 1 && len(b.app.LocalTasks()) == 1,
			fmt.Sprintf("a runs %v, b runs %v", a.app.LocalTasks(), b.app.LocalTasks())
	})
	var recs []kv
	for r := range rounds {
		for k := range keys {
			recs = append(recs, kv{fmt.Sprintf("k%d", k), "x", int64(1000 + r)})
		}
	}
	produce(t, c.Bootstrap(), "in", recs)
	waitUntil(t, 60*time.Second, "a keeps a caught-up standby of b's task", func() (bool, string) {
		if len(a.app.LocalTasks()) != 1 || len(b.app.LocalTasks()) != 1 {
			return false, fmt.Sprintf("a runs %v, b runs %v", a.app.LocalTasks(), b.app.LocalTasks())
		}
		if ok, why := caughtUp(a.app, 1); !ok {
			return false, why
		}
		var applied int64
		for _, s := range a.app.Metrics().Standbys {
			applied += s.Applied
		}
		return applied > 0, "the standby applied nothing yet"
	})
	id := a.app.StandbyTasks()[0]
	must(t, a.stop(t))
	changelog := app + "-counts-changelog"
	end := endOffsets(t, c.Bootstrap(), changelog, partitions)[id.Partition]
	d, err := statedir.Open(ca.StateDir, app, nil)
	must(t, err)
	td, err := d.LockTask(id.String())
	must(t, err)
	must(t, td.WriteCheckpoint(map[statedir.TopicPartition]int64{{Topic: changelog, Partition: id.Partition}: end + 1000}))
	must(t, td.Unlock())
	a2 := start(t, standbyCount(t), ca)
	waitUntil(t, 60*time.Second, "the restarted standby is rebuilt", func() (bool, string) {
		if got := a2.app.StandbyTasks(); !slices.Equal(got, []processor.TaskID{id}) {
			return false, fmt.Sprintf("standbys %v, want [%s]", got, id)
		}
		return caughtUp(a2.app, 1)
	})
	for _, s := range a2.app.Metrics().Standbys {
		if s.ID == id && s.Applied != end {
			t.Errorf("the standby of %s applied %d records after its checkpoint claimed %d, want all %d: rebuilt from the start",
				id, s.Applied, end+1000, end)
		}
	}
	// The rebuilt standby is promoted and counts on from the right state.
	from := endOffsets(t, c.Bootstrap(), "out", partitions)
	must(t, streams.Crash(b.app))
	waitUntil(t, 60*time.Second, "a takes over every task", func() (bool, string) {
		return len(a2.app.LocalTasks()) == partitions, fmt.Sprintf("a runs %v", a2.app.LocalTasks())
	})
	var more []kv
	for k := range keys {
		more = append(more, kv{fmt.Sprintf("k%d", k), "x", int64(5000)})
	}
	produce(t, c.Bootstrap(), "in", more)
	out := consumeFrom(t, c.Bootstrap(), "out", from, false, 60*time.Second, countsReach(keys, rounds+1), a2)
	got := lastCounts(out)
	for k := range keys {
		if key := fmt.Sprintf("k%d", k); got[key] < rounds+1 {
			t.Errorf("%s counts %d after the promotion, want %d", key, got[key], rounds+1)
		}
	}
}
