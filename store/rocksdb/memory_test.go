package rocksdb_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/storetest"
)

const memTestBudget = rocksdb.MinMemoryBytes // 16 MiB

func newMemory(t *testing.T, total int64) *rocksdb.Memory {
	t.Helper()
	m, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: total})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// openKV opens a key-value store of cfg in its own task directory under
// root.
func openKV(t *testing.T, cfg rocksdb.Config, root, task, name string) store.KeyValueBytes {
	t.Helper()
	s := cfg.KeyValue(name).Get()
	if err := s.Init(store.InitContext{TaskID: task, StateDir: filepath.Join(root, task), Logger: zap.NewNop()}); err != nil {
		t.Fatal(err)
	}
	return s
}

func property(t *testing.T, s store.KeyValueBytes, name string) uint64 {
	t.Helper()
	v, ok := rocksdb.IntProperty(s, name)
	if !ok {
		t.Fatalf("store %s: no property %s", s.Name(), name)
	}
	return v
}

func memKey(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(uint32(i)*2654435761)) }

func memValue(i int) []byte {
	v := make([]byte, 100)
	binary.BigEndian.PutUint64(v, uint64(i))
	return v
}

func mustPut(t *testing.T, s store.KeyValueBytes, i int) {
	t.Helper()
	if err := s.Put(memKey(i), memValue(i)); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, s store.KeyValueBytes, i int) {
	t.Helper()
	v, ok, err := s.Get(memKey(i))
	if err != nil || !ok || binary.BigEndian.Uint64(v) != uint64(i) {
		t.Fatalf("store %s: get %d = %x, %v, %v", s.Name(), i, v, ok, err)
	}
}

func TestStoresOnOneMemoryShareItsCacheAndWriteBuffers(t *testing.T) {
	m := newMemory(t, memTestBudget)
	root := t.TempDir()
	cfg := rocksdb.Config{Memory: m}
	a := openKV(t, cfg, root, "0_0", "a")
	defer a.Close()
	b := openKV(t, cfg, root, "0_1", "b")
	defer b.Close()
	for i := range 1000 {
		mustPut(t, a, i)
		mustPut(t, b, i)
	}
	for _, s := range []store.KeyValueBytes{a, b} {
		if c := property(t, s, "rocksdb.block-cache-capacity"); c != memTestBudget {
			t.Errorf("store %s: block cache capacity %d, want the budget's %d", s.Name(), c, memTestBudget)
		}
	}
	st := m.Stats()
	if st.Stores != 2 || st.CapacityBytes != memTestBudget {
		t.Errorf("stats %+v: want 2 stores on a %d-byte cache", st, memTestBudget)
	}
	if want := int64(memTestBudget * rocksdb.DefaultWriteBufferRatio); st.WriteBufferLimitBytes != want {
		t.Errorf("write-buffer limit %d, want %d", st.WriteBufferLimitBytes, want)
	}
	// Both memtables are charged to the one manager, and so to the cache.
	mem := property(t, a, "rocksdb.cur-size-all-mem-tables") + property(t, b, "rocksdb.cur-size-all-mem-tables")
	if st.WriteBufferBytes < int64(mem) || st.UsedBytes < st.WriteBufferBytes {
		t.Errorf("stats %+v: the write buffers (%d bytes in the two memtables) are not all charged to the cache", st, mem)
	}
	for i := range 1000 {
		mustGet(t, a, i)
		mustGet(t, b, i)
	}
}

