package store_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// cachedStores opens n cached in-memory stores on one budget.
func cachedStores(tb testing.TB, cache *store.Cache, n int) []store.KeyValueStore[string, string] {
	tb.Helper()
	out := make([]store.KeyValueStore[string, string], n)
	for i := range out {
		ctx := initCtx()
		ctx.Cache = cache
		st, err := store.NewKeyValueBuilder(store.InMemoryKeyValue(fmt.Sprint("s", i)), record.String(), record.String()).
			WithCaching().WithLoggingDisabled().Build()
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Init(ctx); err != nil {
			tb.Fatal(err)
		}
		out[i] = st.(store.KeyValueStore[string, string])
	}
	return out
}

// TestStoresOnOneBudgetPassItByAtMostTheirPublishingStep writes far more
// than the budget through four cached stores, interleaved, flushing now and
// then so entries can be evicted, and checks after every write that what the
// caches hold exceeds the budget by no more than one publishing step (a
// 64th of the budget) per store plus the entry being written: the stores
// add their changes to the shared total in steps, not on every write.
func TestStoresOnOneBudgetPassItByAtMostTheirPublishingStep(t *testing.T) {
	const budget = 64 << 10
	cache := store.NewCache(budget)
	stores := cachedStores(t, cache, 4)
	value := string(make([]byte, 200))
	peak := int64(0)
	for i := range 20_000 {
		s := stores[i%len(stores)]
		if err := s.Put(strconv.Itoa(i), value); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		peak = max(peak, cache.UsedBytes())
	}
	step := int64(budget / 64)
	if limit := int64(budget) + int64(len(stores))*step + 512; peak > limit {
		t.Errorf("the caches held up to %d bytes on a budget of %d, want at most %d (a step of %d per store and one entry)", peak, budget, limit, step)
	}
	if peak < budget/2 {
		t.Errorf("the caches held at most %d bytes of a %d budget: the budget was not used", peak, budget)
	}
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if used := cache.UsedBytes(); used != 0 {
		t.Errorf("after closing every store the budget holds %d bytes, want 0", used)
	}
}

// BenchmarkCachedPutsOfFourTasksOnOneBudget is four tasks' stores on one
// instance-wide budget, each written by its own goroutine (run with -cpu 2
// or more): what the shared counter costs when tasks run on several cores.
func BenchmarkCachedPutsOfFourTasksOnOneBudget(b *testing.B) {
	cache := store.NewCache(10 << 20)
	stores := cachedStores(b, cache, 4)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/len(stores) + 1
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := s.Put(keys[i%len(keys)], "value-of-some-size"); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
