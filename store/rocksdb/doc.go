// Package rocksdb is the persistent backend of Millrace's state stores:
// key-value stores and the segments of window and session stores, each a
// RocksDB instance under <state-dir>/<application-id>/<task-id>/rocksdb/<store>
// (segments one level deeper, <store>/<store>.<segment-start>).
//
// Defaults are Kafka Streams' (RocksDBStore): a 50 MiB LRU block cache per
// store, 4 KiB blocks, a bloom filter of 10 bits per key, three write buffers
// of 16 MiB, no compression, universal compaction, and the write-ahead log
// off, because the changelog topic is the durable copy. Config.Configure
// changes anything before the store opens, like Kafka's RocksDBConfigSetter.
// (In-place memtable updates would make uncached read-modify-write about 45%
// faster, but RocksDB then refuses backward iteration, which window and
// session stores need, so they stay off.)
//
// Those defaults are per instance, so they multiply with stores ×
// partitions × segments. A Memory bounds them all: one LRU block cache of
// its budget, shared by the stores on it, holding their data, index and
// filter blocks (the latter with high priority), and one write-buffer
// manager charging their memtables to that cache, flushing one when they
// pass WriteBufferRatio of it (Kafka Streams' bounded-memory
// RocksDBConfigSetter, built in). A store uses Config.Memory, else the
// budget attached to a directory above its state directory (Attach; a
// streams.App attaches Config.StoreMemoryBytes to its application
// directory, so DSL-made and hand-built stores share it unasked), else
// its own cache and write buffers. On a budget a store's memtables grow in
// 64 KiB arena blocks rather than write_buffer_size / 8, which the write-
// buffer manager would count 2 MiB per store. RocksDB's C API (7.8) cannot
// set a write-buffer manager or a cache's high-priority pool, so a small
// C++ shim (memory_shim.cc) does, on the C handles of grocksdb's options
// (v1.7.15's layout, checked when a budget is made).
//
// Writes: a batch (a cache flush, a restoration batch, a single Put) is
// encoded in Go in RocksDB's write-batch format and written in one cgo
// call, which also turns RocksDB's perf context off on the calling thread
// (writebatch.go); and each memtable keeps one insert hint for all keys, so
// a batch sorted by key, as a cache flush's is, inserts each key from
// where the last one went rather than from the top of the skip list
// (memtable.go). Neither changes what is stored or how it is read.
//
// Flush (every commit) does not force memtables to disk; FlushToDisk does,
// and the runtime calls it before writing a checkpoint, as Kafka Streams
// flushes RocksDB when it checkpoints.
//
// Invariants:
//   - Every C object a store creates (options, table options, block cache,
//     filter, read and write options, iterators, pinned slices, the
//     database) is freed by Close; closing a store first closes the
//     iterators still open on it.
//   - A Memory is freed once, after its Close and the Close of the last
//     store on it, in any order: each store holds it from Init to Close,
//     and the databases and options hold RocksDB's own references to the
//     shared cache and write-buffer manager until they are freed. A store
//     finds an attached budget only when it opens; a budget being closed
//     is never handed to a new store.
//   - Stores are safe for concurrent use; Close waits for operations in
//     flight.
//   - Values returned by Get and Delete are Go copies. Iterators copy each
//     entry out of RocksDB as Next reaches it, under the lock Close takes:
//     Key and Value are Go memory, valid until the next Next (also when the
//     store closes meanwhile, from another goroutine; that Next returns
//     false), they never read a freed C iterator, and writing into them
//     cannot change what RocksDB holds.
//   - A store that cannot be opened (corrupt or unreadable files) fails
//     Init with an error naming the store and its directory and wrapping
//     store.ErrCorrupt; with Config.WipeCorrupt the files are deleted and
//     the store opens empty (Wiped reports it), so the runtime restores it
//     from its changelog.
//
// This package uses cgo and needs Debian's librocksdb-dev (RocksDB 7.8).
package rocksdb
