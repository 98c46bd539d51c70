package rocksdb_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/millrace/millrace/store/rocksdb"
)

// An interactive-query iterator may still be read by its caller while the
// task that owns the store closes it (the task moved away). Key and Value
// must then still give the whole entry Next reached, and never read the
// freed C iterator: under -race this test fails if Key or Value touch
// iterator state that Close writes (without -race such a read may crash).
func TestIteratorKeyAndValueWhileAnotherGoroutineClosesTheStore(t *testing.T) {
	const rounds, entries = 60, 200
	dir := t.TempDir()
	for r := range rounds {
		s := rocksdb.Config{}.KeyValue(fmt.Sprintf("kv%d", r)).Get()
		if err := s.Init(ctx(dir)); err != nil {
			t.Fatal(err)
		}
		for i := range entries {
			k := fmt.Appendf(nil, "k%04d", i)
			if err := s.Put(k, append([]byte("v-"), k...)); err != nil {
				t.Fatal(err)
			}
		}
		it, err := s.Range(nil, nil, r%2 == 1)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			for it.Next() {
				k, v := it.Key(), it.Value()
				if !bytes.Equal(v, append([]byte("v-"), k...)) {
					t.Errorf("round %d: entry %q=%q is not one the store held", r, k, v)
					return
				}
			}
			// Once Next said no, there is no entry.
			if it.Key() != nil || it.Value() != nil {
				t.Errorf("round %d: Key or Value set after Next returned false", r)
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		if err := it.Close(); err != nil {
			t.Error(err)
		}
	}
}
