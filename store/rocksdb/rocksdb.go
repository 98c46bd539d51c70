package rocksdb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/linxGnu/grocksdb"
	"go.uber.org/zap"

	"github.com/millrace/millrace/store"
)

// Options and TableOptions are grocksdb's, for Config.Configure.
type (
	Options      = grocksdb.Options
	TableOptions = grocksdb.BlockBasedTableOptions
)

// Kafka Streams' RocksDBStore defaults.
const (
	DefaultBlockCacheBytes  = 50 << 20
	DefaultBlockSizeBytes   = 4 << 10
	DefaultWriteBufferBytes = 16 << 20
	DefaultMaxWriteBuffers  = 3
	bloomBitsPerKey         = 10
)

// Config configures RocksDB stores. The zero value gives Kafka Streams'
// defaults.
type Config struct {
	// BlockCacheBytes is the LRU block cache of each store; 0 means 50 MiB.
	// Unused by a store on a shared Memory.
	BlockCacheBytes uint64
	// BlockSizeBytes; 0 means 4 KiB.
	BlockSizeBytes int
	// WriteBufferBytes; 0 means 16 MiB.
	WriteBufferBytes uint64
	// MaxWriteBuffers; 0 means 3.
	MaxWriteBuffers int
	// Configure, if set, is called with the options before each store (or
	// segment) opens. It may change anything; the store frees the objects
	// it passed, and anything Configure creates and sets on them.
	Configure func(store string, opts *Options, table *TableOptions)
	// WipeCorrupt deletes a store's files when they cannot be opened, and
	// opens it empty, so it can be restored from its changelog.
	WipeCorrupt bool
	// Memory, if set, is the budget the stores share with every other
	// store on it: its block cache instead of one of their own, and its
	// write-buffer limit over theirs. Nil means the budget attached to the
	// directory a store opens under (Memory.Attach: a streams.App's
	// Config.StoreMemoryBytes), else a cache and write buffers per store.
	// Configure runs after the budget is set, and may still change it.
	Memory *Memory
}

// KeyValue returns a supplier of RocksDB key-value stores with default
// options.
func KeyValue(name string) store.KeyValueBytesSupplier { return Config{}.KeyValue(name) }

// Window returns a supplier of RocksDB window stores with default options.
func Window(name string, retention, windowSize time.Duration, retainDuplicates bool) store.WindowBytesSupplier {
	return Config{}.Window(name, retention, windowSize, retainDuplicates)
}

// Session returns a supplier of RocksDB session stores with default options.
func Session(name string, retention time.Duration) store.SessionBytesSupplier {
	return Config{}.Session(name, retention)
}

// KeyValue returns a supplier of RocksDB key-value stores.
func (c Config) KeyValue(name string) store.KeyValueBytesSupplier {
	return kvSupplier{name: name, cfg: c}
}

// Window returns a supplier of RocksDB window stores: one RocksDB instance
// per segment.
func (c Config) Window(name string, retention, windowSize time.Duration, retainDuplicates bool) store.WindowBytesSupplier {
	return store.WindowBytesSupplier{Name: name, Retention: retention, WindowSize: windowSize,
		RetainDuplicates: retainDuplicates, Segments: c.Segments}
}

// Session returns a supplier of RocksDB session stores.
func (c Config) Session(name string, retention time.Duration) store.SessionBytesSupplier {
	return store.SessionBytesSupplier{Name: name, Retention: retention, Segments: c.Segments}
}

// Segments is the store.SegmentSupplierFactory of RocksDB segments.
func (c Config) Segments(ctx store.InitContext, storeName string) (store.SegmentSupplier, error) {
	if ctx.StateDir == "" {
		return nil, fmt.Errorf("rocksdb: store %q needs a state directory", storeName)
	}
	dir := filepath.Join(ctx.StateDir, "rocksdb", storeName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rocksdb: store %q: %w", storeName, err)
	}
	return &segments{dir: dir, cfg: c, ctx: ctx}, nil
}

type kvSupplier struct {
	name string
	cfg  Config
}

