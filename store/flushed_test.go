package store_test

import (
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func TestFlushedViewSeesOnlyWhatTheCacheHasFlushed(t *testing.T) {
	for _, logged := range []bool{false, true} {
		b := store.NewKeyValueBuilder(store.InMemoryKeyValue("tbl"), record.String(), record.String()).WithCaching()
		if !logged {
			b.WithLoggingDisabled()
		}
		st, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Init(initCtx()); err != nil {
			t.Fatal(err)
		}
		kv := st.(store.KeyValueStore[string, string])
		flushed := store.FlushedView(kv)
		if err := kv.Put("a", "1"); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := flushed.Get("a"); err != nil || ok {
			t.Errorf("logged=%v: flushed view sees the unflushed write: %q, %v, %v", logged, v, ok, err)
		}
		if err := st.Flush(); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := flushed.Get("a"); err != nil || !ok || v != "1" {
			t.Errorf("logged=%v: after the flush Get(a) = %q, %v, %v; want 1", logged, v, ok, err)
		}
		// A delete waiting in the cache is not seen either.
		if _, _, err := kv.Delete("a"); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := flushed.Get("a"); !ok || v != "1" {
			t.Errorf("logged=%v: flushed view sees the unflushed delete", logged)
		}
		st.Close()
	}
	// Without a cache the view is the store.
	plain := openKV(t, record.String(), record.String())
	if err := plain.Put("b", "2"); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := store.FlushedView(plain).Get("b"); !ok || v != "2" {
		t.Errorf("uncached store's flushed view: %q, %v", v, ok)
	}
}
