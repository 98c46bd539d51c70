package store

import (
	"errors"
	"fmt"
	"sync"
)

// ReadOnlyKeyValue returns a read-only view of s for interactive queries: it
// is safe to use from any goroutine while the owning task writes to s.
func ReadOnlyKeyValue[K, V any](s KeyValueStore[K, V]) ReadOnlyKeyValueStore[K, V] {
	t, ok := s.(*typedKV[K, V])
	if !ok {
		return s
	}
	return &kvView[K, V]{t: newTypedKV(t.inner, t.ks, t.vs)}
}

// kvView serializes calls through a private façade so its buffers are not
// shared; the byte layers below are safe for concurrent use.
type kvView[K, V any] struct {
	mu sync.Mutex
	t  *typedKV[K, V]
}

func (v *kvView[K, V]) Get(key K) (V, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.Get(key)
}

func (v *kvView[K, V]) Range(from, to K) (Iterator[K, V], error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.Range(from, to)
}

func (v *kvView[K, V]) ReverseRange(from, to K) (Iterator[K, V], error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.ReverseRange(from, to)
}

func (v *kvView[K, V]) All() (Iterator[K, V], error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.All()
}

func (v *kvView[K, V]) ReverseAll() (Iterator[K, V], error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.ReverseAll()
}

func (v *kvView[K, V]) PrefixScan(prefix []byte) (Iterator[K, V], error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.PrefixScan(prefix)
}

func (v *kvView[K, V]) ApproximateNumEntries() (int64, error) { return v.t.ApproximateNumEntries() }

// ReadOnlyWindow returns a read-only view of s, safe from any goroutine.
func ReadOnlyWindow[K, V any](s WindowStore[K, V]) ReadOnlyWindowStore[K, V] {
	w, ok := s.(*typedWindow[K, V])
	if !ok {
		return s
	}
	return &typedWindow[K, V]{timedStore: w.readOnly(), size: w.size, dups: w.dups}
}

// ReadOnlySession returns a read-only view of s, safe from any goroutine.
func ReadOnlySession[K, V any](s SessionStore[K, V]) ReadOnlySessionStore[K, V] {
	t, ok := s.(*typedSession[K, V])
	if !ok {
		return s
	}
	return &typedSession[K, V]{timedStore: t.readOnly()}
}

// ErrReadOnly is returned by writes through a read-only store.
var ErrReadOnly = errors.New("store: read-only")

// GlobalView returns s as a KeyValueStore that processors of any task may
// read concurrently (through a private façade) and whose writes fail with
// ErrReadOnly: global stores are written only from their topic. s must be
// a store this package built (NewKeyValueStore, or a KeyValueBuilder's
// Build), whose byte layers are safe for concurrent reads; any other store
// is an error naming the store and its type.
func GlobalView[K, V any](s KeyValueStore[K, V]) (KeyValueStore[K, V], error) {
	if s == nil {
		return nil, errors.New("store: global view of a nil store")
	}
	v, ok := ReadOnlyKeyValue(s).(*kvView[K, V])
	if !ok {
		return nil, fmt.Errorf("global store %q: cannot make a concurrent read-only view of %T: "+
			"it is not a key-value store built by the store package", s.Name(), s)
	}
	return &globalView[K, V]{kvView: v, s: s}, nil
}

type globalView[K, V any] struct {
	*kvView[K, V]
	s KeyValueStore[K, V]
}

func (g *globalView[K, V]) readOnly() error {
	return fmt.Errorf("global store %q: %w; it is written from its topic only", g.s.Name(), ErrReadOnly)
}

func (g *globalView[K, V]) Name() string           { return g.s.Name() }
func (g *globalView[K, V]) Init(InitContext) error { return nil }
func (g *globalView[K, V]) Flush() error           { return nil }
func (g *globalView[K, V]) Close() error           { return nil }
func (g *globalView[K, V]) Persistent() bool       { return g.s.Persistent() }
func (g *globalView[K, V]) Put(K, V) error         { return g.readOnly() }
func (g *globalView[K, V]) PutAll([]KeyValue[K, V]) error {
	return g.readOnly()
}
func (g *globalView[K, V]) PutIfAbsent(K, V) (V, bool, error) {
	var zero V
	return zero, false, g.readOnly()
}
func (g *globalView[K, V]) Delete(K) (V, bool, error) {
	var zero V
	return zero, false, g.readOnly()
}