func (s kvSupplier) Name() string             { return s.name }
func (s kvSupplier) Get() store.KeyValueBytes { return &kv{name: s.name, cfg: s.cfg} }

type segments struct {
	dir string
	cfg Config
	ctx store.InitContext
}

func (s *segments) Open(name string) (store.KeyValueBytes, error) {
	k := &kv{name: name, cfg: s.cfg, dir: filepath.Join(s.dir, name)}
	if err := k.Init(s.ctx); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *segments) Destroy(name string) error { return os.RemoveAll(filepath.Join(s.dir, name)) }
func (s *segments) Persistent() bool          { return true }

func (s *segments) Existing() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// kv is one RocksDB instance.
type kv struct {
	name   string
	cfg    Config
	dir    string
	logger *zap.Logger

	mu    sync.RWMutex
	db    *grocksdb.DB
	opts  *grocksdb.Options
	table *grocksdb.BlockBasedTableOptions
	cache *grocksdb.Cache
	mem   *Memory // the shared budget this store holds, or nil
	ro    *grocksdb.ReadOptions
	wo    *grocksdb.WriteOptions
	// cdb and cwo are db's and wo's C handles, for writeBatch.
	cdb, cwo unsafe.Pointer
	iters    map[*iter]struct{}
	closed   bool
	wiped    bool
}

// Wiped reports whether Init deleted unreadable files and opened empty.
func (s *kv) Wiped() bool { return s.wiped }

// Dir returns the store's directory.
func (s *kv) Dir() string { return s.dir }

func (s *kv) Name() string     { return s.name }
func (s *kv) Persistent() bool { return true }

func (s *kv) Init(ctx store.InitContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("rocksdb: store %q: Init after Close: %w", s.name, store.ErrClosed)
	}
	if s.db != nil {
		return fmt.Errorf("rocksdb: store %q initialized twice", s.name)
	}
	s.logger = ctx.Logger
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	if s.dir == "" {
		if ctx.StateDir == "" {
			return fmt.Errorf("rocksdb: store %q needs a state directory", s.name)
		}
		s.dir = filepath.Join(ctx.StateDir, "rocksdb", s.name)
	}
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return fmt.Errorf("rocksdb: store %q: %w", s.name, err)
	}
	if err := s.holdMemory(ctx.StateDir); err != nil {
		return err
	}
	err := s.open()
	if err != nil && s.cfg.WipeCorrupt && !isLockError(err) {
		s.logger.Warn("store files cannot be opened; wiping them to restore from the changelog",
			zap.String("store", s.name), zap.String("dir", s.dir), zap.Error(err))
		if rmErr := os.RemoveAll(s.dir); rmErr != nil {
			return fmt.Errorf("rocksdb: store %q: wipe %s: %w", s.name, s.dir, rmErr)
		}
		s.wiped = true
		err = s.open()
	}
	if err != nil {
		s.releaseMemory()
		return err
	}
	s.iters = map[*iter]struct{}{}
	return nil
}

func isLockError(err error) bool {
	return strings.Contains(err.Error(), "lock")
}

