package store

import (
	"fmt"
	"sort"
)

// WindowPut is one write of PutWindows.
type WindowPut[K, V any] struct {
	Key         K
	Value       V
	WindowStart int64
	// Timestamp is the time the changelog record of the write carries:
	// that of the record that made it, as Put would have logged it.
	Timestamp int64
}

// PutWindows writes puts to s as Put would, one after the other (a put
// whose window has expired is dropped and counted; duplicates get their
// sequence numbers in order), but hands them to the byte store as one
// batch (one RocksDB write batch) and logs each with its own Timestamp.
// It is for a processor that buffers its writes and writes them at a
// commit: one cgo call per batch instead of one per put. ok is false,
// with nothing written, when s is not a window store of this package
// (call Put instead); puts are only read.
func PutWindows[K, V any](s WindowStore[K, V], puts []WindowPut[K, V]) (ok bool, err error) {
	w, isTyped := s.(*typedWindow[K, V])
	if !isTyped {
		return false, nil
	}
	return true, w.putAll(puts)
}

func (w *typedWindow[K, V]) putAll(puts []WindowPut[K, V]) error {
	if len(puts) == 0 {
		return nil
	}
	entries := make([]Entry, 0, len(puts))
	stamps := make([]int64, 0, len(puts))
	// One arena for every key and value: earlier slices stay valid when it
	// grows (they keep the old array).
	arena := make([]byte, 0, len(puts)*64)
	for _, p := range puts {
		kb, err := w.userKey(&w.kbuf, p.Key)
		if err != nil {
			return err
		}
		vb, err := w.vs.Serialize(w.vbuf[:0], p.Value)
		if err != nil {
			return fmt.Errorf("store %q: serialize value: %w", w.Name(), err)
		}
		if vb == nil && w.dups {
			continue
		}
		if vb != nil {
			w.vbuf = vb[:0]
			for {
				o := w.state.observed.Load()
				if p.WindowStart <= o || w.state.observed.CompareAndSwap(o, p.WindowStart) {
					break
				}
			}
		}
		if p.WindowStart < w.liveFrom() {
			if vb != nil {
				w.state.expired.Add(1)
			}
			continue
		}
		seq := uint32(0)
		if w.dups {
			w.state.seq++
			seq = w.state.seq
		}
		start := len(arena)
		arena = windowKey(arena, kb, p.WindowStart, seq)
		key := arena[start:len(arena):len(arena)]
		var value []byte
		if vb != nil {
			start = len(arena)
			arena = append(arena, vb...)
			value = arena[start:len(arena):len(arena)]
		}
		entries = append(entries, Entry{Key: key, Value: value})
		stamps = append(stamps, p.Timestamp)
	}
	if len(entries) == 0 {
		return nil
	}
	// Keys are distinct (duplicates have sequence numbers); sorted, they
	// insert into RocksDB's memtable faster, as a cache flush's do.
	sort.Sort(stampedBatch{entries: entries, ts: stamps})
	if sw, ok := w.inner.(stampedWriter); ok {
		return sw.writeStamped(entries, stamps)
	}
	return w.inner.Write(entries)
}
