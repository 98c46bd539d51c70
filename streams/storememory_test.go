//go:build !millrace_norocksdb

package streams_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// memoryTopology has, per task, a hand-built RocksDB store ("counts", fed
// by counter) and a DSL-made one (the Count), plus a global store: five
// RocksDB instances on two partitions.
func memoryTopology(t *testing.T) *processor.Topology {
	b := dsl.NewBuilder()
	in := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()))
	counted := dsl.Process(in, func() processor.Processor[string, string, string, int64] { return &counter{} }, dsl.Stores("counts"))
	names := dsl.GlobalTableFrom(b, "names", record.String(), record.String(), dsl.As("names"))
	named := dsl.LeftJoinGlobal(counted, names, func(k string, _ int64) string { return k },
		func(n int64, name *string) int64 { return n })
	dsl.To(named, "out", dsl.ValueSerde(record.Int64()))
	dsl.To(dsl.ToStream(dsl.Count(dsl.GroupByKey(in), dsl.As("dsl-counts"))), "out2", dsl.ValueSerde(record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

func TestAppRocksDBStoresShareOneMemoryBudgetFreedAtClose(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "out": 2, "out2": 2, "names": 1})
	const app, budget = "bounded", 32 << 20
	dir := t.TempDir()
	r := start(t, memoryTopology(t), streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), StateDir: dir,
		CommitInterval: 50 * time.Millisecond, StoreMemoryBytes: budget})
	var keys []kv
	for i := range 20 {
		keys = append(keys, kv{fmt.Sprintf("k%d", i), "x", 1000})
	}
	produce(t, c.Bootstrap(), "in", keys)
	out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 20 }, r)
	if len(out) < 20 {
		t.Fatalf("%d outputs, want 20", len(out))
	}
	parts := map[int32]bool{}
	for _, o := range out {
		parts[o.partition] = true
	}
	if len(parts) != 2 {
		t.Fatalf("outputs on partitions %v: the keys did not reach both tasks", parts)
	}
	m := rocksdb.MemoryFor(filepath.Join(dir, app))
	if m == nil {
		t.Fatal("no memory budget attached to the App's state directory while it runs")
	}
	// Two tasks with two stores each, and the global store.
	st := m.Stats()
	if st.Stores != 5 || st.CapacityBytes != budget || st.UsedBytes == 0 {
		t.Errorf("budget stats %+v: want 5 stores on a %d-byte cache, in use", st, budget)
	}
	// The metrics report the budget once, and no store reports the shared
	// cache as its own (summed over stores it would be counted 4 times).
	snap := r.app.Metrics()
	if snap.StoreMemory == nil || snap.StoreMemory.CapacityBytes != budget || snap.StoreMemory.Stores != 5 {
		t.Errorf("Metrics().StoreMemory = %+v, want the %d-byte budget with 5 stores", snap.StoreMemory, budget)
	}
	for _, tm := range snap.Tasks {
		for _, sm := range tm.Stores {
			if !sm.HasDB {
				t.Errorf("task %s store %s reports no RocksDB properties", tm.ID, sm.Name)
			}
			if sm.DB.BlockCacheCapacity != 0 || sm.DB.BlockCacheUsage != 0 {
				t.Errorf("task %s store %s reports the shared cache as its own: %+v", tm.ID, sm.Name, sm.DB)
			}
		}
	}
	must(t, r.stop(t))
	if got := rocksdb.MemoryFor(filepath.Join(dir, app)); got != nil {
		t.Error("the budget is still attached after Close")
	}
	if st := m.Stats(); st != (rocksdb.MemoryStats{}) {
		t.Errorf("after Close: budget stats %+v, want zero (freed with the last store)", st)
	}
}

func TestAppWithNegativeStoreMemoryGivesEachStoreItsOwn(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	const app = "unbounded"
	dir := t.TempDir()
	r := start(t, wipingCount(t), streams.Config{ApplicationID: app, BootstrapServers: c.Bootstrap(), StateDir: dir,
		CommitInterval: 50 * time.Millisecond, StoreMemoryBytes: -1})
	produce(t, c.Bootstrap(), "in", []kv{{"k", "x", 1000}})
	if out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 1 }, r); len(out) != 1 {
		t.Fatalf("%d outputs, want 1", len(out))
	}
	if m := rocksdb.MemoryFor(filepath.Join(dir, app)); m != nil {
		t.Errorf("StoreMemoryBytes -1: a budget is attached (%+v)", m.Stats())
	}
}

func TestStoreMemoryBytesBelowTheMinimumIsAConfigError(t *testing.T) {
	_, err := streams.New(wipingCount(t), streams.Config{ApplicationID: "a", BootstrapServers: "localhost:9092",
		StoreMemoryBytes: 1 << 20})
	if !errors.Is(err, streams.ErrConfig) || !strings.Contains(err.Error(), "StoreMemoryBytes 1048576") {
		t.Errorf("err = %v, want a config error naming StoreMemoryBytes", err)
	}
}