func (s *kv) open() error {
	cfg := s.cfg
	s.table = grocksdb.NewDefaultBlockBasedTableOptions()
	if s.mem == nil {
		s.cache = grocksdb.NewLRUCache(orDefault(cfg.BlockCacheBytes, DefaultBlockCacheBytes))
		s.table.SetBlockCache(s.cache)
	}
	s.table.SetBlockSize(int(orDefault(uint64(cfg.BlockSizeBytes), DefaultBlockSizeBytes)))
	s.table.SetFilterPolicy(grocksdb.NewBloomFilter(bloomBitsPerKey))
	s.opts = grocksdb.NewDefaultOptions()
	s.opts.SetCreateIfMissing(true)
	s.opts.SetErrorIfExists(false)
	s.opts.SetWriteBufferSize(orDefault(cfg.WriteBufferBytes, DefaultWriteBufferBytes))
	s.opts.SetMaxWriteBufferNumber(int(orDefault(uint64(cfg.MaxWriteBuffers), DefaultMaxWriteBuffers)))
	s.opts.SetCompression(grocksdb.NoCompression)
	s.opts.SetCompactionStyle(grocksdb.UniversalCompactionStyle)
	s.opts.SetInfoLogLevel(grocksdb.ErrorInfoLogLevel)
	s.opts.SetKeepLogFileNum(2)
	if s.mem != nil {
		s.opts.SetArenaBlockSize(sharedArenaBlockBytes)
		if err := s.mem.apply(s.opts, s.table); err != nil {
			s.freeOptions()
			return fmt.Errorf("rocksdb: store %q: %w", s.name, err)
		}
	}
	if err := hintInserts(s.opts); err != nil {
		s.freeOptions()
		return fmt.Errorf("rocksdb: store %q: %w", s.name, err)
	}
	if cfg.Configure != nil {
		cfg.Configure(s.name, s.opts, s.table)
	}
	s.opts.SetBlockBasedTableFactory(s.table)
	db, err := grocksdb.OpenDb(s.opts, s.dir)
	if err != nil {
		s.freeOptions()
		return fmt.Errorf("rocksdb: store %q cannot open %s: %w: %v", s.name, s.dir, store.ErrCorrupt, err)
	}
	s.db = db
	s.ro = grocksdb.NewDefaultReadOptions()
	s.wo = grocksdb.NewDefaultWriteOptions()
	s.wo.DisableWAL(true)
	if s.cdb, err = cHandle(s.db); err == nil {
		s.cwo, err = cHandle(s.wo)
	}
	if err != nil {
		s.ro.Destroy()
		s.wo.Destroy()
		s.db.Close()
		s.db, s.ro, s.wo = nil, nil, nil
		s.freeOptions()
		return fmt.Errorf("rocksdb: store %q: %w", s.name, err)
	}
	return nil
}

func orDefault(v, d uint64) uint64 {
	if v == 0 {
		return d
	}
	return v
}

func (s *kv) freeOptions() {
	if s.opts != nil {
		s.opts.Destroy()
		s.opts = nil
	}
	if s.table != nil {
		s.table.Destroy()
		s.table = nil
	}
	if s.cache != nil {
		s.cache.Destroy()
		s.cache = nil
	}
}

// check returns an error unless the store is open; the caller holds mu.
func (s *kv) check() error {
	switch {
	case s.closed:
		return fmt.Errorf("rocksdb: store %q: %w", s.name, store.ErrClosed)
	case s.db == nil:
		return fmt.Errorf("rocksdb: store %q: %w", s.name, store.ErrNotOpen)
	}
	return nil
}

func (s *kv) checkKey(key []byte) error {
	if err := s.check(); err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("rocksdb: store %q: %w", s.name, store.ErrNullKey)
	}
	return nil
}

func (s *kv) Get(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkKey(key); err != nil {
		return nil, false, err
	}
	return s.get(key)
}

func (s *kv) get(key []byte) ([]byte, bool, error) {
	h, err := s.db.GetPinned(s.ro, key)
	if err != nil {
		return nil, false, fmt.Errorf("rocksdb: store %q: get: %w", s.name, err)
	}
	defer h.Destroy()
	if !h.Exists() {
		return nil, false, nil
	}
	d := h.Data()
	out := make([]byte, len(d))
	copy(out, d)
	return out, true, nil
}

func (s *kv) Put(key, value []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkKey(key); err != nil {
		return err
	}
	var err error
	if value == nil {
		err = s.db.Delete(s.wo, key)
	} else {
		err = s.db.Put(s.wo, key, value)
	}
	if err != nil {
		return fmt.Errorf("rocksdb: store %q: put: %w", s.name, err)
	}
	return nil
}

func (s *kv) Delete(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkKey(key); err != nil {
		return nil, false, err
	}
	old, ok, err := s.get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	if err := s.db.Delete(s.wo, key); err != nil {
		return nil, false, fmt.Errorf("rocksdb: store %q: delete: %w", s.name, err)
	}
	return old, true, nil
}

func (s *kv) Write(batch []store.Entry) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return err
	}
	return s.writeBatch(batch)
}

