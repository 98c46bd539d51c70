// A C interface to a memtable option RocksDB's C API (7.8) lacks: the
// insert hint. See memtable.go.
#ifndef MILLRACE_MEMTABLE_SHIM_H
#define MILLRACE_MEMTABLE_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

// millrace_memtable_hint_inserts has a memtable built with the C API
// rocksdb_options_t options keep one insert hint for all keys: each insert
// starts its search from where the one before it went, which makes a
// batch sorted by key insert in about O(log d) comparisons per key (d the
// entries between two consecutive keys) instead of O(log n) (n the
// memtable's entries).
void millrace_memtable_hint_inserts(void* options);

#ifdef __cplusplus
}
#endif

#endif
