package streams

import (
	"github.com/millrace/millrace/store"
)

// WindowStore returns a read-only view of the named window store over
// every task this instance runs now, or of one task with StorePartition
// (interactive queries of windowed aggregations: Fetch a window, or
// FetchRange a key over a time range). A timestamped store (the DSL's
// windowed tables) is queried for its values, as KeyValueStore does;
// TimestampedWindowStore keeps the timestamps. Fetch finds a window in
// whichever local task holds it; the iterators walk the tasks one after
// another, each in the store's order. Safe from any goroutine; a task
// that moves away during a query yields an error wrapping store.ErrClosed.
// Its errors are KeyValueStore's.
func WindowStore[K, V any](a *App, name string, opts ...QueryOption) (store.ReadOnlyWindowStore[K, V], error) {
	req := newRequest[K, V]("WindowStore", kindWindow, false)
	_, locals, err := a.find(name, req, opts)
	if err != nil {
		return nil, err
	}
	views := make(multiWindow[K, V], 0, len(locals))
	for _, s := range locals {
		switch w := s.(type) {
		case store.WindowStore[K, V]:
			views = append(views, store.ReadOnlyWindow(w))
		case store.WindowStore[K, store.ValueAndTimestamp[V]]:
			views = append(views, store.WindowValuesOnly(store.ReadOnlyWindow(w)))
		default:
			return nil, notImplemented(name, req)
		}
	}
	if len(views) == 1 {
		return views[0], nil
	}
	return views, nil
}

// TimestampedWindowStore returns a read-only view of the named
// timestamped window store (the DSL's windowed aggregations): each value
// with the timestamp of the record that last wrote it. A window store
// without timestamps fails with ErrStoreType (query it with WindowStore).
// Otherwise it is WindowStore.
func TimestampedWindowStore[K, V any](a *App, name string, opts ...QueryOption) (store.ReadOnlyWindowStore[K, store.ValueAndTimestamp[V]], error) {
	req := newRequest[K, V]("TimestampedWindowStore", kindWindow, true)
	_, locals, err := a.find(name, req, opts)
	if err != nil {
		return nil, err
	}
	views := make(multiWindow[K, store.ValueAndTimestamp[V]], 0, len(locals))
	for _, s := range locals {
		w, ok := s.(store.WindowStore[K, store.ValueAndTimestamp[V]])
		if !ok {
			return nil, notImplemented(name, req)
		}
		views = append(views, store.ReadOnlyWindow(w))
	}
	if len(views) == 1 {
		return views[0], nil
	}
	return views, nil
}

// SessionStore returns a read-only view of the named session store over
// every task this instance runs now, or of one task with StorePartition;
// see WindowStore.
func SessionStore[K, V any](a *App, name string, opts ...QueryOption) (store.ReadOnlySessionStore[K, V], error) {
	req := newRequest[K, V]("SessionStore", kindSession, false)
	_, locals, err := a.find(name, req, opts)
	if err != nil {
		return nil, err
	}
	views := make(multiSession[K, V], 0, len(locals))
	for _, s := range locals {
		ss, ok := s.(store.SessionStore[K, V])
		if !ok {
			return nil, notImplemented(name, req)
		}
		views = append(views, store.ReadOnlySession(ss))
	}
	if len(views) == 1 {
		return views[0], nil
	}
	return views, nil
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
