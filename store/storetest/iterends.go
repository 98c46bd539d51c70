package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// IteratorEnds checks the byte-level iterators of every store kind, over
// several window segments (a merged iterator) or one: Key and Value are nil
// before the first Next and after the last, and Next stays false.
func IteratorEnds(t *testing.T, b Backend, cached bool) {
	sup := b.Window("ends-win", 100*time.Millisecond, 10*time.Millisecond, false)
	sup.SegmentInterval = 50 * time.Millisecond
	wb := store.NewWindowBuilder(sup, record.String(), record.Int64())
	kb := store.NewKeyValueBuilder(b.KeyValue("ends-kv"), record.String(), record.Int64())
	if cached {
		wb.WithCaching()
		kb.WithCaching()
	}
	w := open[store.WindowStore[string, int64]](t, wb, t.TempDir())
	for _, ts := range []int64{10, 60, 110} { // three segments
		must(t, w.Put("k", ts, ts))
	}
	kv := open[store.KeyValueStore[string, int64]](t, kb, t.TempDir())
	must(t, kv.Put("a", 1))
	must(t, kv.Put("b", 2))
	for _, flushed := range []bool{false, true} {
		if flushed {
			must(t, w.Flush())
			must(t, kv.Flush())
		}
		for _, st := range []store.StateStore{w, kv} {
			raw, ok := st.(interface{ Inner() store.KeyValueBytes })
			if !ok {
				t.Fatalf("%T has no byte store", st)
			}
			for _, reverse := range []bool{false, true} {
				what := fmt.Sprintf("%s (flushed %v, reverse %v)", st.Name(), flushed, reverse)
				calmIter(t, what, raw.Inner(), reverse)
			}
		}
	}
}

func calmIter(t *testing.T, what string, s store.KeyValueBytes, reverse bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s: iterator panicked: %v", what, p)
		}
	}()
	it, err := s.Range(nil, nil, reverse)
	must(t, err)
	defer it.Close()
	if it.Key() != nil || it.Value() != nil {
		t.Errorf("%s: Key or Value set before the first Next", what)
	}
	n := 0
	for it.Next() {
		n++
	}
	must(t, it.Err())
	if n == 0 {
		t.Errorf("%s: nothing iterated", what)
	}
	if it.Key() != nil || it.Value() != nil {
		t.Errorf("%s: Key or Value set after the last Next", what)
	}
	if it.Next() {
		t.Errorf("%s: Next true after the end", what)
	}
}
