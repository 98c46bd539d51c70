package streams

import (
	"fmt"
	"reflect"

	"github.com/millrace/millrace/store"
)

// WindowStore returns a read-only view of the named window store over
// every task this instance runs now (interactive queries of windowed
// aggregations). A timestamped store (the DSL's windowed tables) is
// queried for its values, as KeyValueStore does. Fetch finds a window in
// whichever local task holds it; the iterators walk the tasks one after
// another, each in the store's order. Safe from any goroutine; a task
// that moves away during a query yields an error wrapping store.ErrClosed.
func WindowStore[K, V any](a *App, name string) (store.ReadOnlyWindowStore[K, V], error) {
	if a == nil {
		return nil, fmt.Errorf("%w: %q: nil App", ErrStoreNotAvailable, name)
	}
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	var views multiWindow[K, V]
	for _, id := range sortedIDs(a.iq) {
		s, ok := a.iq[id].Store(name)
		if !ok {
			continue
		}
		switch w := s.(type) {
		case store.WindowStore[K, V]:
			views = append(views, store.ReadOnlyWindow(w))
		case store.WindowStore[K, store.ValueAndTimestamp[V]]:
			views = append(views, store.WindowValuesOnly(store.ReadOnlyWindow(w)))
		default:
			return nil, fmt.Errorf("streams: store %q %s, not a window store of (%s, %s)", name, holds(s),
				reflect.TypeFor[K](), reflect.TypeFor[V]())
		}
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrStoreNotAvailable, name)
	}
	return views, nil
}

// SessionStore returns a read-only view of the named session store over
// every task this instance runs now; see WindowStore.
func SessionStore[K, V any](a *App, name string) (store.ReadOnlySessionStore[K, V], error) {
	if a == nil {
		return nil, fmt.Errorf("%w: %q: nil App", ErrStoreNotAvailable, name)
	}
	a.iqMu.Lock()
	defer a.iqMu.Unlock()
	var views multiSession[K, V]
	for _, id := range sortedIDs(a.iq) {
		s, ok := a.iq[id].Store(name)
		if !ok {
			continue
		}
		ss, ok := s.(store.SessionStore[K, V])
		if !ok {
			return nil, fmt.Errorf("streams: store %q %s, not a session store of (%s, %s)", name, holds(s),
				reflect.TypeFor[K](), reflect.TypeFor[V]())
		}
		views = append(views, store.ReadOnlySession(ss))
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrStoreNotAvailable, name)
	}
	return views, nil
}

// concat opens one iterator per view and walks them in turn.
func concat[S, K, V any](views []S, open func(S) (store.Iterator[K, V], error)) (store.Iterator[K, V], error) {
	its := make([]store.Iterator[K, V], 0, len(views))
	for _, v := range views {
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

type multiWindow[K, V any] []store.ReadOnlyWindowStore[K, V]

func (m multiWindow[K, V]) Fetch(key K, windowStart int64) (V, bool, error) {
	for _, v := range m {
		val, ok, err := v.Fetch(key, windowStart)
		if err != nil || ok {
			return val, ok, err
		}
	}
	var zero V
	return zero, false, nil
}

type windowView[K, V any] = store.ReadOnlyWindowStore[K, V]

func (m multiWindow[K, V]) FetchRange(key K, from, to int64) (store.Iterator[int64, V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[int64, V], error) { return v.FetchRange(key, from, to) })
}

func (m multiWindow[K, V]) BackwardFetchRange(key K, from, to int64) (store.Iterator[int64, V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[int64, V], error) { return v.BackwardFetchRange(key, from, to) })
}

func (m multiWindow[K, V]) FetchKeyRange(kf, kt K, from, to int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.FetchKeyRange(kf, kt, from, to)
	})
}

func (m multiWindow[K, V]) BackwardFetchKeyRange(kf, kt K, from, to int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.BackwardFetchKeyRange(kf, kt, from, to)
	})
}

func (m multiWindow[K, V]) FetchAll(from, to int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) { return v.FetchAll(from, to) })
}

func (m multiWindow[K, V]) BackwardFetchAll(from, to int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.BackwardFetchAll(from, to)
	})
}

func (m multiWindow[K, V]) All() (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) { return v.All() })
}

func (m multiWindow[K, V]) BackwardAll() (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v windowView[K, V]) (store.Iterator[store.Windowed[K], V], error) { return v.BackwardAll() })
}

type multiSession[K, V any] []store.ReadOnlySessionStore[K, V]

type sessionView[K, V any] = store.ReadOnlySessionStore[K, V]

func (m multiSession[K, V]) FetchSession(key K, start, end int64) (V, bool, error) {
	for _, v := range m {
		val, ok, err := v.FetchSession(key, start, end)
		if err != nil || ok {
			return val, ok, err
		}
	}
	var zero V
	return zero, false, nil
}

func (m multiSession[K, V]) FindSessions(key K, earliestEnd, latestStart int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v sessionView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.FindSessions(key, earliestEnd, latestStart)
	})
}

func (m multiSession[K, V]) BackwardFindSessions(key K, earliestEnd, latestStart int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v sessionView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.BackwardFindSessions(key, earliestEnd, latestStart)
	})
}

func (m multiSession[K, V]) FindSessionsKeyRange(kf, kt K, earliestEnd, latestStart int64) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v sessionView[K, V]) (store.Iterator[store.Windowed[K], V], error) {
		return v.FindSessionsKeyRange(kf, kt, earliestEnd, latestStart)
	})
}

func (m multiSession[K, V]) Fetch(key K) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v sessionView[K, V]) (store.Iterator[store.Windowed[K], V], error) { return v.Fetch(key) })
}

func (m multiSession[K, V]) BackwardFetch(key K) (store.Iterator[store.Windowed[K], V], error) {
	return concat(m, func(v sessionView[K, V]) (store.Iterator[store.Windowed[K], V], error) { return v.BackwardFetch(key) })
}