// TestMemoryBoundsManyStoresWrittenFarPastTheBudget writes eight stores
// with three times the budget and reads it all back: the cache's usage stays
// at the budget and the memtables of all the stores together under the
// write-buffer limit, where eight stores of their own would hold the
// whole data set in memtables (8 x 48 MiB of room).
func TestMemoryBoundsManyStoresWrittenFarPastTheBudget(t *testing.T) {
	const (
		stores = 8
		keys   = 480_000 // x 100-byte values: ~3 x the 16 MiB budget
		sample = 5_000
	)
	m := newMemory(t, memTestBudget)
	root := t.TempDir()
	var kvs []store.KeyValueBytes
	for p := range stores {
		s := openKV(t, rocksdb.Config{Memory: m}, root, fmt.Sprintf("0_%d", p), "kv")
		defer s.Close()
		kvs = append(kvs, s)
	}
	// The cache is not strict (see Memory): a shard may hold more than
	// its share while entries in it are pinned. 10% covers that.
	limit := int64(memTestBudget) * 11 / 10
	var peakUsed, peakMem, peakWB int64
	check := func(phase string, i int) {
		st := m.Stats()
		var mem int64
		for _, s := range kvs {
			mem += int64(property(t, s, "rocksdb.cur-size-all-mem-tables"))
		}
		peakUsed, peakMem, peakWB = max(peakUsed, st.UsedBytes), max(peakMem, mem), max(peakWB, st.WriteBufferBytes)
		if st.UsedBytes > limit {
			t.Fatalf("%s, key %d: cache holds %d bytes, over the budget %d", phase, i, st.UsedBytes, memTestBudget)
		}
		// A memtable is flushed once the manager nears its limit; the
		// ones being filled while others flush pass it by a few MiB
		// (2 MiB measured).
		if mem > st.WriteBufferLimitBytes+(4<<20) {
			t.Fatalf("%s, key %d: memtables hold %d bytes, over the write-buffer limit %d", phase, i, mem, st.WriteBufferLimitBytes)
		}
	}
	for i := range keys {
		mustPut(t, kvs[i%stores], i)
		if i%sample == 0 {
			check("writing", i)
		}
	}
	for i := range keys {
		j := (i * 7919) % keys // a permutation of the keys
		mustGet(t, kvs[j%stores], j)
		if i%sample == 0 {
			check("reading", i)
		}
	}
	check("done", keys)
	t.Logf("peaks over %d stores and %d MB of values: cache %d KiB of %d, memtables %d KiB, write buffers charged %d KiB of %d",
		stores, keys*100/1_000_000, peakUsed>>10, memTestBudget>>10, peakMem>>10, peakWB>>10, m.Stats().WriteBufferLimitBytes>>10)
	if peakUsed < memTestBudget/2 {
		t.Errorf("cache peaked at %d bytes: the reads of %d MB did not go through the shared cache", peakUsed, keys*100/1_000_000)
	}
}

func TestMemoryClosedBeforeItsStoresLivesUntilTheLastCloses(t *testing.T) {
	m := newMemory(t, memTestBudget)
	root := t.TempDir()
	cfg := rocksdb.Config{Memory: m}
	a := openKV(t, cfg, root, "0_0", "a")
	b := openKV(t, cfg, root, "0_1", "b")
	mustPut(t, b, -1)
	it, err := b.Range(nil, nil, false) // sees what was written before it
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Stores; got != 2 {
		t.Fatalf("after Close with 2 stores open: Stats().Stores = %d", got)
	}
	late := cfg.KeyValue("late").Get()
	err = late.Init(store.InitContext{TaskID: "0_2", StateDir: filepath.Join(root, "0_2"), Logger: zap.NewNop()})
	if err == nil || !strings.Contains(err.Error(), `"late"`) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("a store opening on a closed budget: err = %v, want one naming the store and the closed budget", err)
	}
	late.Close()
	for _, s := range []store.KeyValueBytes{a, b} {
		for i := range 20_000 {
			mustPut(t, s, i)
		}
		if err := s.(interface{ FlushToDisk() error }).FlushToDisk(); err != nil {
			t.Fatal(err)
		}
		for i := range 20_000 {
			mustGet(t, s, i)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// b still reads through the cache, and its iterator, opened before
	// the budget closed, still walks.
	for i := range 20_000 {
		mustGet(t, b, i)
	}
	n := 0
	for it.Next() {
		n++
	}
	if n != 1 || it.Err() != nil {
		t.Errorf("iterator over b: %d entries, err %v", n, it.Err())
	}
	if st := m.Stats(); st.Stores != 1 || st.UsedBytes == 0 {
		t.Errorf("with b open: stats %+v", st)
	}
	if err := b.Close(); err != nil { // closes the iterator too
		t.Fatal(err)
	}
	it.Close()
	if st := m.Stats(); st != (rocksdb.MemoryStats{}) {
		t.Errorf("after the last store closed: stats %+v, want zero (freed)", st)
	}
}

func TestStoresClosedBeforeTheirMemoryFreeItOnClose(t *testing.T) {
	m, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: memTestBudget})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for p := range 3 {
		s := openKV(t, rocksdb.Config{Memory: m}, root, fmt.Sprintf("0_%d", p), "kv")
		mustPut(t, s, p)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Stores != 0 || st.CapacityBytes != memTestBudget {
		t.Errorf("no store open, budget not closed: stats %+v", st)
	}
	m.Close()
	m.Close() // idempotent
	if st := m.Stats(); st != (rocksdb.MemoryStats{}) {
		t.Errorf("after Close: stats %+v, want zero (freed)", st)
	}
}

