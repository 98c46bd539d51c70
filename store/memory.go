package store

import (
	"bytes"
	"fmt"
	"sync"
	"unsafe"

	"github.com/google/btree"
)

// InMemoryKeyValue returns a supplier of in-memory byte key-value stores: a
// hash map for point reads and writes plus a B-tree of keys for ordered
// iteration. Data does not survive the process (Persistent is false).
func InMemoryKeyValue(name string) KeyValueBytesSupplier { return memSupplier(name) }

type memSupplier string

func (s memSupplier) Name() string       { return string(s) }
func (s memSupplier) Get() KeyValueBytes { return NewInMemoryKeyValueBytes(string(s)) }

// NewInMemoryKeyValueBytes returns an unopened in-memory byte store.
func NewInMemoryKeyValueBytes(name string) KeyValueBytes {
	return &memKV{name: name}
}

type memEntry struct {
	key   string
	value []byte
}

type memKV struct {
	mu     sync.RWMutex
	name   string
	open   bool
	closed bool
	m      map[string]*memEntry
	keys   *btree.BTreeG[string]
}

func (s *memKV) Name() string     { return s.name }
func (s *memKV) Persistent() bool { return false }

func (s *memKV) Init(InitContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store %q: %w", s.name, ErrClosed)
	}
	if s.open {
		return fmt.Errorf("store %q: initialized twice", s.name)
	}
	s.m = make(map[string]*memEntry)
	s.keys = btree.NewG[string](32, func(a, b string) bool { return a < b })
	s.open = true
	return nil
}

func (s *memKV) check() error { return lifecycleErr(s.name, s.open, s.closed) }

func (s *memKV) checkKey(key []byte) error {
	if err := s.check(); err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("store %q: %w", s.name, ErrNullKey)
	}
	return nil
}

// view returns a string that aliases b for a lookup that does not keep it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Get returns a copy of the value: the caller may write into it.
func (s *memKV) Get(key []byte) ([]byte, bool, error) {
	v, ok, _, err := s.getShared(key)
	if ok {
		v = bytes.Clone(v)
	}
	return v, ok, err
}

// getShared returns the stored slice itself (see sharedReader): put keeps
// a fresh copy on every write and never writes into one it keeps.
func (s *memKV) getShared(key []byte) ([]byte, bool, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkKey(key); err != nil {
		return nil, false, false, err
	}
	e, ok := s.m[view(key)]
	if !ok {
		return nil, false, false, nil
	}
	return e.value, true, true, nil
}

func (s *memKV) Put(key, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkKey(key); err != nil {
		return err
	}
	s.put(key, value)
	return nil
}

func (s *memKV) Write(batch []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, e := range batch {
		if e.Key == nil {
			return fmt.Errorf("store %q: %w", s.name, ErrNullKey)
		}
	}
	for _, e := range batch {
		s.put(e.Key, e.Value)
	}
	return nil
}

// put writes or, for a nil value, deletes; the caller holds the lock.
func (s *memKV) put(key, value []byte) {
	if value == nil {
		s.del(key)
		return
	}
	v := bytes.Clone(value)
	if e, ok := s.m[view(key)]; ok {
		e.value = v
		return
	}
	k := string(key)
	s.m[k] = &memEntry{key: k, value: v}
	s.keys.ReplaceOrInsert(k)
}

func (s *memKV) del(key []byte) ([]byte, bool) {
	e, ok := s.m[view(key)]
	if !ok {
		return nil, false
	}
	delete(s.m, e.key)
	s.keys.Delete(e.key)
	return e.value, true
}

func (s *memKV) Delete(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkKey(key); err != nil {
		return nil, false, err
	}
	v, ok := s.del(key)
	// The removed slice may still be shared (with a cache above that read
	// it, or a decoder): the caller gets its own copy.
	return bytes.Clone(v), ok, nil
}

