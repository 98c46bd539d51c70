package store

// DBProperties are a persistent backend's figures about its memory and its
// background work: RocksDB's properties of the same names (Kafka Streams
// reports them as the RocksDB metrics of a store). A store made of several
// instances (the segments of a window or session store) reports their sum,
// and the largest of them for NumImmutableMemTables.
type DBProperties struct {
	// Instances is how many database instances were read.
	Instances int
	// SizeAllMemTables: rocksdb.size-all-mem-tables, the bytes of the
	// active, unflushed immutable and pinned memtables.
	SizeAllMemTables uint64
	// CurSizeAllMemTables: rocksdb.cur-size-all-mem-tables, the bytes of
	// the active and unflushed immutable memtables.
	CurSizeAllMemTables uint64
	// NumImmutableMemTables: rocksdb.num-immutable-mem-table.
	NumImmutableMemTables uint64
	// BlockCacheCapacity, BlockCacheUsage and BlockCachePinnedUsage:
	// rocksdb.block-cache-capacity, -usage and -pinned-usage, in bytes; 0
	// for a store on a shared memory budget (the budget reports its cache
	// once: streams.Metrics.StoreMemory).
	BlockCacheCapacity, BlockCacheUsage, BlockCachePinnedUsage uint64
	// EstimateNumKeys: rocksdb.estimate-num-keys.
	EstimateNumKeys uint64
	// EstimateTableReadersMem: rocksdb.estimate-table-readers-mem, the
	// bytes index and filter blocks take outside the block cache.
	EstimateTableReadersMem uint64
	// TotalSSTFilesSize and LiveSSTFilesSize: rocksdb.total-sst-files-size
	// and rocksdb.live-sst-files-size, in bytes.
	TotalSSTFilesSize, LiveSSTFilesSize uint64
	// EstimatePendingCompactionBytes: rocksdb.estimate-pending-compaction-bytes.
	EstimatePendingCompactionBytes uint64
	// CompactionPending: rocksdb.compaction-pending (1 when a compaction
	// is pending; summed over instances).
	CompactionPending uint64
	// NumRunningCompactions and NumRunningFlushes:
	// rocksdb.num-running-compactions and rocksdb.num-running-flushes.
	NumRunningCompactions, NumRunningFlushes uint64
}

// Add adds o's figures to p (NumImmutableMemTables keeps the larger).
func (p *DBProperties) Add(o DBProperties) {
	p.Instances += o.Instances
	p.SizeAllMemTables += o.SizeAllMemTables
	p.CurSizeAllMemTables += o.CurSizeAllMemTables
	p.NumImmutableMemTables = max(p.NumImmutableMemTables, o.NumImmutableMemTables)
	p.BlockCacheCapacity += o.BlockCacheCapacity
	p.BlockCacheUsage += o.BlockCacheUsage
	p.BlockCachePinnedUsage += o.BlockCachePinnedUsage
	p.EstimateNumKeys += o.EstimateNumKeys
	p.EstimateTableReadersMem += o.EstimateTableReadersMem
	p.TotalSSTFilesSize += o.TotalSSTFilesSize
	p.LiveSSTFilesSize += o.LiveSSTFilesSize
	p.EstimatePendingCompactionBytes += o.EstimatePendingCompactionBytes
	p.CompactionPending += o.CompactionPending
	p.NumRunningCompactions += o.NumRunningCompactions
	p.NumRunningFlushes += o.NumRunningFlushes
}

// DBPropertyReader is implemented by byte stores whose backend reports
// DBProperties (store/rocksdb's, and the segmented stores over them). It is
// safe from any goroutine, while the store is used, and after it closed:
// ok is then false.
type DBPropertyReader interface {
	DBProperties() (p DBProperties, ok bool)
}

// StoreMetrics is what ReadMetrics found about one store.
type StoreMetrics struct {
	// Name of the store.
	Name string
	// Cached: the store has a write-back cache, whose counters are Cache.
	Cached bool
	Cache  CacheStats
	// HasDB: the store's backend reports DBProperties.
	HasDB bool
	DB    DBProperties
	// ExpiredDrops counts the writes a window or session store dropped
	// because their window had expired (Kafka Streams'
	// expired-window-record-drop); 0 for other stores.
	ExpiredDrops int64
}

// ReadMetrics reads the counters of s's cache and the properties of its
// backend, walking its layers. It is safe from any goroutine while the
// store's task uses it (the cache's counters are read under its lock, a
// backend's properties through DBPropertyReader), and costs nothing on the
// store's own path. A store this package did not build reports its name
// only.
func ReadMetrics(s StateStore) StoreMetrics {
	if s == nil {
		return StoreMetrics{}
	}
	m := StoreMetrics{Name: s.Name()}
	if e, ok := s.(interface{ ExpiredDrops() int64 }); ok {
		m.ExpiredDrops = e.ExpiredDrops()
	}
	var b any = s
	for b != nil {
		switch x := b.(type) {
		case *cachedKV:
			m.Cached, m.Cache = true, x.stats()
		case DBPropertyReader:
			if p, ok := x.DBProperties(); ok {
				m.HasDB, m.DB = true, p
			}
			return m
		}
		switch x := b.(type) {
		case interface{ Inner() KeyValueBytes }:
			b = x.Inner()
		case interface{ Unwrap() KeyValueBytes }:
			b = x.Unwrap()
		default:
			b = nil
		}
	}
	return m
}

// DBProperties sums the properties of the segments whose backend reports
// them; ok is false when none does (in-memory segments) or the store is
// closed.
func (s *segmentedKV) DBProperties() (DBProperties, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.check() != nil {
		return DBProperties{}, false
	}
	var out DBProperties
	found := false
	for _, seg := range s.segs {
		if r, ok := seg.(DBPropertyReader); ok {
			if p, ok := r.DBProperties(); ok {
				out.Add(p)
				found = true
			}
		}
	}
	return out, found || s.sup.Persistent() && len(s.segs) == 0
}