func (s *kv) Range(from, to []byte, reverse bool) (store.Iterator[[]byte, []byte], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	it := &iter{s: s, reverse: reverse}
	if from != nil {
		it.from = bytes.Clone(from)
	}
	if to != nil {
		it.to = bytes.Clone(to)
	}
	ro := s.ro
	// The far bound goes to RocksDB too: then it stops there instead of
	// skipping, past the end of the range, every deleted key up to the next
	// live one (a join deleting matched records leaves long runs of them).
	switch {
	case !reverse && to != nil:
		it.ro = grocksdb.NewDefaultReadOptions()
		it.bound = append(bytes.Clone(to), 0) // exclusive: the first key after to
		it.ro.SetIterateUpperBound(it.bound)
	case reverse && from != nil:
		it.ro = grocksdb.NewDefaultReadOptions()
		it.bound = bytes.Clone(from) // inclusive
		it.ro.SetIterateLowerBound(it.bound)
	}
	if it.ro != nil {
		ro = it.ro
	}
	it.it = s.db.NewIterator(ro)
	s.iters[it] = struct{}{}
	return it, nil
}

func (s *kv) PrefixScan(prefix []byte) (store.Iterator[[]byte, []byte], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	it := &iter{s: s, it: s.db.NewIterator(s.ro), from: bytes.Clone(prefix), prefix: bytes.Clone(prefix)}
	if it.from == nil {
		it.from = []byte{}
	}
	s.iters[it] = struct{}{}
	return it, nil
}

func (s *kv) ApproximateNumEntries() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	n, _ := s.db.GetIntProperty("rocksdb.estimate-num-keys")
	return int64(n), nil
}

// DBProperties reads the instance's memory and compaction properties
// (store.DBPropertyReader). RocksDB's property reads are thread-safe; the
// read lock only keeps Close from freeing the database meanwhile, so this
// may be called from any goroutine while the task writes. ok is false
// before Init and after Close.
func (s *kv) DBProperties() (store.DBProperties, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.check() != nil {
		return store.DBProperties{}, false
	}
	get := func(name string) uint64 {
		v, _ := s.db.GetIntProperty(name)
		return v
	}
	cache := get
	if s.mem != nil {
		// The block cache is the App's shared budget: its figures belong
		// to the budget (Memory.Stats), not to each store on it, where
		// summing them would count the one cache once per store.
		cache = func(string) uint64 { return 0 }
	}
	return store.DBProperties{
		Instances:                      1,
		SizeAllMemTables:               get("rocksdb.size-all-mem-tables"),
		CurSizeAllMemTables:            get("rocksdb.cur-size-all-mem-tables"),
		NumImmutableMemTables:          get("rocksdb.num-immutable-mem-table"),
		BlockCacheCapacity:             cache("rocksdb.block-cache-capacity"),
		BlockCacheUsage:                cache("rocksdb.block-cache-usage"),
		BlockCachePinnedUsage:          cache("rocksdb.block-cache-pinned-usage"),
		EstimateNumKeys:                get("rocksdb.estimate-num-keys"),
		EstimateTableReadersMem:        get("rocksdb.estimate-table-readers-mem"),
		TotalSSTFilesSize:              get("rocksdb.total-sst-files-size"),
		LiveSSTFilesSize:               get("rocksdb.live-sst-files-size"),
		EstimatePendingCompactionBytes: get("rocksdb.estimate-pending-compaction-bytes"),
		CompactionPending:              get("rocksdb.compaction-pending"),
		NumRunningCompactions:          get("rocksdb.num-running-compactions"),
		NumRunningFlushes:              get("rocksdb.num-running-flushes"),
	}, true
}

// Flush is the commit-time flush: writes reach RocksDB synchronously, so
// there is nothing buffered above it. It does not force memtables to disk
// (that costs milliseconds per store); FlushToDisk does, before a
// checkpoint is written, as Kafka Streams flushes RocksDB only when it
// checkpoints.
func (s *kv) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check()
}