func (s *memKV) Range(from, to []byte, reverse bool) (Iterator[[]byte, []byte], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var keys []string
	if from != nil && to != nil && bytes.Compare(from, to) > 0 {
		return emptyIter{}, nil
	}
	collect := func(k string) bool { keys = append(keys, k); return true }
	switch {
	case !reverse && from == nil && to == nil:
		s.keys.Ascend(collect)
	case !reverse && to == nil:
		s.keys.AscendGreaterOrEqual(view(from), collect)
	case !reverse:
		upTo := func(k string) bool {
			if k > view(to) {
				return false
			}
			return collect(k)
		}
		if from == nil {
			s.keys.Ascend(upTo)
		} else {
			s.keys.AscendGreaterOrEqual(view(from), upTo)
		}
	case from == nil && to == nil:
		s.keys.Descend(collect)
	case from == nil:
		s.keys.DescendLessOrEqual(view(to), collect)
	default:
		downTo := func(k string) bool {
			if k < view(from) {
				return false
			}
			return collect(k)
		}
		if to == nil {
			s.keys.Descend(downTo)
		} else {
			s.keys.DescendLessOrEqual(view(to), downTo)
		}
	}
	return &memIter{s: s, keys: keys, pos: -1}, nil
}

func (s *memKV) PrefixScan(prefix []byte) (Iterator[[]byte, []byte], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var keys []string
	p := view(prefix) // pivots are compared, never kept
	s.keys.AscendGreaterOrEqual(p, func(k string) bool {
		if len(k) < len(p) || k[:len(p)] != p {
			return false
		}
		keys = append(keys, k)
		return true
	})
	return &memIter{s: s, keys: keys, pos: -1}, nil
}

func (s *memKV) ApproximateNumEntries() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	return int64(len(s.m)), nil
}

func (s *memKV) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check()
}

func (s *memKV) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed, s.open = true, false
	s.m, s.keys = nil, nil
	return nil
}

// memIter walks a snapshot of keys; values are read live, and keys deleted
// since the snapshot are skipped (as Kafka Streams' in-memory store does).
// Next keeps the entry it reaches as stored (its key string and value slice
// never change, see sharedReader); Key and Value hand out copies in the
// iterator's buffers, valid until the next Next, so writing into them
// cannot reach the store's keys (the map's and the B-tree's strings) or
// values. Typed iterators read the entry without the copy.
type memIter struct {
	s          *memKV
	keys       []string
	pos        int
	ckey       string
	cval       []byte
	key, value []byte
	cur        bool
	closed     bool
}

func (it *memIter) Next() bool {
	it.cur = false
	if it.closed {
		return false
	}
	it.s.mu.RLock()
	defer it.s.mu.RUnlock()
	if it.s.m == nil {
		return false
	}
	for it.pos+1 < len(it.keys) {
		it.pos++
		if e, ok := it.s.m[it.keys[it.pos]]; ok {
			it.ckey, it.cval, it.cur = e.key, e.value, true
			return true
		}
	}
	return false
}

func (it *memIter) Key() []byte {
	if !it.cur {
		return nil
	}
	it.key = copyInto(it.key, it.ckey)
	return it.key
}

func (it *memIter) Value() []byte {
	if !it.cur {
		return nil
	}
	it.value = copyInto(it.value, it.cval)
	return it.value
}

func (it *memIter) sharedKey() []byte {
	if !it.cur {
		return nil
	}
	return stringBytes(it.ckey)
}

func (it *memIter) sharedValue() []byte {
	if !it.cur {
		return nil
	}
	return it.cval
}

func (it *memIter) Err() error { return nil }

func (it *memIter) Close() error {
	it.closed, it.keys, it.cur = true, nil, false
	return nil
}

// emptyIter yields nothing.
type emptyIter struct{}

func (emptyIter) Next() bool    { return false }
func (emptyIter) Key() []byte   { return nil }
func (emptyIter) Value() []byte { return nil }
func (emptyIter) Err() error    { return nil }
func (emptyIter) Close() error  { return nil }
