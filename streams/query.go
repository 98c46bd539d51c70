package streams

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

// ErrStoreNotAvailable is returned by interactive queries for a store no
// running task of this instance holds (yet): during a rebalance or
// restoration, or for a name the topology does not have.
var ErrStoreNotAvailable = errors.New("streams: store not available on this instance")

// register makes a running task's stores queryable; unregister withdraws
// them before the task closes.
func (a *App) register(id processor.TaskID, t *task.Task) {
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	if a.iq == nil {
		a.iq = map[processor.TaskID]*task.Task{}
	}
	a.iq[id] = t
}

func (a *App) unregister(id processor.TaskID) {
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	delete(a.iq, id)
}

// LocalTasks returns the ids of the tasks this instance runs now, sorted.
func (a *App) LocalTasks() []processor.TaskID {
	if a == nil {
		return nil
	}
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	return sortedIDs(a.iq)
}

// KeyValueStore returns a read-only view of the named key-value store over
// every task this instance runs now (interactive queries). Get finds a key
// in whichever local task holds it; All and Range walk the tasks one after
// another, each in key order. It is safe to use from any goroutine; a task
// that moves away during a query yields an error wrapping store.ErrClosed.
func KeyValueStore[K, V any](a *App, name string) (store.ReadOnlyKeyValueStore[K, V], error) {
	if a == nil {
		return nil, fmt.Errorf("%w: %q: nil App", ErrStoreNotAvailable, name)
	}
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	var views []store.ReadOnlyKeyValueStore[K, V]
	for _, id := range sortedIDs(a.iq) {
		s, ok := a.iq[id].Store(name)
		if !ok {
			continue
		}
		switch kv := s.(type) {
		case store.KeyValueStore[K, V]:
			views = append(views, store.ReadOnlyKeyValue(kv))
		case store.KeyValueStore[K, store.ValueAndTimestamp[V]]:
			// A timestamped store (the DSL's tables): queried for its
			// values, as Kafka Streams' key-value queries do.
			views = append(views, store.ValuesOnly(store.ReadOnlyKeyValue(kv)))
		default:
			return nil, fmt.Errorf("streams: store %q %s, not a key-value store of (%s, %s)", name, holds(s),
				reflect.TypeFor[K](), reflect.TypeFor[V]())
		}
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrStoreNotAvailable, name)
	}
	return multiKV[K, V](views), nil
}

// holds describes what a store holds, in words, for query errors.
func holds(s store.StateStore) string {
	kind := "is a store"
	if k, ok := s.(interface{ Kind() string }); ok {
		kind = "is a " + k.Kind() + " store"
	}
	if typed, ok := s.(interface {
		Types() (reflect.Type, reflect.Type)
	}); ok {
		k, v := typed.Types()
		return fmt.Sprintf("%s of (%s, %s)", kind, k, v)
	}
	return kind
}

func sortedIDs(m map[processor.TaskID]*task.Task) []processor.TaskID {
	out := make([]processor.TaskID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, processor.TaskID.Compare)
	return out
}

// multiKV reads across the views of several tasks.
type multiKV[K, V any] []store.ReadOnlyKeyValueStore[K, V]

func (m multiKV[K, V]) Get(key K) (V, bool, error) {
	for _, v := range m {
		val, ok, err := v.Get(key)
		if err != nil || ok {
			return val, ok, err
		}
	}
	var zero V
	return zero, false, nil
}

func (m multiKV[K, V]) each(open func(store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error)) (store.Iterator[K, V], error) {
	its := make([]store.Iterator[K, V], 0, len(m))
	for _, v := range m {
		it, err := open(v)
		if err != nil {
			for _, o := range its {
				o.Close()
			}
			return nil, err
		}
		its = append(its, it)
	}
	return &concatIter[K, V]{its: its}, nil
}

func (m multiKV[K, V]) Range(from, to K) (store.Iterator[K, V], error) {
	return m.each(func(v store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error) { return v.Range(from, to) })
}

func (m multiKV[K, V]) ReverseRange(from, to K) (store.Iterator[K, V], error) {
	return m.each(func(v store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error) {
		return v.ReverseRange(from, to)
	})
}

func (m multiKV[K, V]) All() (store.Iterator[K, V], error) {
	return m.each(func(v store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error) { return v.All() })
}

func (m multiKV[K, V]) ReverseAll() (store.Iterator[K, V], error) {
	return m.each(func(v store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error) { return v.ReverseAll() })
}

func (m multiKV[K, V]) PrefixScan(prefix []byte) (store.Iterator[K, V], error) {
	return m.each(func(v store.ReadOnlyKeyValueStore[K, V]) (store.Iterator[K, V], error) { return v.PrefixScan(prefix) })
}

func (m multiKV[K, V]) ApproximateNumEntries() (int64, error) {
	var n int64
	for _, v := range m {
		c, err := v.ApproximateNumEntries()
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

type concatIter[K, V any] struct {
	its []store.Iterator[K, V]
	i   int
	err error
}

func (c *concatIter[K, V]) Next() bool {
	for c.i < len(c.its) {
		if c.its[c.i].Next() {
			return true
		}
		if err := c.its[c.i].Err(); err != nil {
			c.err = err
			return false
		}
		c.i++
	}
	return false
}

func (c *concatIter[K, V]) Key() K     { return c.its[c.i].Key() }
func (c *concatIter[K, V]) Value() V   { return c.its[c.i].Value() }
func (c *concatIter[K, V]) Err() error { return c.err }
func (c *concatIter[K, V]) Close() error {
	var first error
	for _, it := range c.its {
		if err := it.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
