package streams_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/streams"
)

func events(keys, perKey int) []kv {
	var out []kv
	for i := 1; i <= perKey; i++ {
		for k := 0; k < keys; k++ {
			out = append(out, kv{fmt.Sprintf("k%02d", k), strconv.Itoa(i), int64(i*1000 + k)})
		}
	}
	return out
}

// TestAtLeastOnceCrashMidStreamLosesNothing proves the at-least-once
// guarantee with a count, an update a replay changes: after a hard stop
// mid-stream every key's count includes every input (no loss); records
// since the last commit may be counted twice (docs/semantics.md), which
// the test measures and reports.
func TestAtLeastOnceCrashMidStreamLosesNothing(t *testing.T) {
	c := cluster(t, map[string]int32{"events": 4, "out": 4})
	input := events(20, 200) // 4000 records
	produce(t, c.Bootstrap(), "events", input)
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "alos", BootstrapServers: c.Bootstrap(), StateDir: dir,
		CommitInterval: 50 * time.Millisecond, BufferedRecordsPerPartition: 50}
	first := start(t, countTopology(t, "events", "out", 500*time.Microsecond), cfg)
	before := consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 1000 }, first)
	must(t, streams.Crash(first.app)) // hard stop mid-stream: no commit, no checkpoint
	if len(before) >= len(input) {
		t.Fatalf("the first instance finished before the crash (%d outputs); the test proves nothing", len(before))
	}

	second := start(t, countTopology(t, "events", "out", 0), cfg)
	reached := func(o []consumed) bool {
		last := lastCounts(o)
		for k := 0; k < 20; k++ {
			if last[fmt.Sprintf("k%02d", k)] < 200 {
				return false
			}
		}
		return true
	}
	consumeUntil(t, c.Bootstrap(), "out", false, 90*time.Second, reached, second)
	waitState(t, second.app, streams.Running, 30*time.Second)
	kv, err := streams.KeyValueStore[string, int64](second.app, "counts")
	must(t, err)
	var over int64
	for k := 0; k < 20; k++ {
		key := fmt.Sprintf("k%02d", k)
		v, ok, err := kv.Get(key)
		if err != nil || !ok || v < 200 {
			t.Errorf("count of %s = %d %v %v, want at least its 200 inputs (nothing lost)", key, v, ok, err)
		}
		over += v - 200
	}
	t.Logf("at-least-once after a hard stop: %d of %d inputs counted twice", over, len(input))
}

// slow forwards every record after delay, so a test can stop an App while
// it is surely mid-stream.
func slow(delay time.Duration) processor.Supplier[string, string, string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if delay > 0 {
			time.Sleep(delay)
		}
		return ctx.Forward(r)
	})
}

func countTopology(t testing.TB, in, out string, delay time.Duration) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), in)
	processor.AddProcessor(b, "slow", slow(delay), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "slow").WithStores("counts")
	processor.AddSink(b, "out", out, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()).WithCaching())
	topo, err := b.Build()
	must(t, err)
	return topo
}

// expectEachCountOnce waits until topic's committed output holds a count
// for every input record, gives a duplicate, if any, time to show up, then
// checks that each key's counts are exactly 1..n.
func expectEachCountOnce(t *testing.T, bootstrap, topic string, timeout time.Duration, input []kv, app *running) {
	t.Helper()
	out := consumeUntil(t, bootstrap, topic, true, timeout, func(o []consumed) bool { return len(o) >= len(input) }, app)
	time.Sleep(500 * time.Millisecond)
	out = consumeUntil(t, bootstrap, topic, true, 5*time.Second, func(o []consumed) bool { return len(o) >= len(out) })
	want := map[string]int64{}
	for _, r := range input {
		want[r.key]++
	}
	checkExactCounts(t, out, want)
}

// checkExactCounts checks that each key's outputs are exactly 1..n.
func checkExactCounts(t *testing.T, out []consumed, want map[string]int64) {
	t.Helper()
	seq := map[string][]int64{}
	for _, r := range out {
		seq[string(r.key)] = append(seq[string(r.key)], int64(binary.BigEndian.Uint64(r.value)))
	}
	for k, n := range want {
		s := seq[k]
		if int64(len(s)) != n {
			t.Errorf("key %s has %d results, want %d: %v", k, len(s), n, s)
			continue
		}
		for i, v := range s {
			if v != int64(i+1) {
				t.Errorf("key %s: result %d is %d, want %d (duplicate or gap): %v", k, i, v, i+1, s)
				break
			}
		}
	}
}

func TestExactlyOnceCrashMidStreamHoldsEachResultOnce(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 3, "out": 3})
	input := events(10, 150) // 1500 records, 150 per key
	produce(t, c.Bootstrap(), "in", input)
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "eos", BootstrapServers: c.Bootstrap(), StateDir: dir,
		ProcessingGuarantee: streams.ExactlyOnceV2, BufferedRecordsPerPartition: 20}
	first := start(t, countTopology(t, "in", "out", time.Millisecond), cfg)
	before := consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 300 }, first)
	must(t, streams.Crash(first.app))
	if len(before) >= len(input) {
		t.Fatalf("the first instance finished before the crash (%d outputs); the test proves nothing", len(before))
	}

	second := start(t, countTopology(t, "in", "out", 0), cfg)
	expectEachCountOnce(t, c.Bootstrap(), "out", 90*time.Second, input, second)
}

