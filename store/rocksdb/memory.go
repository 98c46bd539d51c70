package rocksdb

/*
#cgo CXXFLAGS: -std=c++17 -O2
#cgo LDFLAGS: -lrocksdb -lstdc++
#include <stdlib.h>
#include "memory_shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/linxGnu/grocksdb"
)

// Defaults and limits of a MemoryConfig.
const (
	// DefaultWriteBufferRatio is the share of a Memory's budget that the
	// write buffers of all its stores may take (Kafka Streams' bounded
	// memory example gives them half as well).
	DefaultWriteBufferRatio = 0.5
	// DefaultHighPriorityRatio is the share of the cache kept for index and
	// filter blocks: they cost about 1.25 bytes per key (the bloom filter)
	// plus 0.5% of the data (the index), so a tenth of the cache holds
	// those of a data set several times the budget.
	DefaultHighPriorityRatio = 0.1
	// MinMemoryBytes is the smallest budget NewMemory accepts: RocksDB
	// charges write buffers to the cache in 256 KiB entries and splits the
	// cache into shards of at least 512 KiB, so smaller budgets are mostly
	// rounding.
	MinMemoryBytes = 16 << 20
)

// MemoryConfig sizes a Memory.
type MemoryConfig struct {
	// TotalBytes is the budget: the capacity of the one block cache the
	// stores share, which also holds their index and filter blocks and is
	// charged for their write buffers. At least MinMemoryBytes.
	TotalBytes int64
	// WriteBufferRatio is the share of TotalBytes the write buffers
	// (memtables) of all the stores may take before RocksDB flushes one;
	// in (0, 1), 0 means DefaultWriteBufferRatio.
	WriteBufferRatio float64
	// HighPriorityRatio is the share of the cache where index and filter
	// blocks are kept ahead of data blocks; in (0, 1), 0 means
	// DefaultHighPriorityRatio.
	HighPriorityRatio float64
}

// withDefaults fills the zero ratios and reports every problem at once.
func (c MemoryConfig) withDefaults() (MemoryConfig, error) {
	if c.WriteBufferRatio == 0 {
		c.WriteBufferRatio = DefaultWriteBufferRatio
	}
	if c.HighPriorityRatio == 0 {
		c.HighPriorityRatio = DefaultHighPriorityRatio
	}
	var errs []error
	if c.TotalBytes < MinMemoryBytes {
		errs = append(errs, fmt.Errorf("rocksdb: memory budget TotalBytes %d is below the minimum %d (16 MiB)", c.TotalBytes, MinMemoryBytes))
	}
	if !(c.WriteBufferRatio > 0 && c.WriteBufferRatio < 1) {
		errs = append(errs, fmt.Errorf("rocksdb: memory budget WriteBufferRatio %v is not between 0 and 1", c.WriteBufferRatio))
	}
	if !(c.HighPriorityRatio > 0 && c.HighPriorityRatio < 1) {
		errs = append(errs, fmt.Errorf("rocksdb: memory budget HighPriorityRatio %v is not between 0 and 1", c.HighPriorityRatio))
	}
	return c, errors.Join(errs...)
}

// Memory is one memory budget shared by many RocksDB stores, Kafka
// Streams' bounded-memory setup: a single LRU block cache of TotalBytes
// that holds the stores' data blocks and their index and filter blocks
// (with high priority, top-level ones pinned), and a single write-buffer
// manager that charges every store's memtables to that cache and flushes
// one when they pass WriteBufferRatio of it. RocksDB's memory then stays
// near TotalBytes however many stores, partitions and segments there are;
// per store, only the options (block size, write buffer size) apply.
//
// A store uses a Memory set in its Config, or the one attached to a
// directory it opens under (Attach); a streams.App attaches one to its
// state directory (Config.StoreMemoryBytes).
//
// The cache's capacity is not strict: RocksDB cannot fail reads at the
// limit while write buffers are charged to the cache (its issue 6247), so
// the usage may pass TotalBytes briefly, by what is pinned at that moment.
//
// A Memory is safe for concurrent use. Close may come before the stores
// using it close: the C objects are freed after the last of them.
type Memory struct {
	cfg MemoryConfig
	// c is set by NewMemory and cleared when refs reaches 0; a holder of a
	// reference may read it without mu.
	c *C.millrace_memory_t

	mu     sync.Mutex
	refs   int // the creator's, until Close, and one per open store
	stores int
	closed bool
}

// NewMemory creates a budget. Close it when done; stores still open keep
// it alive until they close.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := grocksdbHandlesReachable(); err != nil {
		return nil, err
	}
	var cerr *C.char
	cache := C.size_t(cfg.TotalBytes)
	wb := C.size_t(float64(cfg.TotalBytes) * cfg.WriteBufferRatio)
	c := C.millrace_memory_create(cache, C.int(shardBits(cfg.TotalBytes)), wb, C.double(cfg.HighPriorityRatio), &cerr)
	if c == nil {
		msg := C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
		return nil, fmt.Errorf("rocksdb: memory budget of %d bytes: %s", cfg.TotalBytes, msg)
	}
	return &Memory{cfg: cfg, c: c, refs: 1}, nil
}

// sharedArenaBlockBytes is the arena block of a store on a Memory. A
// memtable takes memory in arena blocks, write_buffer_size / 8 (2 MiB) by
// default, and the write-buffer manager counts the blocks, not what they
// hold: 32 stores with a few keys each would count 64 MiB and keep the
// manager over its limit, flushing a memtable on every write. 64 KiB
// blocks count 2 MiB for them, and cost one allocation per ~400 entries.
const sharedArenaBlockBytes = 64 << 10

// minShardBytes is the smallest shard of a Memory's cache. Each shard
// keeps its own share of the capacity, and the write buffers are charged
// to it in pinned 256 KiB entries spread over the shards by hash: in
// RocksDB's default 512 KiB shards (below 32 MiB of budget) a few land in
// one shard and hold it over its share, so the cache as a whole runs over
// its capacity. 4 MiB shards keep that small; from 256 MiB of budget on it
// is RocksDB's own choice (64 shards).
const minShardBytes = 4 << 20

// shardBits returns log2 of the cache's shard count: shards of at least
// minShardBytes, at most 64 of them.
func shardBits(total int64) int {
	bits := 0
	for bits < 6 && total>>(bits+1) >= minShardBytes {
		bits++
	}
	return bits
}

// Config returns the budget's configuration, defaults filled in.
func (m *Memory) Config() MemoryConfig { return m.cfg }

// MemoryStats is a snapshot of a Memory.
type MemoryStats struct {
	// CapacityBytes is the cache's capacity, the budget.
	CapacityBytes int64
	// UsedBytes is what the cache holds: data, index and filter blocks,
	// and the write buffers charged to it.
	UsedBytes int64
	// PinnedBytes is the part of UsedBytes that cannot be evicted now
	// (write buffers, blocks that readers hold).
	PinnedBytes int64
	// WriteBufferBytes is the memory of every store's memtables, and
	// WriteBufferLimitBytes the limit past which RocksDB flushes one.
	WriteBufferBytes, WriteBufferLimitBytes int64
	// Stores is the number of open stores using the budget.
	Stores int
}

// Stats returns the budget's figures; zero after Close once its last
// store closed. Safe from any goroutine.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == nil {
		return MemoryStats{}
	}
	return MemoryStats{
		CapacityBytes:         int64(C.millrace_memory_cache_capacity(m.c)),
		UsedBytes:             int64(C.millrace_memory_cache_usage(m.c)),
		PinnedBytes:           int64(C.millrace_memory_cache_pinned_usage(m.c)),
		WriteBufferBytes:      int64(C.millrace_memory_write_buffer_usage(m.c)),
		WriteBufferLimitBytes: int64(C.millrace_memory_write_buffer_limit(m.c)),
		Stores:                m.stores,
	}
}

// Close detaches the budget from the directories it was attached to and
// gives up the creator's hold on it: it is freed now if no store uses it,
// else when the last one closes. Stores cannot start using it after
// Close. Idempotent; it returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		m.releaseLocked()
	}
	m.mu.Unlock()
	// After closed is set: an Attach from now on fails, and one that
	// came before is undone here.
	detachAll(m)
	return nil
}

// acquire takes a store's hold on the budget; false once it is closed.
func (m *Memory) acquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.refs++
	m.stores++
	return true
}

// release gives up a store's hold.
func (m *Memory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stores--
	m.releaseLocked()
}

func (m *Memory) releaseLocked() {
	m.refs--
	if m.refs == 0 && m.c != nil {
		// The options and databases of the stores hold references of
		// their own; this frees only the budget's.
		C.millrace_memory_destroy(m.c)
		m.c = nil
	}
}

// apply puts the shared cache and write-buffer manager on a store's
// options, before the table factory is made from them. The caller holds
// a reference.
func (m *Memory) apply(opts *grocksdb.Options, table *grocksdb.BlockBasedTableOptions) error {
	o, err := cHandle(opts)
	if err != nil {
		return err
	}
	t, err := cHandle(table)
	if err != nil {
		return err
	}
	C.millrace_memory_apply(m.c, o, t)
	return nil
}

// cHandle returns the C pointer that a grocksdb options value wraps (its
// field c). grocksdb exports no accessor, and its C API has no way to set
// a write-buffer manager, so the shim is handed the pointer. The version
// is pinned (go.mod), and a changed layout is an error here, never a
// wrong pointer.
func cHandle(v any) (unsafe.Pointer, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("rocksdb: %T is not a grocksdb options value", v)
	}
	f := rv.Elem().FieldByName("c")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, fmt.Errorf("rocksdb: %T has no C handle in field c: grocksdb's layout differs from v1.7.15's, which the memory budget needs", v)
	}
	return f.UnsafePointer(), nil
}

var (
	handlesOnce sync.Once
	handlesErr  error
)

// grocksdbHandlesReachable checks once that cHandle works on the linked
// grocksdb, so NewMemory fails rather than the stores' Init.
func grocksdbHandlesReachable() error {
	handlesOnce.Do(func() {
		opts := grocksdb.NewDefaultOptions()
		defer opts.Destroy()
		table := grocksdb.NewDefaultBlockBasedTableOptions()
		defer table.Destroy()
		if _, err := cHandle(opts); err != nil {
			handlesErr = err
			return
		}
		_, handlesErr = cHandle(table)
	})
	return handlesErr
}

// holdMemory takes the store's hold on its budget: Config.Memory, or the
// one attached to a directory above stateDir. The caller holds s.mu.
func (s *kv) holdMemory(stateDir string) error {
	if m := s.cfg.Memory; m != nil {
		if !m.acquire() {
			return fmt.Errorf("rocksdb: store %q: its Config.Memory budget is closed", s.name)
		}
		s.mem = m
		return nil
	}
	s.mem = acquireScoped(stateDir)
	return nil
}

// releaseMemory gives up the store's hold, after its database and options
// are freed. The caller holds s.mu.
func (s *kv) releaseMemory() {
	if s.mem != nil {
		s.mem.release()
		s.mem = nil
	}
}
