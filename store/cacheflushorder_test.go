package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// batchRecorder is a byte store that keeps the batches written to it.
type batchRecorder struct {
	store.KeyValueBytes
	batches [][]store.Entry
}

func (r *batchRecorder) Write(batch []store.Entry) error {
	r.batches = append(r.batches, slices.Clone(batch))
	return r.KeyValueBytes.Write(batch)
}

type recorderSupplier struct{ r *batchRecorder }

func (s recorderSupplier) Name() string             { return s.r.Name() }
func (s recorderSupplier) Get() store.KeyValueBytes { return s.r }

// TestCacheFlushWritesExactlyTheDirtyEntriesSortedByKey checks the batch a
// flush hands its store in both of the ways the cache builds it: walking
// its key order when most entries are dirty, and sorting the dirty ones
// when few are. Either way the batch holds every dirty key once, with its
// last value or nil for a delete, sorted by key, and no clean key; and the
// listener hears the same entries.
func TestCacheFlushWritesExactlyTheDirtyEntriesSortedByKey(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cached, dirt int
	}{
		{"every entry dirty", 2000, 2000},
		{"a quarter dirty", 2000, 500},
		{"one in a hundred dirty", 5000, 50},
		{"one dirty", 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &batchRecorder{KeyValueBytes: store.NewInMemoryKeyValueBytes("flush")}
			ctx := initCtx()
			ctx.Cache = store.NewCache(64 << 20)
			st, err := store.NewKeyValueBuilder(recorderSupplier{rec}, record.String(), record.String()).
				WithCaching().WithLoggingDisabled().Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Init(ctx); err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			kv := st.(store.KeyValueStore[string, string])
			heard := map[string]*string{}
			if err := store.SetFlushListener(kv, false, func(k string, nv, _ *string, _ int64) error {
				heard[k] = nv
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, uint64(tc.dirt)))
			key := func(i int) string { return fmt.Sprintf("key-%06d", i*7919%tc.cached) }
			// Fill the cache and the store, then make dirt of the entries
			// dirty again, some of them twice and a tenth deleted.
			for i := range tc.cached {
				if err := kv.Put(key(i), "v0"); err != nil {
					t.Fatal(err)
				}
			}
			if err := kv.Flush(); err != nil {
				t.Fatal(err)
			}
			rec.batches, heard = nil, map[string]*string{}
			want := map[string]*string{}
			for _, i := range rng.Perm(tc.cached)[:tc.dirt] {
				k := key(i)
				v := fmt.Sprintf("v%d", rng.IntN(1000))
				if err := kv.Put(k, "overwritten"); err != nil {
					t.Fatal(err)
				}
				if rng.IntN(10) == 0 {
					if _, _, err := kv.Delete(k); err != nil {
						t.Fatal(err)
					}
					want[k] = nil
					continue
				}
				if err := kv.Put(k, v); err != nil {
					t.Fatal(err)
				}
				want[k] = &v
			}
			if err := kv.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(rec.batches) != 1 {
				t.Fatalf("the flush wrote %d batches, want 1", len(rec.batches))
			}
			batch := rec.batches[0]
			if len(batch) != len(want) {
				t.Fatalf("the batch has %d entries, want the %d dirty ones", len(batch), len(want))
			}
			for i, e := range batch {
				if i > 0 && bytes.Compare(batch[i-1].Key, e.Key) >= 0 {
					t.Fatalf("batch entry %d (%s) does not sort after %s", i, e.Key, batch[i-1].Key)
				}
				w, ok := want[string(e.Key)]
				if !ok {
					t.Fatalf("batch holds %s, which is not dirty", e.Key)
				}
				if (w == nil) != (e.Value == nil) || (w != nil && string(e.Value) != *w) {
					t.Fatalf("batch has %s = %q (nil %v), want %v", e.Key, e.Value, e.Value == nil, w)
				}
			}
			if len(heard) != len(want) {
				t.Fatalf("the listener heard %d entries, want %d", len(heard), len(want))
			}
			for k, w := range want {
				nv, ok := heard[k]
				if !ok || (w == nil) != (nv == nil) || (w != nil && string(*nv) != *w) {
					t.Fatalf("the listener heard %s = %v, want %v", k, nv, w)
				}
			}
		})
	}
}
