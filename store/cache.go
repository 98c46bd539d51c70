package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// DefaultCacheBytes is the cache budget used when none is configured: 10 MiB,
// Kafka Streams' default for cache.max.bytes.buffering.
const DefaultCacheBytes = 10 << 20

// cacheEntryOverhead approximates the bytes an entry holds besides its key
// and value (entry struct, map slot, B-tree slot).
const cacheEntryOverhead = 112

// Cache is the byte budget of the write-back caches of one application
// instance, shared by all its tasks. Each cached store evicts its own least
// recently used entries while the shared total is over budget (as Kafka
// Streams evicts from the cache being written), and only writes flush
// (a read from another goroutine, an interactive query, evicts clean
// entries only), so a store is only ever flushed by the goroutine of the
// task that owns it.
//
// The budget (UsedBytes) is the only counter the stores share, and each
// store adds its changes to it in steps of up to 16 KiB (a 64th of the
// budget when smaller), not on every write, so the tasks' writes rarely
// touch one cache line; the budget may therefore be passed by that step per
// cached store. Hits, misses, evictions and flushes are counted by each
// store under its own lock, so a read touches no memory another task
// writes. Stats adds them up when asked.
type Cache struct {
	max  int64
	used atomic.Int64

	mu      sync.Mutex
	live    map[*cachedKV]struct{}
	retired CacheStats // counters of the stores closed so far
}

// NewCache returns a cache budget of maxBytes (at least 1).
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: max(maxBytes, 1)}
}

// MaxBytes returns the budget.
func (c *Cache) MaxBytes() int64 { return c.max }

// UsedBytes returns the bytes the open stores' caches hold, summed from the
// stores under their locks (exact; eviction works on the shared total,
// which each store updates in steps). Safe from any goroutine.
func (c *Cache) UsedBytes() int64 { return c.Stats().UsedBytes }

// CacheStats is a snapshot of a cache's counters: of one store's cache
// (CacheMetricsOf) or of every store on a budget (Cache.Stats).
type CacheStats struct {
	// Hits and Misses count reads the cache answered, and those it sent
	// to the store under it.
	Hits, Misses int64
	// Evictions counts entries dropped to keep the budget; Flushes counts
	// the writes of dirty entries to the store (commits and evictions).
	Evictions, Flushes int64
	// UsedBytes is what the cached entries take now (an estimate that
	// includes a fixed overhead per entry); Entries is how many there are.
	UsedBytes, Entries int64
}

// HitRatio returns Hits / (Hits + Misses), and 0 before any read.
func (s CacheStats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

func (s *CacheStats) add(o CacheStats) {
	s.Hits += o.Hits
	s.Misses += o.Misses
	s.Evictions += o.Evictions
	s.Flushes += o.Flushes
	s.UsedBytes += o.UsedBytes
	s.Entries += o.Entries
}

// Stats returns the counters of every store on this budget, those closed
// included (their entries and bytes are gone: UsedBytes and Entries are of
// the open stores). Safe from any goroutine.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.retired
	out.UsedBytes, out.Entries = 0, 0
	for s := range c.live {
		out.add(s.stats())
	}
	return out
}

// register adds an open store's counters to Stats. The caller does not
// hold s.mu (Stats takes c.mu, then each store's lock).
func (c *Cache) register(s *cachedKV) {
	c.mu.Lock()
	if c.live == nil {
		c.live = map[*cachedKV]struct{}{}
	}
	c.live[s] = struct{}{}
	c.mu.Unlock()
}

// retire keeps a closing store's counters in Stats; idempotent. The caller
// does not hold s.mu.
func (c *Cache) retire(s *cachedKV) {
	c.mu.Lock()
	if _, ok := c.live[s]; ok {
		delete(c.live, s)
		c.retired.add(s.stats())
	}
	c.mu.Unlock()
}

// Flushed is one entry written from a cache to its store. Nil NewValue is a
// delete; OldValue is what the store held before (nil if absent, or if the
// listener did not ask for old values).
type Flushed struct {
	Key       []byte
	NewValue  []byte
	OldValue  []byte
	Timestamp int64
}

// FlushListener receives what a cached store flushed, in the order the keys
// were first dirtied since the previous flush, after the write reached the
// store. It runs on the flushing goroutine without the store's lock held, so
// it may read and write stores and forward records.
type FlushListener func(Flushed) error

// ErrNotCached is returned when a flush listener is set on a store without a
// cache.
var ErrNotCached = errors.New("store: store has no cache")