// TestMemoryClosedWhileStoresOpenAndCloseConcurrently races Close against
// stores that open, write, read and close on the budget attached to their
// directory: each either holds the budget or gets a cache of its own, and
// the budget is freed once, after the last store using it closed.
func TestMemoryClosedWhileStoresOpenAndCloseConcurrently(t *testing.T) {
	m, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: memTestBudget})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := m.Attach(root); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 4, 6
	var wg sync.WaitGroup
	started := make(chan struct{}, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signalled := false
			defer func() { // a worker that failed early must not hold up Close
				if !signalled {
					started <- struct{}{}
				}
			}()
			for r := range rounds {
				s := rocksdb.KeyValue("kv").Get()
				dir := filepath.Join(root, fmt.Sprintf("0_%d", w), fmt.Sprint(r))
				if err := s.Init(store.InitContext{TaskID: "0_0", StateDir: dir, Logger: zap.NewNop()}); err != nil {
					t.Error(err)
					return
				}
				if r == 0 {
					started <- struct{}{}
					signalled = true
				}
				for i := range 2_000 {
					if err := s.Put(memKey(i), memValue(i)); err != nil {
						t.Error(err)
					}
				}
				for i := range 2_000 {
					if _, ok, err := s.Get(memKey(i)); err != nil || !ok {
						t.Errorf("get %d: %v, %v", i, ok, err)
					}
				}
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range workers {
		<-started // every worker holds the budget, or has held it
	}
	m.Close()
	wg.Wait()
	if st := m.Stats(); st != (rocksdb.MemoryStats{}) {
		t.Errorf("after Close and every store closed: stats %+v, want zero (freed)", st)
	}
}

func TestStoreUnderAttachedDirectoryUsesItsMemory(t *testing.T) {
	m := newMemory(t, memTestBudget)
	app := filepath.Join(t.TempDir(), "app")
	if err := m.Attach(app); err != nil {
		t.Fatal(err)
	}
	// A hand-built store, a DSL-made one: both are suppliers' stores that
	// open under the task directory with no Memory in their Config.
	in := openKV(t, rocksdb.Config{}, app, "1_3", "counts")
	defer in.Close()
	if c := property(t, in, "rocksdb.block-cache-capacity"); c != memTestBudget {
		t.Errorf("store under the attached directory: block cache capacity %d, want the budget's %d", c, memTestBudget)
	}
	w := rocksdb.Window("win", time.Hour, time.Minute, false)
	ws, err := w.Segments(store.InitContext{TaskID: "1_3", StateDir: filepath.Join(app, "1_3"), Logger: zap.NewNop()}, "win")
	if err != nil {
		t.Fatal(err)
	}
	seg, err := ws.Open("win.0")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if got := m.Stats().Stores; got != 2 {
		t.Errorf("a key-value store and a window segment under the directory: Stats().Stores = %d, want 2", got)
	}
	out := openKV(t, rocksdb.Config{}, t.TempDir(), "1_3", "counts")
	defer out.Close()
	if c := property(t, out, "rocksdb.block-cache-capacity"); c != rocksdb.DefaultBlockCacheBytes {
		t.Errorf("store elsewhere: block cache capacity %d, want its own %d", c, rocksdb.DefaultBlockCacheBytes)
	}

	other := newMemory(t, memTestBudget)
	if err := other.Attach(app); err == nil || !strings.Contains(err.Error(), app) {
		t.Errorf("a second budget on the same directory: err = %v, want one naming it", err)
	}
	m.Close()
	if err := m.Attach(app); err == nil {
		t.Error("Attach after Close succeeded")
	}
	after := openKV(t, rocksdb.Config{}, app, "1_4", "counts")
	defer after.Close()
	if c := property(t, after, "rocksdb.block-cache-capacity"); c != rocksdb.DefaultBlockCacheBytes {
		t.Errorf("store opened after the budget closed: block cache capacity %d, want its own %d", c, rocksdb.DefaultBlockCacheBytes)
	}
	// Detached by Close: the directory takes another budget.
	if err := other.Attach(app); err != nil {
		t.Errorf("attach after the first budget closed: %v", err)
	}
}

func TestStoreWithoutMemoryKeepsItsOwnCacheAndWriteBuffers(t *testing.T) {
	s := openKV(t, rocksdb.Config{}, t.TempDir(), "0_0", "kv")
	defer s.Close()
	for i := range 1000 {
		mustPut(t, s, i)
	}
	if c := property(t, s, "rocksdb.block-cache-capacity"); c != rocksdb.DefaultBlockCacheBytes {
		t.Errorf("block cache capacity %d, want %d", c, rocksdb.DefaultBlockCacheBytes)
	}
	for i := range 1000 {
		mustGet(t, s, i)
	}
}

func TestNewMemoryReportsEveryProblem(t *testing.T) {
	_, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: 1 << 20, WriteBufferRatio: 1.5, HighPriorityRatio: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"TotalBytes 1048576", "WriteBufferRatio 1.5", "HighPriorityRatio -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRocksDBBackendOnSharedMemoryPassesConformanceSuite(t *testing.T) {
	m := newMemory(t, memTestBudget)
	cfg := rocksdb.Config{Memory: m}
	storetest.Run(t, storetest.Backend{
		Name:     "rocksdb-shared-memory",
		KeyValue: cfg.KeyValue,
		Window:   cfg.Window,
		Session:  cfg.Session,
	})
}
