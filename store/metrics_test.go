package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func TestReadMetricsCountsEachCachedStoresHitsMissesAndSize(t *testing.T) {
	cache := store.NewCache(1 << 20)
	ctx := initCtx()
	ctx.Cache = cache
	open := func(name string) store.KeyValueStore[string, string] {
		st, err := store.NewKeyValueBuilder(store.InMemoryKeyValue(name), record.String(), record.String()).
			WithCaching().WithLoggingDisabled().Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Init(ctx); err != nil {
			t.Fatal(err)
		}
		return st.(store.KeyValueStore[string, string])
	}
	a, b := open("a"), open("b")
	for i := range 3 {
		if err := a.Put(fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"k0", "k1", "missing"} {
		if _, _, err := a.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Get("x"); err != nil {
		t.Fatal(err)
	}
	ma, mb := store.ReadMetrics(a), store.ReadMetrics(b)
	if !ma.Cached || ma.Name != "a" || ma.Cache.Hits != 2 || ma.Cache.Misses != 1 || ma.Cache.Entries != 3 || ma.Cache.UsedBytes <= 0 {
		t.Errorf("store a: %+v, want cached, 2 hits, 1 miss, 3 entries, some bytes", ma)
	}
	if got := ma.Cache.HitRatio(); got < 0.66 || got > 0.67 {
		t.Errorf("store a hit ratio = %v, want 2/3", got)
	}
	if mb.Cache.Hits != 0 || mb.Cache.Misses != 1 || mb.Cache.Entries != 0 {
		t.Errorf("store b: %+v, want 0 hits, 1 miss, no entries (a miss the store lacks is not cached)", mb)
	}
	if ma.Cache.UsedBytes+mb.Cache.UsedBytes != cache.UsedBytes() {
		t.Errorf("stores hold %d + %d bytes, the budget says %d", ma.Cache.UsedBytes, mb.Cache.UsedBytes, cache.UsedBytes())
	}
	// The budget's totals keep a closed store's counters.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	total := cache.Stats()
	if total.Hits != 2 || total.Misses != 2 || total.Entries != 0 {
		t.Errorf("budget after closing a: %+v, want 2 hits, 2 misses, no entries", total)
	}
	b.Close()
}

func TestReadMetricsOfAnUncachedStoreReportsNoCache(t *testing.T) {
	s := openKV(t, record.String(), record.String())
	if m := store.ReadMetrics(s); m.Cached || m.HasDB || m.Name != "kv" {
		t.Errorf("in-memory uncached store: %+v, want only its name", m)
	}
	if m := store.ReadMetrics(nil); m != (store.StoreMetrics{}) {
		t.Errorf("nil store: %+v", m)
	}
}

func TestReadMetricsReportsExpiredWindowDrops(t *testing.T) {
	st, err := store.NewWindowBuilder(store.InMemoryWindow("w", time.Minute, time.Second, false), record.String(), record.String()).
		WithLoggingDisabled().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.(store.WindowStore[string, string])
	if err := w.Put("k", "new", 10*time.Minute.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if err := w.Put("k", "old", 0); err != nil { // nine minutes past its retention
		t.Fatal(err)
	}
	if m := store.ReadMetrics(st); m.ExpiredDrops != 1 {
		t.Errorf("expired drops = %d, want 1", m.ExpiredDrops)
	}
}