type centry struct {
	key   string
	value []byte // nil: deleted (only while dirty)
	dirty bool
	// old is what the store holds for the key while the entry is dirty,
	// when known (oldKnown): flush listeners that want old values then
	// need no store read.
	old      []byte
	oldKnown bool
	// owned says value is a buffer set allocated for this entry, which
	// nothing outside the cache has kept: while the entry is dirty, a
	// write of a value that fits is copied into it instead of into a new
	// buffer. It is cleared when the buffer leaves the cache's sole care:
	// at a flush (the store and the listeners are handed it) and when a
	// Range or PrefixScan snapshot holds it (pinned).
	owned        bool
	ts           int64
	size         int64
	prev, next   *centry // LRU list; head is most recent
	dprev, dnext *centry // dirty list, oldest first
}

// cachedKV is a write-back cache in front of a KeyValueBytes: reads see it
// first, writes stay in it until a flush (commit) or an eviction writes every
// dirty entry to the store in one batch.
type cachedKV struct {
	mu       sync.Mutex
	inner    KeyValueBytes
	cache    *Cache
	entries  map[string]*centry
	sorted   *btree.BTreeG[*centry]
	head     *centry
	tail     *centry
	dhead    *centry
	dtail    *centry
	bytes    int64
	listener FlushListener
	wantOld  bool
	recTS    func() int64
	closed   atomic.Bool
	// lastMiss is the key of the last read the store had no value for:
	// the read-then-write of an aggregation creating a key then knows the
	// old value is absent without reading the store again at flush.
	lastMiss      []byte
	lastMissValid bool
	// lastHit is the entry the last read found, if still cached: the
	// read-then-write of an aggregation then finds its entry without a
	// second map lookup.
	lastHit *centry
	// Counters of this store's cache, under mu (see Cache).
	hits, misses, evictions, flushes int64
	// unpublished is the change of bytes not yet added to the shared
	// budget's total: it is added once it reaches publishEvery either way,
	// so a write touches the shared counter about once per publishEvery
	// bytes, not every time (the counter's cache line is then rarely
	// written, and reading it rarely misses).
	unpublished, publishEvery int64
}

// maxUnpublishedBytes bounds what one store keeps out of the shared total:
// the budget may be passed by up to that much per cached store (16 KiB, or
// a 64th of the budget when that is smaller).
const maxUnpublishedBytes = 16 << 10

func newCachedKV(inner KeyValueBytes) *cachedKV {
	return &cachedKV{inner: inner, entries: map[string]*centry{},
		sorted: btree.NewG[*centry](32, func(a, b *centry) bool { return a.key < b.key })}
}

func (c *cachedKV) Name() string     { return c.inner.Name() }
func (c *cachedKV) Persistent() bool { return c.inner.Persistent() }

// Unwrap returns the store under the cache.
func (c *cachedKV) Unwrap() KeyValueBytes { return c.inner }

func (c *cachedKV) Init(ctx InitContext) error {
	if err := c.inner.Init(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.cache = ctx.Cache
	if c.cache == nil {
		c.cache = NewCache(DefaultCacheBytes)
	}
	c.publishEvery = max(1, min(maxUnpublishedBytes, c.cache.max/64))
	c.recTS = ctx.RecordTimestamp
	cache := c.cache
	c.mu.Unlock()
	cache.register(c)
	return nil
}

// stats returns the cache's counters; safe from any goroutine.
func (c *cachedKV) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Evictions: c.evictions, Flushes: c.flushes,
		UsedBytes: c.bytes, Entries: int64(len(c.entries))}
}

// usable returns ErrClosed after Close and ErrNotOpen before Init (the
// store under would refuse the writes only at the next flush); the caller
// holds the lock.
func (c *cachedKV) usable() error {
	if c.cache != nil && !c.closed.Load() { // open: the common case, without naming the store
		return nil
	}
	return lifecycleErr(c.Name(), c.cache != nil, c.closed.Load())
}

func (c *cachedKV) setFlushListener(l FlushListener, wantOld bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listener, c.wantOld = l, wantOld
}

func (c *cachedKV) now() int64 {
	if c.recTS == nil {
		return 0
	}
	return c.recTS()
}

