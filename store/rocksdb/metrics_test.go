package rocksdb_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

func TestDBPropertiesReportMemTablesKeysAndBlockCache(t *testing.T) {
	st, err := store.NewKeyValueBuilder(rocksdb.KeyValue("kv"), record.String(), record.String()).
		WithCaching().WithLoggingDisabled().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	kv := st.(store.KeyValueStore[string, string])
	const keys = 500
	for i := range keys {
		if err := kv.Put(fmt.Sprintf("key-%03d", i), "value"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(); err != nil { // the cache's entries reach RocksDB's memtable
		t.Fatal(err)
	}
	m := store.ReadMetrics(st)
	if !m.HasDB || !m.Cached || m.DB.Instances != 1 {
		t.Fatalf("metrics %+v: want a cached store with one RocksDB instance", m)
	}
	if m.DB.EstimateNumKeys != keys {
		t.Errorf("estimate-num-keys = %d, want %d (all in the memtable, where the estimate is exact)", m.DB.EstimateNumKeys, keys)
	}
	if m.DB.SizeAllMemTables == 0 || m.DB.CurSizeAllMemTables == 0 {
		t.Errorf("memtables report no size: %+v", m.DB)
	}
	if m.DB.BlockCacheCapacity != rocksdb.DefaultBlockCacheBytes {
		t.Errorf("block-cache-capacity = %d, want the default %d", m.DB.BlockCacheCapacity, rocksdb.DefaultBlockCacheBytes)
	}
	// Flushing the memtable to a file shows in the SST sizes.
	if err := store.FlushToDisk(st); err != nil {
		t.Fatal(err)
	}
	if m := store.ReadMetrics(st); m.DB.TotalSSTFilesSize == 0 || m.DB.LiveSSTFilesSize == 0 {
		t.Errorf("after a flush to disk the SST files have no size: %+v", m.DB)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if m := store.ReadMetrics(st); m.HasDB {
		t.Errorf("a closed store still reports properties: %+v", m.DB)
	}
}

func TestDBPropertiesAreSafeWhileTheStoreIsWrittenAndClosed(t *testing.T) {
	st, err := store.NewKeyValueBuilder(rocksdb.KeyValue("kv"), record.String(), record.String()).WithLoggingDisabled().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	kv := st.(store.KeyValueStore[string, string])
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a scraper
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				store.ReadMetrics(st)
			}
		}
	}()
	for i := range 2000 {
		if err := kv.Put(fmt.Sprint(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
}

func TestDBPropertiesOfAWindowStoreSumItsSegments(t *testing.T) {
	st, err := store.NewWindowBuilder(rocksdb.Window("w", time.Hour, time.Minute, false), record.String(), record.String()).
		WithLoggingDisabled().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.(store.WindowStore[string, string])
	interval := store.SegmentInterval(time.Hour.Milliseconds())
	for seg := range int64(2) {
		if err := w.Put(fmt.Sprint("k", seg), "v", seg*interval); err != nil {
			t.Fatal(err)
		}
	}
	m := store.ReadMetrics(st)
	if !m.HasDB || m.DB.Instances != 2 || m.DB.EstimateNumKeys != 2 {
		t.Errorf("window store over 2 segments: %+v, want 2 instances holding 2 keys", m)
	}
	if m.DB.BlockCacheCapacity != 2*rocksdb.DefaultBlockCacheBytes {
		t.Errorf("block-cache-capacity = %d, want two segments' caches", m.DB.BlockCacheCapacity)
	}
}
