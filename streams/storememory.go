package streams

// DefaultStoreMemoryBytes is the RocksDB memory budget of an App whose
// Config.StoreMemoryBytes is 0: one block cache of 256 MiB, charged for
// the write buffers too (up to half of it), shared by all the App's
// RocksDB stores. Measured with 32 stores holding 1 M keys written three
// times (docs/operations.md, "Sizing memory"), it holds the peak RSS to
// half the per-store defaults', and its cache holds that 110 MB data set,
// so reads are no slower; the defaults' worst case is 98 MiB per store.
const DefaultStoreMemoryBytes = 256 << 20

// storeMemoryBytes resolves Config.StoreMemoryBytes: the budget, or 0 for
// a cache and write buffers per store.
func storeMemoryBytes(n int64) int64 {
	switch {
	case n == 0:
		return DefaultStoreMemoryBytes
	case n < 0:
		return 0
	}
	return n
}

// storeMemory is the App's shared RocksDB budget while it runs, attached
// to its state directory so every RocksDB store of its tasks and global
// stores (built by the DSL or by hand) uses it; see rocksdb.Memory. The
// build-tagged openStoreMemory makes it (storememory_rocksdb.go), or
// nothing under millrace_norocksdb, where no RocksDB is linked.
type storeMemory struct {
	release func()
	stats   func() StoreMemoryMetrics
}

// StoreMemoryMetrics is the App's shared RocksDB budget
// (Config.StoreMemoryBytes) as Metrics reports it: the one block cache every
// store uses, and the write buffers charged to it.
type StoreMemoryMetrics struct {
	// CapacityBytes is the budget; UsedBytes what the cache holds (data,
	// index and filter blocks, and the write buffers charged to it);
	// PinnedBytes the part that cannot be evicted now.
	CapacityBytes, UsedBytes, PinnedBytes int64
	// WriteBufferBytes is the memory of every store's memtables;
	// WriteBufferLimitBytes the level past which RocksDB flushes one.
	WriteBufferBytes, WriteBufferLimitBytes int64
	// Stores is the number of open RocksDB instances on the budget.
	Stores int
}

// close gives up the App's hold: the budget is freed once the last store
// on it closed (a store of a task given up on may close later). Nil-safe.
func (s *storeMemory) close() {
	if s != nil && s.release != nil {
		s.release()
		s.release = nil
	}
}
