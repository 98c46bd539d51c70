package window

import (
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// A join buffer is the window store of one side of a stream-stream join
// with an in-memory index of its live records in front of it.
//
// Why: every record a join processes writes its side's buffer once and
// reads the other side's once. On RocksDB that is a cgo Put (~4 µs) and an
// iterator created, sought and closed (~3 µs) per record, which capped the
// join near 60k records/s on one core. The index answers the reads from
// memory, and the writes reach the store in one batch per commit.
//
// How it stays correct:
//   - The index holds exactly what the store would return: the records of
//     the last retention period (window start > observed stream time -
//     retention), per key in (timestamp, insertion) order, as the store
//     orders duplicates. Expired records leave it as stream time advances,
//     so it is bounded by the join's retention (before + after + grace + 1
//     ms) worth of records.
//   - Writes are kept in the index and written to the store when the task
//     commits (Flush), as a cached store's writes are: in one batch
//     (store.PutWindows: one RocksDB write batch), each logged to the
//     changelog with its record's timestamp. A record that
//     expired before the commit is not written at all: no read could have
//     returned it anyway.
//   - The index is rebuilt from the store (after restoration, which writes
//     under the index) when the join's processors initialize: restore
//     after a restart, from the local state or the changelog, gives the
//     index back what the store holds.
//   - Every other read (Fetch, FetchKeyRange, All, ... used by whoever
//     else reads the store) first writes the pending records to the store,
//     then reads the store itself.
//
// The buffer is used only from its task's goroutine, as processors use
// their stores.

// JoinBufferBuilder builds the buffer store of one side of a join: a
// window store keeping duplicates (the WindowBuilder's, uncached) with an in-memory index of the live records in front. Join
// uses the index when it finds one; the store behaves as any window store
// otherwise.
type JoinBufferBuilder[K, V any] struct {
	inner *store.WindowBuilder[K, V]
	keys  record.Serde[K]
}

func newJoinBufferBuilder[K, V any](sup store.WindowBytesSupplier, keys record.Serde[K], values record.Serde[V]) *JoinBufferBuilder[K, V] {
	return &JoinBufferBuilder[K, V]{inner: store.NewWindowBuilder(sup, keys, values), keys: keys}
}

// WithLoggingDisabled builds buffers without a changelog topic.
func (b *JoinBufferBuilder[K, V]) WithLoggingDisabled() *JoinBufferBuilder[K, V] {
	b.inner.WithLoggingDisabled()
	return b
}

// Name returns the store name.
func (b *JoinBufferBuilder[K, V]) Name() string { return b.inner.Name() }

// Types returns K and V.
func (b *JoinBufferBuilder[K, V]) Types() (reflect.Type, reflect.Type) { return b.inner.Types() }

// Kind is "window".
func (b *JoinBufferBuilder[K, V]) Kind() string { return b.inner.Kind() }

// Validate checks the window store's supplier and serdes.
func (b *JoinBufferBuilder[K, V]) Validate() error { return b.inner.Validate() }

// LoggingEnabled reports whether the buffer has a changelog.
func (b *JoinBufferBuilder[K, V]) LoggingEnabled() bool { return b.inner.LoggingEnabled() }

// ChangelogConfig is the window store's changelog configuration.
func (b *JoinBufferBuilder[K, V]) ChangelogConfig() map[string]string {
	return b.inner.ChangelogConfig()
}

// Build returns a new, unopened buffer.
func (b *JoinBufferBuilder[K, V]) Build() (store.StateStore, error) {
	s, err := b.inner.Build()
	if err != nil {
		return nil, err
	}
	ws, ok := s.(store.WindowStore[K, V])
	if !ok {
		return nil, fmt.Errorf("join buffer %q: the window builder built a %T", b.Name(), s)
	}
	return &joinBuffer[K, V]{inner: ws, ss: s, keys: b.keys, retention: ws.RetentionPeriod(),
		observed: math.MinInt64, index: map[string]*bufKey[K, V]{}}, nil
}

// bufKey is one key's live records: refs in (timestamp, position) order.
type bufKey[K, V any] struct {
	key  K
	str  string // the serialized key, the index's map key
	refs []bufRef
}

type bufRef struct {
	ts  int64
	pos uint64
}

// bufEntry is one record in the ring, in insertion order.
type bufEntry[K, V any] struct {
	key   *bufKey[K, V]
	ts    int64
	value V
}

// bufHit is a record a fetch found: its timestamp and a copy of its value.
type bufHit[V any] struct {
	ts    int64
	value V
}

type joinBuffer[K, V any] struct {
	inner store.WindowStore[K, V]
	ss    store.StateStore
	keys  record.Serializer[K]
	kbuf  []byte

	index map[string]*bufKey[K, V]
	// ring holds the records from position head to tail (ring[pos&mask]),
	// in insertion order; those from flushed on are not in the store yet.
	ring                []bufEntry[K, V]
	head, tail, flushed uint64

	retention int64
	observed  int64 // the largest timestamp put; MinInt64 before any
	expired   int64 // puts dropped because their window had expired
	loaded    bool
	puts      []store.WindowPut[K, V] // push's batch
}

// liveFrom is the oldest timestamp still visible: observed - retention + 1,
// as the window store computes it.
func (b *joinBuffer[K, V]) liveFrom() int64 {
	if b.observed == math.MinInt64 {
		return math.MinInt64
	}
	return record.SaturatingAdd(record.SaturatingSub(b.observed, b.retention), 1)
}

func (b *joinBuffer[K, V]) serializeKey(key K) ([]byte, error) {
	kb, err := b.keys.Serialize(b.kbuf[:0], key)
	if err != nil {
		return nil, fmt.Errorf("store %q: serialize key: %w", b.Name(), err)
	}
	if kb == nil {
		return nil, fmt.Errorf("store %q: %w", b.Name(), store.ErrNullKey)
	}
	b.kbuf = kb[:0]
	return kb, nil
}

// Put adds a record to the index; the store gets it at the next Flush
// unless it has expired by then.
func (b *joinBuffer[K, V]) Put(key K, value V, windowStart int64) error {
	if !b.loaded {
		// Used before a join's Init (by a processor of the user's):
		// nothing to index yet, or a store to read back first.
		if err := b.load(); err != nil {
			return err
		}
	}
	kb, err := b.serializeKey(key)
	if err != nil {
		return err
	}
	b.observed = max(b.observed, windowStart)
	live := b.liveFrom()
	if windowStart < live {
		b.expired++
		return nil
	}
	b.add(kb, key, value, windowStart)
	b.evict(live)
	return nil
}

// add appends a record to the ring and to its key's refs.
func (b *joinBuffer[K, V]) add(kb []byte, key K, value V, ts int64) {
	k, ok := b.index[string(kb)]
	if !ok {
		k = &bufKey[K, V]{key: key, str: string(kb)}
		b.index[k.str] = k
	}
	if b.tail-b.head == uint64(len(b.ring)) {
		b.grow()
	}
	pos := b.tail
	b.ring[pos&uint64(len(b.ring)-1)] = bufEntry[K, V]{key: k, ts: ts, value: value}
	b.tail++
	ref := bufRef{ts: ts, pos: pos}
	if n := len(k.refs); n == 0 || k.refs[n-1].ts <= ts {
		k.refs = append(k.refs, ref)
		return
	}
	// Out of order: after every ref with a timestamp <= ts.
	i, _ := slices.BinarySearchFunc(k.refs, ts+1, func(r bufRef, t int64) int {
		switch {
		case r.ts < t:
			return -1
		case r.ts > t:
			return 1
		}
		return 0
	})
	k.refs = slices.Insert(k.refs, i, ref)
}

// grow doubles the ring (at least 64 slots), keeping positions.
func (b *joinBuffer[K, V]) grow() {
	n := max(64, 2*len(b.ring))
	ring := make([]bufEntry[K, V], n)
	for p := b.head; p < b.tail; p++ {
		ring[p&uint64(n-1)] = b.ring[p&uint64(len(b.ring)-1)]
	}
	b.ring = ring
}

// evict drops the records at the ring's head that are older than live,
// and with them their keys' expired refs. A record put out of order may
// stay behind a newer one at the head for a while; fetches skip it, and it
// leaves once the head reaches it: nothing stays longer than retention
// after it was put.
func (b *joinBuffer[K, V]) evict(live int64) {
	mask := uint64(len(b.ring) - 1)
	for b.head < b.tail {
		e := &b.ring[b.head&mask]
		if e.ts >= live {
			return
		}
		k := e.key
		n := 0
		for n < len(k.refs) && k.refs[n].ts < live {
			n++
		}
		if n > 0 {
			k.refs = k.refs[n:]
		}
		if len(k.refs) == 0 {
			k.refs = nil
			if b.index[k.str] == k {
				delete(b.index, k.str)
			}
		}
		*e = bufEntry[K, V]{}
		b.head++
	}
}

// fetch appends to dst the records of key with timestamps in [from, to]
// that are live, oldest first (then in insertion order).
func (b *joinBuffer[K, V]) fetch(dst []bufHit[V], key K, from, to int64) ([]bufHit[V], error) {
	if !b.loaded {
		if err := b.load(); err != nil {
			return dst, err
		}
	}
	kb, err := b.serializeKey(key)
	if err != nil {
		return dst, err
	}
	k, ok := b.index[string(kb)]
	if !ok {
		return dst, nil
	}
	from = max(from, b.liveFrom())
	if from > to {
		return dst, nil
	}
	i, _ := slices.BinarySearchFunc(k.refs, from, func(r bufRef, t int64) int {
		switch {
		case r.ts < t:
			return -1
		case r.ts > t:
			return 1
		}
		return 0
	})
	mask := uint64(len(b.ring) - 1)
	for ; i < len(k.refs) && k.refs[i].ts <= to; i++ {
		e := &b.ring[k.refs[i].pos&mask]
		dst = append(dst, bufHit[V]{ts: e.ts, value: e.value})
	}
	return dst, nil
}

// load rebuilds the index from the store: called by the join's Init,
// after the store was restored.
func (b *joinBuffer[K, V]) load() error {
	if err := b.push(); err != nil {
		return err
	}
	b.loaded = true
	clear(b.index)
	b.ring, b.head, b.tail, b.flushed = nil, 0, 0, 0
	b.observed = math.MinInt64
	if o := b.inner.ObservedStreamTime(); o > math.MinInt64/2 {
		b.observed = o
	}
	it, err := b.inner.All()
	if err != nil {
		return err
	}
	var all []store.KeyValue[store.Windowed[K], V]
	for it.Next() {
		all = append(all, store.KeyValue[store.Windowed[K], V]{Key: it.Key(), Value: it.Value()})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	// The store orders by key, then time, then insertion; the ring wants
	// time order, insertion order among equal times.
	slices.SortStableFunc(all, func(a, c store.KeyValue[store.Windowed[K], V]) int {
		switch {
		case a.Key.Start < c.Key.Start:
			return -1
		case a.Key.Start > c.Key.Start:
			return 1
		}
		return 0
	})
	live := b.liveFrom()
	for _, kv := range all {
		if kv.Key.Start < live {
			continue
		}
		kb, err := b.serializeKey(kv.Key.Key)
		if err != nil {
			return err
		}
		b.add(kb, kv.Key.Key, kv.Value, kv.Key.Start)
	}
	b.flushed = b.tail
	return nil
}

// push writes the records put since the last push that are still live
// to the store, in insertion order, as one batch.
func (b *joinBuffer[K, V]) push() error {
	if b.flushed >= b.tail {
		return nil
	}
	live := b.liveFrom()
	mask := uint64(len(b.ring) - 1)
	puts := b.puts[:0]
	for p := max(b.flushed, b.head); p < b.tail; p++ {
		e := &b.ring[p&mask]
		if e.ts >= live {
			puts = append(puts, store.WindowPut[K, V]{Key: e.key.key, Value: e.value, WindowStart: e.ts, Timestamp: e.ts})
		}
	}
	b.flushed = b.tail
	ok, err := store.PutWindows(b.inner, puts)
	if !ok && err == nil {
		for _, p := range puts {
			if err = b.inner.Put(p.Key, p.Value, p.WindowStart); err != nil {
				break
			}
		}
	}
	clear(puts)
	b.puts = puts[:0]
	return err
}

func (b *joinBuffer[K, V]) Name() string { return b.ss.Name() }

func (b *joinBuffer[K, V]) Init(ctx store.InitContext) error { return b.ss.Init(ctx) }

// Flush writes the pending records to the store and flushes it.
func (b *joinBuffer[K, V]) Flush() error {
	if err := b.push(); err != nil {
		return err
	}
	return b.ss.Flush()
}

func (b *joinBuffer[K, V]) Close() error {
	clear(b.index)
	b.ring = nil
	return b.ss.Close()
}

func (b *joinBuffer[K, V]) Persistent() bool { return b.ss.Persistent() }

// Inner is the byte store under the window store (restoration, disk
// flushes and entry counts go there).
func (b *joinBuffer[K, V]) Inner() store.KeyValueBytes {
	if w, ok := b.ss.(interface{ Inner() store.KeyValueBytes }); ok {
		return w.Inner()
	}
	return nil
}

func (b *joinBuffer[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

func (b *joinBuffer[K, V]) RetentionPeriod() int64 { return b.retention }
func (b *joinBuffer[K, V]) WindowSize() int64      { return b.inner.WindowSize() }
func (b *joinBuffer[K, V]) ExpiredDrops() int64    { return b.expired + b.inner.ExpiredDrops() }
func (b *joinBuffer[K, V]) ObservedStreamTime() int64 {
	return max(b.observed, b.inner.ObservedStreamTime())
}

// The reads of the WindowStore interface write the pending records first
// and read the store.

func (b *joinBuffer[K, V]) Fetch(key K, windowStart int64) (V, bool, error) {
	if err := b.push(); err != nil {
		var zero V
		return zero, false, err
	}
	return b.inner.Fetch(key, windowStart)
}

func (b *joinBuffer[K, V]) FetchRange(key K, timeFrom, timeTo int64) (store.Iterator[int64, V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.FetchRange(key, timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) BackwardFetchRange(key K, timeFrom, timeTo int64) (store.Iterator[int64, V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.BackwardFetchRange(key, timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) FetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.FetchKeyRange(keyFrom, keyTo, timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) BackwardFetchKeyRange(keyFrom, keyTo K, timeFrom, timeTo int64) (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.BackwardFetchKeyRange(keyFrom, keyTo, timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) FetchAll(timeFrom, timeTo int64) (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.FetchAll(timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) BackwardFetchAll(timeFrom, timeTo int64) (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.BackwardFetchAll(timeFrom, timeTo)
}

func (b *joinBuffer[K, V]) All() (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.All()
}

func (b *joinBuffer[K, V]) BackwardAll() (store.Iterator[store.Windowed[K], V], error) {
	if err := b.push(); err != nil {
		return nil, err
	}
	return b.inner.BackwardAll()
}
