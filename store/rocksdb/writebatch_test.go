package rocksdb_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// TestBatchWritesMatchAModelThroughManyVersionsAndMemtableSwitches writes
// 200 batches to a store and checks every key, and the order of a full
// scan, against a map after each. The batches are what a cache flush and a
// restoration write: puts over the same keys again and again (each a new
// version in the memtable the insert hint skips over), deletes, empty
// values, which are values and not deletes, and values of up to 64 KiB.
// Half the batches are sorted by key, as a cache flush's are, and half
// are not, as a restoration's are not; a 256 KiB write buffer makes the
// memtable switch and flush many times along the way.
func TestBatchWritesMatchAModelThroughManyVersionsAndMemtableSwitches(t *testing.T) {
	s := rocksdb.Config{WriteBufferBytes: 256 << 10}.KeyValue("model").Get()
	if err := s.Init(ctx(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string][]byte{}
	for round := range 200 {
		seen := map[string]bool{}
		var batch []store.Entry
		for range 1 + rng.IntN(400) {
			k := fmt.Sprintf("k%05d", rng.IntN(2000))
			if seen[k] {
				continue // a flush's keys are distinct
			}
			seen[k] = true
			var v []byte
			switch r := rng.IntN(10); {
			case r == 0: // delete
			case r == 1:
				v = []byte{}
			case r == 2:
				v = bytes.Repeat([]byte{byte(round)}, rng.IntN(64<<10))
			default:
				v = fmt.Appendf(nil, "%d/%d", round, rng.Uint32())
			}
			batch = append(batch, store.Entry{Key: []byte(k), Value: v})
		}
		if round%2 == 0 {
			slices.SortFunc(batch, func(a, b store.Entry) int { return bytes.Compare(a.Key, b.Key) })
		}
		if err := s.Write(batch); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, e := range batch {
			if e.Value == nil {
				delete(model, string(e.Key))
			} else {
				model[string(e.Key)] = e.Value
			}
		}
		for _, e := range batch {
			v, ok, err := s.Get(e.Key)
			want, wantOK := model[string(e.Key)]
			if err != nil || ok != wantOK || !bytes.Equal(v, want) || (ok && v == nil) {
				t.Fatalf("round %d: Get(%s) = %d bytes, %v, %v; want %d bytes, %v", round, e.Key, len(v), ok, err, len(want), wantOK)
			}
		}
		if round%20 == 19 {
			checkScan(t, s, model)
		}
	}
}

// checkScan wants a full scan of s to be model, in key order.
func checkScan(t *testing.T, s store.KeyValueBytes, model map[string][]byte) {
	t.Helper()
	it, err := s.Range(nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	i := 0
	for it.Next() {
		if i >= len(keys) || string(it.Key()) != keys[i] || !bytes.Equal(it.Value(), model[keys[i]]) {
			t.Fatalf("scan entry %d is %s (%d bytes), want %s of %d", i, it.Key(), len(it.Value()), keys[min(i, len(keys)-1)], len(keys))
		}
		i++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(keys) {
		t.Fatalf("scan saw %d entries, want %d", i, len(keys))
	}
}