func (c *cachedKV) touch(e *centry) {
	if c.head == e {
		return
	}
	c.unlink(e)
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *cachedKV) unlink(e *centry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if c.head == e {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if c.tail == e {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *cachedKV) markDirty(e *centry) {
	if e.dirty {
		return
	}
	e.dirty = true
	e.dprev = c.dtail
	if c.dtail != nil {
		c.dtail.dnext = e
	} else {
		c.dhead = e
	}
	c.dtail = e
}

func (c *cachedKV) resize(e *centry, size int64) {
	d := size - e.size
	e.size = size
	c.bytes += d
	c.unpublished += d
	if c.unpublished >= c.publishEvery || -c.unpublished >= c.publishEvery {
		c.publish()
	}
}

// publish adds what the store has not yet told the shared budget.
func (c *cachedKV) publish() {
	if c.unpublished != 0 {
		c.cache.used.Add(c.unpublished)
		c.unpublished = 0
	}
}

// overBudget reports whether the shared budget is exceeded, counting this
// store's unpublished change.
func (c *cachedKV) overBudget() bool { return c.cache.used.Load()+c.unpublished > c.cache.max }

func (c *cachedKV) insert(key []byte, value []byte) *centry {
	e := &centry{key: string(key), value: value}
	c.entries[e.key] = e
	c.sorted.ReplaceOrInsert(e)
	c.touch(e)
	c.resize(e, int64(len(e.key)+len(value))+cacheEntryOverhead)
	return e
}

func (c *cachedKV) remove(e *centry) {
	if c.lastHit == e {
		c.lastHit = nil
	}
	c.unlink(e)
	delete(c.entries, e.key)
	c.sorted.Delete(e)
	c.resize(e, 0)
}

// Get returns a copy of the value: the caller may write into it.
func (c *cachedKV) Get(key []byte) ([]byte, bool, error) {
	v, ok, _, err := c.getShared(key)
	if ok {
		v = bytes.Clone(v)
	}
	return v, ok, err
}

// getShared returns the cached slice itself (see sharedReader), valid until
// the next write: a write to a dirty entry may rewrite its buffer in place
// (see centry.owned). What a miss caches is the store's own unchanging
// slice or a copy nobody else holds.
func (c *cachedKV) getShared(key []byte) ([]byte, bool, bool, error) {
	if key == nil {
		return nil, false, false, fmt.Errorf("store %q: %w", c.Name(), ErrNullKey)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok, err := c.get(key)
	return v, ok, true, err
}

// get reads through the cache; a miss found in the store is cached clean.
// A read never flushes: interactive queries read from other goroutines,
// and a flush runs the flush listener, which forwards records, so it must
// run on the writing goroutine (Kafka Streams caches reads on the stream
// thread only). Over budget, a read evicts clean entries, or does not
// cache what it read.
func (c *cachedKV) get(key []byte) ([]byte, bool, error) {
	if err := c.usable(); err != nil {
		return nil, false, err
	}
	if e, ok := c.entries[view(key)]; ok {
		c.hits++
		c.touch(e)
		c.lastHit = e
		return e.value, e.value != nil, nil
	}
	c.misses++
	v, ok, _, err := getShared(c.inner, key)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		c.lastMiss, c.lastMissValid = append(c.lastMiss[:0], key...), true
		return nil, false, nil
	}
	e := c.insert(key, v)
	for c.overBudget() && c.tail != nil {
		if c.tail.dirty {
			c.remove(e) // only dirty entries to evict: keep the read uncached
			break
		}
		evicted := c.tail
		c.remove(evicted)
		c.evictions++
		if evicted == e {
			break
		}
	}
	return v, true, nil
}

func (c *cachedKV) Put(key, value []byte) error {
	if key == nil {
		return fmt.Errorf("store %q: %w", c.Name(), ErrNullKey)
	}
	c.mu.Lock()
	pending, err := c.put(key, value)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.notify(pending)
}

func (c *cachedKV) put(key, value []byte) ([]Flushed, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	c.set(key, value)
	return c.maybeEvict()
}

// set writes key's dirty entry; the caller holds the lock, has checked the
// cache is open, and evicts afterwards.
func (c *cachedKV) set(key, value []byte) {
	e := c.lastHit
	ok := e != nil && e.key == view(key)
	if !ok {
		e, ok = c.entries[view(key)]
	}
	if ok {
		if !e.dirty { // clean: the entry holds what the store holds
			e.old, e.oldKnown = e.value, true
			e.owned = false
		}
		switch {
		case value == nil:
			e.value, e.owned = nil, false
		case e.owned && e.value != nil && cap(e.value) >= len(value):
			// Dirty, and its buffer is the cache's alone: reuse it.
			e.value = append(e.value[:0], value...)
		default:
			e.value, e.owned = bytes.Clone(value), true
		}
		c.touch(e)
		c.resize(e, int64(len(e.key)+len(e.value))+cacheEntryOverhead)
	} else {
		var v []byte
		if value != nil {
			v = bytes.Clone(value)
		}
		e = c.insert(key, v)
		e.owned = v != nil
		e.oldKnown = c.lastMissValid && bytes.Equal(c.lastMiss, key)
	}
	c.lastMissValid = false
	e.ts = c.now()
	c.markDirty(e)
}

func (c *cachedKV) Delete(key []byte) ([]byte, bool, error) {
	if key == nil {
		return nil, false, fmt.Errorf("store %q: %w", c.Name(), ErrNullKey)
	}
	c.mu.Lock()
	old, ok, err := c.get(key)
	var pending []Flushed
	if err == nil {
		pending, err = c.put(key, nil)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	// old is the cache's (a dirty entry keeps it for flush listeners): the
	// caller gets its own copy.
	return bytes.Clone(old), ok, c.notify(pending)
}

// Write is all or nothing: it checks every key before it caches any entry,
// and evicts only once the whole batch is in the cache, so an eviction
// flush never writes part of it.
func (c *cachedKV) Write(batch []Entry) error {
	for _, e := range batch {
		if e.Key == nil {
			return fmt.Errorf("store %q: %w", c.Name(), ErrNullKey)
		}
	}
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return err
	}
	for _, e := range batch {
		c.set(e.Key, e.Value)
	}
	pending, err := c.maybeEvict()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.notify(pending)
}

// maybeEvict evicts this store's least recently used entries while the
// shared budget is exceeded; evicting a dirty entry first flushes every
// dirty entry in one batch.
func (c *cachedKV) maybeEvict() ([]Flushed, error) {
	var pending []Flushed
	for c.overBudget() && c.tail != nil {
		e := c.tail
		if e.dirty {
			fl, err := c.flushDirty()
			if err != nil {
				return pending, err
			}
			pending = append(pending, fl...)
		}
		if _, still := c.entries[e.key]; still {
			c.remove(e)
			c.evictions++
		}
	}
	return pending, nil
}

// flushDirty writes every dirty entry to the store in one batch and marks
// them clean (flushed deletes leave the cache). It returns what listeners
// must hear; the caller holds the lock and calls notify after unlocking.
func (c *cachedKV) flushDirty() ([]Flushed, error) {
	if c.dhead == nil {
		return nil, nil
	}
	n := 0
	for e := c.dhead; e != nil; e = e.dnext {
		n++
	}
	// The store gets the batch sorted by key: keys in a batch are
	// distinct, and sorted they insert into RocksDB's memtable in far fewer
	// comparisons (see rocksdb.hintInserts). Listeners hear dirty order.
	batch := c.dirtyByKey(n)
	var out []Flushed
	if c.listener != nil {
		out = make([]Flushed, 0, n)
		for e := c.dhead; e != nil; e = e.dnext {
			f := Flushed{Key: []byte(e.key), NewValue: e.value, Timestamp: e.ts}
			if c.wantOld && e.oldKnown {
				f.OldValue = e.old
			} else if c.wantOld {
				old, ok, _, err := getShared(c.inner, f.Key)
				if err != nil {
					return nil, err
				}
				if ok {
					f.OldValue = old
				}
			}
			out = append(out, f)
		}
	}
	var err error
	if sw, ok := c.inner.(stampedWriter); ok {
		err = sw.writeStamped(batch.entries, batch.ts)
	} else {
		err = c.inner.Write(batch.entries)
	}
	if err != nil {
		return nil, fmt.Errorf("store %q: flush cache: %w", c.Name(), err)
	}
	c.flushes++
	for e := c.dhead; e != nil; {
		next := e.dnext
		e.dirty, e.dprev, e.dnext = false, nil, nil
		e.old, e.oldKnown = nil, false
		e.owned = false // the store and the listeners have it now
		if e.value == nil {
			c.remove(e)
		}
		e = next
	}
	c.dhead, c.dtail = nil, nil
	return out, nil
}

// dirtyByKey returns the n dirty entries as a batch sorted by key. When
// they are a large part of the cache, it walks the cache's key order and
// keeps the dirty ones, which is linear in the cache's entries; otherwise
// it sorts them, in n log n key comparisons (about 1.5 ms for 10,000
// against 0.1 ms for the walk).
func (c *cachedKV) dirtyByKey(n int) stampedBatch {
	batch := stampedBatch{entries: make([]Entry, 0, n), ts: make([]int64, 0, n)}
	add := func(e *centry) {
		batch.entries = append(batch.entries, Entry{Key: []byte(e.key), Value: e.value})
		batch.ts = append(batch.ts, e.ts)
	}
	if c.sorted.Len() <= n*bits.Len(uint(n)) {
		c.sorted.Ascend(func(e *centry) bool {
			if e.dirty {
				add(e)
			}
			return len(batch.entries) < n
		})
		return batch
	}
	for e := c.dhead; e != nil; e = e.dnext {
		add(e)
	}
	sort.Sort(batch)
	return batch
}

// stampedBatch is a flush: the entries and, alongside, the timestamp of the
// write that last dirtied each, sorted together by key.
type stampedBatch struct {
	entries []Entry
	ts      []int64
}

func (b stampedBatch) Len() int { return len(b.entries) }
func (b stampedBatch) Less(i, j int) bool {
	return bytes.Compare(b.entries[i].Key, b.entries[j].Key) < 0
}
func (b stampedBatch) Swap(i, j int) {
	b.entries[i], b.entries[j] = b.entries[j], b.entries[i]
	b.ts[i], b.ts[j] = b.ts[j], b.ts[i]
}

func (c *cachedKV) notify(pending []Flushed) error {
	if len(pending) == 0 {
		return nil
	}
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l == nil {
		return nil
	}
	for _, f := range pending {
		if err := l(f); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the dirty entries to the store, tells the listener, and
// flushes the store.
func (c *cachedKV) Flush() error {
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return err
	}
	pending, err := c.flushDirty()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.notify(pending); err != nil {
		return err
	}
	return c.inner.Flush()
}

// Close drops the cache without flushing (commit flushes first) and closes
// the store.
func (c *cachedKV) Close() error {
	c.closed.Store(true)
	c.mu.Lock()
	for e := c.head; e != nil; {
		next := e.next
		c.remove(e)
		e = next
	}
	c.dhead, c.dtail = nil, nil
	if c.cache != nil {
		c.publish()
	}
	cache := c.cache
	c.mu.Unlock()
	if cache != nil {
		cache.retire(c)
	}
	return c.inner.Close()
}

func (c *cachedKV) ApproximateNumEntries() (int64, error) { return c.inner.ApproximateNumEntries() }

// FlushToDisk forwards to the store under the cache.
func (c *cachedKV) FlushToDisk() error { return FlushToDisk(c.inner) }

func (c *cachedKV) Range(from, to []byte, reverse bool) (Iterator[[]byte, []byte], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from != nil && to != nil && bytes.Compare(from, to) > 0 {
		return emptyIter{}, nil
	}
	var snap []snapshotEntry
	visit := func(e *centry) bool {
		if !reverse && to != nil && e.key > view(to) || reverse && from != nil && e.key < view(from) {
			return false
		}
		e.owned = false // pinned: the snapshot holds the buffer
		snap = append(snap, snapshotEntry{key: e.key, value: e.value})
		return true
	}
	switch {
	case !reverse && from != nil:
		c.sorted.AscendGreaterOrEqual(&centry{key: string(from)}, visit)
	case !reverse:
		c.sorted.Ascend(visit)
	case to != nil:
		c.sorted.DescendLessOrEqual(&centry{key: string(to)}, visit)
	default:
		c.sorted.Descend(visit)
	}
	in, err := c.inner.Range(from, to, reverse)
	if err != nil {
		return nil, err
	}
	return c.merge(snap, in, reverse), nil
}

func (c *cachedKV) PrefixScan(prefix []byte) (Iterator[[]byte, []byte], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var snap []snapshotEntry
	p := string(prefix)
	c.sorted.AscendGreaterOrEqual(&centry{key: p}, func(e *centry) bool {
		if len(e.key) < len(p) || e.key[:len(p)] != p {
			return false
		}
		e.owned = false // pinned: the snapshot holds the buffer
		snap = append(snap, snapshotEntry{key: e.key, value: e.value})
		return true
	})
	in, err := c.inner.PrefixScan(prefix)
	if err != nil {
		return nil, err
	}
	return c.merge(snap, in, false), nil
}

// merge iterates a snapshot of cached entries over the store's iterator:
// the cache wins on equal keys, its deletes hide the store's entries, and
// nothing more comes once the cache closes.
func (c *cachedKV) merge(snap []snapshotEntry, in Iterator[[]byte, []byte], reverse bool) Iterator[[]byte, []byte] {
	return newMergeIter([]Iterator[[]byte, []byte]{&snapshotIter{entries: snap}, in}, reverse, &c.closed)
}
