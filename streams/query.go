package streams

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

// Interactive queries: KeyValueStore, TimestampedKeyValueStore,
// WindowStore, TimestampedWindowStore and SessionStore give read-only views
// of the stores this instance holds (storeshape.go checks what was asked
// for against what the topology registered; instancemeta.go and
// metadataforkey.go say which instance holds the rest).

// Errors of the interactive-query functions. Every one of their errors
// wraps ErrStoreNotAvailable and one of the others, which says why; the
// message says it in words, naming the store.
var (
	// ErrStoreNotAvailable is wrapped by every error of the query
	// functions: the store could not be given.
	ErrStoreNotAvailable = errors.New("streams: store not available on this instance")
	// ErrUnknownStore: the topology has no store of that name (the error
	// lists the names it has).
	ErrUnknownStore = errors.New("streams: no such store")
	// ErrStoreType: the store is of another kind (a window store asked
	// for as a key-value store), or holds other key or value types, than
	// the function and its type arguments ask for.
	ErrStoreType = errors.New("streams: store is of another kind or type")
	// ErrAppNotRunning: the App has not started, is shutting down or has
	// stopped; queries need it Running or Rebalancing.
	ErrAppNotRunning = errors.New("streams: App not running")
	// ErrStoreNotReady: the store exists, but this instance cannot serve
	// it yet: the group is rebalancing, or the task holding it is
	// restoring its state. Retry (Kafka Streams' InvalidStateStoreException).
	ErrStoreNotReady = errors.New("streams: store not queryable yet")
	// ErrStoreNotLocal: the partition asked for (StorePartition), or every
	// partition of the store, is held by other instances; ask
	// MetadataForKey or MetadataForStore where (Kafka Streams'
	// StateStoreMigratedException).
	ErrStoreNotLocal = errors.New("streams: store partition not on this instance")
)

// queryError is an interactive-query error: a sentence, and the sentinels
// (and cause) it wraps.
type queryError struct {
	msg string
	why []error
}

func (e *queryError) Error() string   { return e.msg }
func (e *queryError) Unwrap() []error { return e.why }

// queryErr makes a query error wrapping ErrStoreNotAvailable and why.
func queryErr(why error, format string, args ...any) error {
	return &queryError{msg: "streams: " + fmt.Sprintf(format, args...), why: []error{ErrStoreNotAvailable, why}}
}

// queries is the App's state that interactive queries and instance
// metadata read, shared between the App's goroutines and the callers'.
type queries struct {
	mu sync.Mutex
	// tasks are the running tasks (stores restored), registered by the
	// task manager.
	tasks map[processor.TaskID]*task.Task
	// assigned are the tasks of the current assignment, running or still
	// restoring; empty from a revocation to the next assignment.
	assigned map[processor.TaskID]bool
	// globals are the global stores' views, once restored.
	globals map[string]store.StateStore
	// subParts is each sub-topology's partition count, once started.
	subParts map[int]int32
	// meta announces and learns which instance holds what; nil without
	// Config.ApplicationServer.
	meta *instanceMetadata
}

// register makes a running task's stores queryable; unregister withdraws
// them before the task closes.
func (a *App) register(id processor.TaskID, t *task.Task) {
	a.iq.mu.Lock()
	defer a.iq.mu.Unlock()
	if a.iq.tasks == nil {
		a.iq.tasks = map[processor.TaskID]*task.Task{}
	}
	a.iq.tasks[id] = t
}

func (a *App) unregister(id processor.TaskID) {
	a.iq.mu.Lock()
	defer a.iq.mu.Unlock()
	delete(a.iq.tasks, id)
}

// LocalTasks returns the ids of the tasks this instance runs now, sorted.
func (a *App) LocalTasks() []processor.TaskID {
	if a == nil {
		return nil
	}
	a.iq.mu.Lock()
	defer a.iq.mu.Unlock()
	return sortedIDs(a.iq.tasks)
}

// QueryOption narrows an interactive query.
type QueryOption func(*queryParams)

type queryParams struct {
	partition    int32
	onePartition bool
}

// StorePartition limits a query to the task holding partition p of the
// store (the partition MetadataForKey reports for a key), as Kafka
// Streams' StoreQueryParameters.withPartition does: the query fails with
// ErrStoreNotReady while that task restores, and with ErrStoreNotLocal if
// another instance holds it, instead of answering "absent" for keys it
// does not have. Global stores ignore it: every instance holds all of
// them.
func StorePartition(p int32) QueryOption {
	return func(q *queryParams) { q.partition, q.onePartition = p, true }
}

