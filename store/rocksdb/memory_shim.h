// A C interface to the parts of RocksDB's C++ API that its C API (7.8)
// lacks: an LRU cache with a high-priority pool, and a write-buffer
// manager charged to that cache. See memory.go.
#ifndef MILLRACE_MEMORY_SHIM_H
#define MILLRACE_MEMORY_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct millrace_memory_t millrace_memory_t;

// millrace_memory_create returns a cache of cache_bytes in 2^shard_bits
// shards whose high-priority pool is high_pri_ratio of it, and a
// write-buffer manager limiting all memtables to write_buffer_bytes,
// charged to that cache; NULL, with a message in *err (free it with free),
// if RocksDB refuses.
millrace_memory_t* millrace_memory_create(size_t cache_bytes, int shard_bits, size_t write_buffer_bytes,
                                          double high_pri_ratio, char** err);

// millrace_memory_apply sets the cache and the write-buffer manager on a C
// API rocksdb_options_t and rocksdb_block_based_table_options_t, and has
// index and filter blocks cached in it with high priority, top-level ones
// pinned. The options hold their own references: m may be destroyed
// while they, or databases opened with them, live.
void millrace_memory_apply(millrace_memory_t* m, void* options, void* table_options);

size_t millrace_memory_cache_capacity(millrace_memory_t* m);
size_t millrace_memory_cache_usage(millrace_memory_t* m);
size_t millrace_memory_cache_pinned_usage(millrace_memory_t* m);
size_t millrace_memory_write_buffer_usage(millrace_memory_t* m);
size_t millrace_memory_write_buffer_limit(millrace_memory_t* m);

// millrace_memory_destroy drops m's references to the cache and the
// write-buffer manager; they are freed with the last options or database
// that holds them.
void millrace_memory_destroy(millrace_memory_t* m);

#ifdef __cplusplus
}
#endif

#endif