// FlushToDisk flushes the memtables to files and waits: with the WAL off,
// this is what makes writes survive a crash, so a checkpoint may claim them.
func (s *kv) FlushToDisk() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return err
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	if err := s.db.Flush(fo); err != nil {
		return fmt.Errorf("rocksdb: store %q: flush: %w", s.name, err)
	}
	return nil
}

func (s *kv) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for it := range s.iters {
		it.closeLocked()
	}
	s.iters = nil
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	if s.ro != nil {
		s.ro.Destroy()
		s.ro = nil
	}
	if s.wo != nil {
		s.wo.Destroy()
		s.wo = nil
	}
	s.freeOptions()
	s.releaseMemory()
	return nil
}

// iter walks a RocksDB iterator within inclusive bounds.
//
// Next copies the entry it reaches into the iterator's own buffers, under
// mu, which Close (from any goroutine: an interactive query's iterator
// outlives a store that closes when its task moves away) also takes before
// it frees the C iterator. Key and Value read only those Go copies, so they
// never touch freed C memory, and a caller that writes into what they
// return cannot reach RocksDB's memtable or block cache. The copies are
// valid until the next call to Next; the buffers are reused, so iterating
// allocates nothing of its own once they have grown.
type iter struct {
	s  *kv
	mu sync.Mutex // guards it, started, done and err against Close
	it *grocksdb.Iterator
	// ro and bound are the iterator's own read options and the bound they
	// point at (RocksDB keeps a pointer to it), set for ranges with a far
	// bound; freed after the iterator.
	ro      *grocksdb.ReadOptions
	bound   []byte
	from    []byte
	to      []byte
	prefix  []byte
	reverse bool
	started bool
	done    bool
	err     error
	// key and value are the current entry and cur says there is one; only
	// Next writes them (from the iterating goroutine) and Close never
	// does, so the entry Next reached stays readable, whole, until the next
	// Next even if the store closes meanwhile; that Next returns false.
	key, value []byte
	cur        bool
}

func (i *iter) Next() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cur = false
	if i.done || i.it == nil {
		return false
	}
	switch {
	case i.started && i.reverse:
		i.it.Prev()
	case i.started:
		i.it.Next()
	case i.reverse && i.to != nil:
		i.it.SeekForPrev(i.to)
	case i.reverse:
		i.it.SeekToLast()
	case i.from != nil:
		i.it.Seek(i.from)
	default:
		i.it.SeekToFirst()
	}
	i.started = true
	if !i.it.Valid() {
		if err := i.it.Err(); err != nil {
			i.err = fmt.Errorf("rocksdb: store %q: iterate: %w", i.s.name, err)
		}
		i.done = true
		return false
	}
	k := i.it.Key().Data()
	switch {
	case i.prefix != nil && !bytes.HasPrefix(k, i.prefix),
		!i.reverse && i.to != nil && bytes.Compare(k, i.to) > 0,
		i.reverse && i.from != nil && bytes.Compare(k, i.from) < 0:
		i.done = true
		return false
	}
	i.key = copyInto(i.key, k)
	i.value = copyInto(i.value, i.it.Value().Data())
	i.cur = true
	return true
}

// copyInto copies src into buf's storage and returns it: never nil, so an
// empty key or value stays present (non-nil).
func copyInto(buf, src []byte) []byte {
	if buf == nil {
		buf = make([]byte, 0, max(len(src), 32))
	}
	return append(buf[:0], src...)
}

func (i *iter) Key() []byte {
	if !i.cur {
		return nil
	}
	return i.key
}

func (i *iter) Value() []byte {
	if !i.cur {
		return nil
	}
	return i.value
}

func (i *iter) Err() error { return i.err }

func (i *iter) Close() error {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	i.closeLocked()
	if i.s.iters != nil {
		delete(i.s.iters, i)
	}
	return nil
}

// closeLocked frees the C iterator; the store's lock is held.
func (i *iter) closeLocked() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it != nil {
		i.it.Close()
		i.it = nil
	}
	if i.ro != nil {
		i.ro.Destroy()
		i.ro = nil
	}
	i.done = true
}