// find resolves name for a query: the checks every query function shares
// (the App, the name, the kind and types asked for, the App's state), then
// the global store's view, or the stores of the running tasks holding it
// (only partition p's with StorePartition), in task order.
func (a *App) find(name string, req request, opts []QueryOption) (global store.StateStore, locals []store.StateStore, err error) {
	if a == nil || a.done == nil {
		return nil, nil, queryErr(ErrAppNotRunning, "cannot query store %q: the App is nil or was not made by New", name)
	}
	shape, why, ok := a.shapeOf(name)
	if !ok {
		return nil, nil, queryErr(ErrUnknownStore, "%s", why)
	}
	if err := shape.check(name, req); err != nil {
		return nil, nil, err
	}
	if why, ok := a.notQueryable(); !ok {
		return nil, nil, queryErr(ErrAppNotRunning, "cannot query store %q: %s", name, why)
	}
	var q queryParams
	for _, o := range opts {
		if o != nil {
			o(&q)
		}
	}
	a.iq.mu.Lock()
	defer a.iq.mu.Unlock()
	if shape.global {
		v, ok := a.iq.globals[name]
		if !ok {
			return nil, nil, queryErr(ErrStoreNotReady, "global store %q is not restored yet; retry", name)
		}
		return v, nil, nil
	}
	if q.onePartition {
		locals, err := a.onePartition(name, shape.sub, q.partition)
		return nil, locals, err
	}
	var restoring []processor.TaskID
	for id := range a.iq.assigned {
		if _, running := a.iq.tasks[id]; id.Subtopology == shape.sub && !running {
			restoring = append(restoring, id)
		}
	}
	slices.SortFunc(restoring, processor.TaskID.Compare)
	for _, id := range sortedIDs(a.iq.tasks) {
		if id.Subtopology != shape.sub {
			continue
		}
		if s, ok := a.iq.tasks[id].Store(name); ok {
			locals = append(locals, s)
		}
	}
	switch {
	case len(locals) > 0:
		return nil, locals, nil
	case len(restoring) > 0:
		return nil, nil, queryErr(ErrStoreNotReady, "store %q is not queryable yet: its tasks on this instance (%s) are restoring; retry",
			name, idList(restoring))
	case a.State() == Rebalancing:
		return nil, nil, queryErr(ErrStoreNotReady, "store %q is not queryable yet: the group is rebalancing; retry", name)
	}
	return nil, nil, queryErr(ErrStoreNotLocal, "no task of this instance holds store %q: its partitions are on other instances "+
		"(MetadataForStore and MetadataForKey say which)", name)
}

// onePartition returns the store of the task of sub-topology sub holding
// partition p; a.iq.mu is held.
func (a *App) onePartition(name string, sub int, p int32) ([]store.StateStore, error) {
	n, known := a.iq.subParts[sub]
	if known && (p < 0 || p >= n) {
		return nil, queryErr(ErrUnknownStore, "store %q has partitions 0 to %d; there is no partition %d", name, n-1, p)
	}
	id := processor.TaskID{Subtopology: sub, Partition: p}
	if t, ok := a.iq.tasks[id]; ok {
		if s, ok := t.Store(name); ok {
			return []store.StateStore{s}, nil
		}
	}
	switch {
	case a.iq.assigned[id]:
		return nil, queryErr(ErrStoreNotReady, "partition %d of store %q is not queryable yet: its task %s is restoring; retry", p, name, id)
	case a.State() == Rebalancing && len(a.iq.assigned) == 0:
		return nil, queryErr(ErrStoreNotReady, "partition %d of store %q is not queryable yet: the group is rebalancing; retry", p, name)
	}
	where := "another instance holds it, or none does yet"
	if a.iq.meta != nil {
		if h, ok := a.iq.meta.view.owner(name, p); ok {
			where = "it is on " + h.String()
		}
	}
	return nil, queryErr(ErrStoreNotLocal, "partition %d of store %q (task %s) is not on this instance: %s", p, name, id, where)
}

// notQueryable says why the App's state allows no queries; ok when it
// is Running or Rebalancing, as in Kafka Streams.
func (a *App) notQueryable() (why string, ok bool) {
	switch s := a.State(); s {
	case Running, Rebalancing:
		return "", true
	case Created:
		return "the App has not started (call Run first)", false
	default:
		return fmt.Sprintf("the App is not running (state %s)", s), false
	}
}

