// See memtable_shim.h. Built by cgo with the package (memtable.go).
#include "memtable_shim.h"

#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>

namespace {

// The C API's rocksdb_options_t, as db/c.cc defines it (see
// memory_shim.cc).
struct MemtableOptionsHandle {
  rocksdb::Options rep;
};

}  // namespace

extern "C" {

void millrace_memtable_hint_inserts(void* options) {
  auto* opts = static_cast<MemtableOptionsHandle*>(options);
  // A prefix of length 0: every key has the empty prefix, so the memtable
  // keeps a single hint (a splice, ~250 bytes) rather than one per key.
  opts->rep.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
}

}  // extern "C"
