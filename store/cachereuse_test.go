package store_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// cachedBytesStore opens a cached in-memory store of ([]byte, []byte) on
// its own budget; Bytes values are deserialized without a copy, so a
// reader holding one would see the cache overwrite its buffer.
func cachedBytesStore(t *testing.T, budget int64) store.KeyValueStore[[]byte, []byte] {
	t.Helper()
	ctx := initCtx()
	ctx.Cache = store.NewCache(budget)
	st, err := store.NewKeyValueBuilder(store.InMemoryKeyValue("reuse"), record.Bytes(), record.Bytes()).
		WithCaching().WithLoggingDisabled().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return st.(store.KeyValueStore[[]byte, []byte])
}

// TestCacheRewritingADirtyEntryLeavesWhatReadersHoldUnchanged writes one key
// again and again between flushes (the cache then reuses the entry's
// buffer) while a Get result, an open Range iterator and a flush listener's
// values are held: none of them may change under its holder.
func TestCacheRewritingADirtyEntryLeavesWhatReadersHoldUnchanged(t *testing.T) {
	kv := cachedBytesStore(t, 1<<20)
	key := []byte("k")
	var flushed [][]byte
	if err := store.SetFlushListener(kv, true, func(_ []byte, nv, _ *[]byte, _ int64) error {
		flushed = append(flushed, *nv)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		t.Helper()
		if err := kv.Put(key, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	put("v1")
	put("v2")
	got, _, err := kv.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	put("v3")
	it, err := kv.Range(key, key)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	put("v4")
	put("v5")
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	put("v6")
	put("v7")
	if !it.Next() || string(it.Value()) != "v3" {
		t.Errorf("the iterator opened after v3 shows %q, want v3", it.Value())
	}
	if string(got) != "v2" {
		t.Errorf("the value Get returned after v2 now reads %q", got)
	}
	if len(flushed) != 1 || string(flushed[0]) != "v5" {
		t.Errorf("the flush listener's value now reads %q, want [v5]", flushed)
	}
	now, _, err := kv.Get(key)
	if err != nil || string(now) != "v7" {
		t.Errorf("Get = %q, %v; want v7", now, err)
	}
}

// TestCacheWriteAfterTheLastReadEntryWasEvictedReachesTheStore reads a key
// (the cache remembers the entry it found, to spare the write after it a
// lookup), lets the budget evict that entry, then writes the key: the write
// must go to a live entry, which reads see at once and the next flush
// writes to the store.
func TestCacheWriteAfterTheLastReadEntryWasEvictedReachesTheStore(t *testing.T) {
	kv := cachedBytesStore(t, 4<<10)
	key := []byte("read-first")
	if err := kv.Put(key, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, _, err := kv.Get(key); err != nil || string(v) != "old" {
		t.Fatalf("Get = %q, %v; want old", v, err)
	}
	for i := range 200 { // far over the budget: the read entry is evicted
		if err := kv.Put(fmt.Appendf(nil, "other-%03d", i), bytes.Repeat([]byte("x"), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Put(key, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := kv.Get(key); err != nil || string(v) != "new" {
		t.Errorf("Get after the write = %q, %v; want new", v, err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	under, ok := store.RestoreTarget(kv)
	if !ok {
		t.Fatal("no store under the cache")
	}
	v, ok, err := under.Get(key)
	if err != nil || !ok || string(v) != "new" {
		t.Errorf("the store under the cache holds %q (found %v, %v), want new", v, ok, err)
	}
}