func sortedIDs[T any](m map[processor.TaskID]T) []processor.TaskID {
	out := make([]processor.TaskID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, processor.TaskID.Compare)
	return out
}

// KeyValueStore returns a read-only view of the named key-value store
// (interactive queries): a global store, or the store of every task this
// instance runs now, or of one task with StorePartition. A timestamped
// store (the DSL's tables) is queried for its values, as Kafka Streams'
// key-value queries do; TimestampedKeyValueStore keeps the timestamps.
// Get finds a key in whichever local task holds it; All and Range walk the
// tasks one after another, each in key order. It is safe to use from any
// goroutine; a task that moves away during a query yields an error
// wrapping store.ErrClosed.
//
// Tasks still restoring are left out while others answer; a store none of
// whose tasks runs here fails with ErrStoreNotReady or ErrStoreNotLocal.
// Asking for the wrong kind of store or the wrong types fails with
// ErrStoreType, an unknown name with ErrUnknownStore; see the errors.
func KeyValueStore[K, V any](a *App, name string, opts ...QueryOption) (store.ReadOnlyKeyValueStore[K, V], error) {
	req := newRequest[K, V]("KeyValueStore", kindKeyValue, false)
	global, locals, err := a.find(name, req, opts)
	if err != nil {
		return nil, err
	}
	if global != nil {
		kv, ok := global.(store.KeyValueStore[K, V])
		if !ok {
			return nil, notImplemented(name, req)
		}
		return kv, nil
	}
	views := make(multiKV[K, V], 0, len(locals))
	for _, s := range locals {
		switch kv := s.(type) {
		case store.KeyValueStore[K, V]:
			views = append(views, store.ReadOnlyKeyValue(kv))
		case store.KeyValueStore[K, store.ValueAndTimestamp[V]]:
			views = append(views, store.ValuesOnly(store.ReadOnlyKeyValue(kv)))
		default:
			return nil, notImplemented(name, req)
		}
	}
	if len(views) == 1 {
		return views[0], nil
	}
	return views, nil
}

// TimestampedKeyValueStore returns a read-only view of the named
// timestamped key-value store (the DSL's tables and aggregations): each
// value with the timestamp of the record that last wrote it. A store
// without timestamps fails with ErrStoreType (query it with
// KeyValueStore). Otherwise it is KeyValueStore.
func TimestampedKeyValueStore[K, V any](a *App, name string, opts ...QueryOption) (store.ReadOnlyKeyValueStore[K, store.ValueAndTimestamp[V]], error) {
	req := newRequest[K, V]("TimestampedKeyValueStore", kindKeyValue, true)
	_, locals, err := a.find(name, req, opts)
	if err != nil {
		return nil, err
	}
	views := make(multiKV[K, store.ValueAndTimestamp[V]], 0, len(locals))
	for _, s := range locals {
		kv, ok := s.(store.KeyValueStore[K, store.ValueAndTimestamp[V]])
		if !ok {
			return nil, notImplemented(name, req)
		}
		views = append(views, store.ReadOnlyKeyValue(kv))
	}
	if len(views) == 1 {
		return views[0], nil
	}
	return views, nil
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

type kvView[K, V any] = store.ReadOnlyKeyValueStore[K, V]

func (m multiKV[K, V]) Range(from, to K) (store.Iterator[K, V], error) {
	return concat(m, func(v kvView[K, V]) (store.Iterator[K, V], error) { return v.Range(from, to) })
}

func (m multiKV[K, V]) ReverseRange(from, to K) (store.Iterator[K, V], error) {
	return concat(m, func(v kvView[K, V]) (store.Iterator[K, V], error) { return v.ReverseRange(from, to) })
}

func (m multiKV[K, V]) All() (store.Iterator[K, V], error) {
	return concat(m, func(v kvView[K, V]) (store.Iterator[K, V], error) { return v.All() })
}

func (m multiKV[K, V]) ReverseAll() (store.Iterator[K, V], error) {
	return concat(m, func(v kvView[K, V]) (store.Iterator[K, V], error) { return v.ReverseAll() })
}

func (m multiKV[K, V]) PrefixScan(prefix []byte) (store.Iterator[K, V], error) {
	return concat(m, func(v kvView[K, V]) (store.Iterator[K, V], error) { return v.PrefixScan(prefix) })
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