func TestTwoInstancesSplitPartitionsAndSurvivorTakesOverWithState(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 4, "out": 4})
	topo := countTopology(t, "in", "out", 0)
	base := streams.Config{ApplicationID: "scale", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	a, b := base, base
	a.StateDir, b.StateDir = t.TempDir(), t.TempDir()
	appA := start(t, topo, a)
	appB := start(t, topo, b)
	batch1 := events(8, 20)
	produce(t, c.Bootstrap(), "in", batch1)
	consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= len(batch1) }, appA, appB)
	deadline := time.Now().Add(30 * time.Second)
	for len(appA.app.LocalTasks()) == 0 || len(appB.app.LocalTasks()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions not split: A runs %v, B runs %v", appA.app.LocalTasks(), appB.app.LocalTasks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("A runs %v, B runs %v", appA.app.LocalTasks(), appB.app.LocalTasks())
	must(t, appB.stop(t)) // its tasks move to A, which restores their counts from the changelog
	deadline = time.Now().Add(30 * time.Second)
	for len(appA.app.LocalTasks()) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("survivor runs %v, want all 4 tasks", appA.app.LocalTasks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	batch2 := events(8, 20)
	produce(t, c.Bootstrap(), "in", batch2)
	total := len(batch1) + len(batch2)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 60*time.Second, func(o []consumed) bool { return len(o) >= total }, appA)
	want := map[string]int64{}
	for _, r := range append(batch1, batch2...) {
		want[r.key]++
	}
	checkExactCounts(t, out, want)
	kv, err := streams.KeyValueStore[string, int64](appA.app, "counts")
	must(t, err)
	for k, n := range want {
		if v, _, _ := kv.Get(k); v != n {
			t.Errorf("survivor's store %s = %d, want %d", k, v, n)
		}
	}
}

func TestSourceTopicsWithDifferentPartitionCountsFailAtStart(t *testing.T) {
	c := cluster(t, map[string]int32{"left": 2, "right": 3})
	b := processor.NewBuilder()
	processor.AddSource(b, "l", record.String(), record.String(), "left")
	processor.AddSource(b, "r", record.String(), record.String(), "right")
	processor.AddProcessor(b, "join", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return nil
	}), "l", "r")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "copart", BootstrapServers: c.Bootstrap()})
	err = <-app.done
	if !errors.Is(err, streams.ErrCoPartitioning) || !strings.Contains(err.Error(), "left=2") || !strings.Contains(err.Error(), "right=3") {
		t.Errorf("Run: %v, want ErrCoPartitioning naming left=2 and right=3", err)
	}
	if app.app.State() != streams.Error {
		t.Errorf("state %s, want ERROR", app.app.State())
	}
}

func int64Source(t testing.TB) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "nums", record.String(), record.Int64(), "nums")
	processor.AddSink(b, "out", "doubled", record.String(), record.Int64(), "nums")
	topo, err := b.Build()
	must(t, err)
	return topo
}

func be64(n int64) string {
	return string(binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func TestUndeserializableInputIsSkippedAndCountedUnderLogAndContinue(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
	produce(t, c.Bootstrap(), "nums", []kv{{"a", be64(1), 1}, {"b", "bad", 2}, {"c", be64(3), 3}})
	app := start(t, int64Source(t), streams.Config{ApplicationID: "deser-continue", BootstrapServers: c.Bootstrap(),
		DeserializationHandler: handler.LogAndContinue{}, CommitInterval: 100 * time.Millisecond})
	out := consumeUntil(t, c.Bootstrap(), "doubled", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 2 }, app)
	if len(out) != 2 || string(out[0].key) != "a" || string(out[1].key) != "c" {
		t.Fatalf("output %v, want a and c", out)
	}
	must(t, app.stop(t))
}

func TestUndeserializableInputStopsTheAppUnderDefaultHandler(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
	produce(t, c.Bootstrap(), "nums", []kv{{"a", be64(1), 1}, {"b", "bad", 2}})
	app := start(t, int64Source(t), streams.Config{ApplicationID: "deser-fail", BootstrapServers: c.Bootstrap()})
	select {
	case err := <-app.done:
		var de *record.DeserializationError
		if !errors.As(err, &de) || de.Topic != "nums" || de.Offset != 1 || !strings.Contains(err.Error(), "task 0_0") {
			t.Errorf("Run: %v, want a DeserializationError for nums-0@1 naming the task", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("App did not stop")
	}
}

func TestUnreachableBrokerMakesRunFailWithinStartupTimeout(t *testing.T) {
	topo := int64Source(t)
	app := start(t, topo, streams.Config{ApplicationID: "nobroker", BootstrapServers: "127.0.0.1:1",
		StartupTimeout: 2 * time.Second})
	began := time.Now()
	select {
	case err := <-app.done:
		if !errors.Is(err, streams.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("Run: %v, want ErrUnreachable naming the address", err)
		}
		if el := time.Since(began); el > 10*time.Second {
			t.Errorf("took %v", el)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not fail within 15s")
	}
}

func TestSecondAppOnSameStateDirGetsTheLockError(t *testing.T) {
	c := cluster(t, map[string]int32{"nums": 1, "doubled": 1})
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "locked", BootstrapServers: c.Bootstrap(), StateDir: dir}
	first := start(t, int64Source(t), cfg)
	waitState(t, first.app, streams.Running, 30*time.Second)
	second := start(t, int64Source(t), cfg)
	select {
	case err := <-second.done:
		if !errors.Is(err, statedir.ErrLocked) || !strings.Contains(err.Error(), dir) {
			t.Errorf("second Run: %v, want ErrLocked naming %s", err, dir)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second App did not fail")
	}
	if first.app.State() != streams.Running {
		t.Errorf("first App is %s", first.app.State())
	}
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	_, err := streams.New(int64Source(t), streams.Config{ApplicationID: "bad id!", CommitInterval: -1,
		ConsumerConfig: map[string]any{"group.id": "x"}})
	if !errors.Is(err, streams.ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, frag := range []string{"ApplicationID", "BootstrapServers", "CommitInterval", `"group.id"`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error lacks %s:\n%v", frag, err)
		}
	}
}
