// See memory_shim.h. Built by cgo with the package (memory.go).
#include "memory_shim.h"

#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

namespace {

// The layouts of the C API's rocksdb_options_t and
// rocksdb_block_based_table_options_t: RocksDB's db/c.cc defines each as a
// struct whose only member, rep, is the C++ options value. The C API gives
// no way to set a write-buffer manager or a cache built with options, so
// this file reaches rep the same way c.cc does.
struct OptionsHandle {
  rocksdb::Options rep;
};
struct TableOptionsHandle {
  rocksdb::BlockBasedTableOptions rep;
};

}  // namespace

struct millrace_memory_t {
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> wbm;
};

extern "C" {

millrace_memory_t* millrace_memory_create(size_t cache_bytes, int shard_bits, size_t write_buffer_bytes,
                                          double high_pri_ratio, char** err) {
  try {
    rocksdb::LRUCacheOptions co;
    co.capacity = cache_bytes;
    co.num_shard_bits = shard_bits;
    // Not strict: RocksDB fails reads and writes at the limit when the
    // cache also holds the write buffers (RocksDB issue 6247).
    co.strict_capacity_limit = false;
    co.high_pri_pool_ratio = high_pri_ratio;
    auto m = std::make_unique<millrace_memory_t>();
    m->cache = rocksdb::NewLRUCache(co);
    if (m->cache == nullptr) {
      *err = strdup("RocksDB refused the cache options");
      return nullptr;
    }
    m->wbm = std::make_shared<rocksdb::WriteBufferManager>(write_buffer_bytes, m->cache, false);
    return m.release();
  } catch (const std::exception& e) {
    *err = strdup(e.what());
  } catch (...) {
    *err = strdup("unknown C++ exception");
  }
  return nullptr;
}

void millrace_memory_apply(millrace_memory_t* m, void* options, void* table_options) {
  auto* opts = static_cast<OptionsHandle*>(options);
  auto* table = static_cast<TableOptionsHandle*>(table_options);
  opts->rep.write_buffer_manager = m->wbm;
  table->rep.block_cache = m->cache;
  table->rep.cache_index_and_filter_blocks = true;
  table->rep.cache_index_and_filter_blocks_with_high_priority = true;
  table->rep.pin_top_level_index_and_filter = true;
}

size_t millrace_memory_cache_capacity(millrace_memory_t* m) { return m->cache->GetCapacity(); }
size_t millrace_memory_cache_usage(millrace_memory_t* m) { return m->cache->GetUsage(); }
size_t millrace_memory_cache_pinned_usage(millrace_memory_t* m) { return m->cache->GetPinnedUsage(); }
size_t millrace_memory_write_buffer_usage(millrace_memory_t* m) { return m->wbm->memory_usage(); }
size_t millrace_memory_write_buffer_limit(millrace_memory_t* m) { return m->wbm->buffer_size(); }

void millrace_memory_destroy(millrace_memory_t* m) { delete m; }

}  // extern "C"
