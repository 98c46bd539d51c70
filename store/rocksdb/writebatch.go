package rocksdb

/*
#include <stdlib.h>
#include <rocksdb/c.h>

// millrace_write_batch writes the serialized batch rep to db in one call,
// with RocksDB's per-thread perf counters off on the calling thread (see
// writeBatch); it returns RocksDB's error message, or NULL.
static char* millrace_write_batch(rocksdb_t* db, rocksdb_writeoptions_t* wo, const char* rep, size_t len) {
	rocksdb_set_perf_level(rocksdb_disable);
	rocksdb_writebatch_t* wb = rocksdb_writebatch_create_from(rep, len);
	char* err = NULL;
	rocksdb_write(db, wo, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return err;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/millrace/millrace/store"
)

// The serialized form of a RocksDB write batch: what rocksdb::WriteBatch
// holds as its rep, writes to the write-ahead log, and takes back through
// the C API's rocksdb_writebatch_create_from. As write_batch.cc defines it:
//
//	batch  := sequence (fixed64) count (fixed32) record*
//	record := 0x01 varint32(len) key varint32(len) value   a put
//	        | 0x00 varint32(len) key                       a delete
//
// all in the default column family; the sequence is assigned at the write.
// The format is the write-ahead log's, which RocksDB keeps readable across
// versions; TestEncodedWriteBatchIsRocksDBsOwn checks it byte for byte
// against batches RocksDB builds.
const (
	batchHeaderBytes = 12
	batchTypeDelete  = 0x00
	batchTypePut     = 0x01
)

// writeBatch writes entries (a nil value deletes) to the store's database
// in one cgo call: encoded here, the batch crosses into RocksDB whole,
// instead of one call per entry to build it and three to write it.
//
// The call also turns RocksDB's perf context off on the thread it runs on.
// At its default level RocksDB counts, per thread, every key comparison of
// a memtable insert, and with a shared librocksdb each count reaches its
// thread-local counter through __tls_get_addr. Nothing reads these counts
// (Millrace's metrics come from DB properties and statistics), and not
// counting them takes about a quarter off a commit's time
// (BenchmarkCountThroughTask: commit-ns/rec 100 against 77).
func (s *kv) writeBatch(entries []store.Entry) error {
	rep, err := encodeWriteBatch(s.name, entries)
	if err != nil {
		return err
	}
	cerr := C.millrace_write_batch((*C.rocksdb_t)(s.cdb), (*C.rocksdb_writeoptions_t)(s.cwo),
		(*C.char)(unsafe.Pointer(&rep[0])), C.size_t(len(rep)))
	if cerr != nil {
		msg := C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
		return fmt.Errorf("rocksdb: store %q: write batch: %w", s.name, errors.New(msg))
	}
	return nil
}

// encodeWriteBatch serializes entries as a write batch. It names the store
// in its errors: a nil key, or a key or value RocksDB's 32-bit lengths
// cannot hold.
func encodeWriteBatch(name string, entries []store.Entry) ([]byte, error) {
	size := batchHeaderBytes
	for _, e := range entries {
		if e.Key == nil {
			return nil, fmt.Errorf("rocksdb: store %q: %w", name, store.ErrNullKey)
		}
		if len(e.Key) > math.MaxUint32 || len(e.Value) > math.MaxUint32 {
			return nil, fmt.Errorf("rocksdb: store %q: an entry of %d-byte key and %d-byte value is over RocksDB's 4 GiB limit", name, len(e.Key), len(e.Value))
		}
		size += 1 + binary.MaxVarintLen32 + len(e.Key)
		if e.Value != nil {
			size += binary.MaxVarintLen32 + len(e.Value)
		}
	}
	if len(entries) > math.MaxUint32 {
		return nil, fmt.Errorf("rocksdb: store %q: a batch of %d entries is over RocksDB's count limit", name, len(entries))
	}
	rep := make([]byte, batchHeaderBytes, size)
	binary.LittleEndian.PutUint32(rep[8:], uint32(len(entries)))
	for _, e := range entries {
		if e.Value == nil {
			rep = append(rep, batchTypeDelete)
			rep = binary.AppendUvarint(rep, uint64(len(e.Key)))
			rep = append(rep, e.Key...)
			continue
		}
		rep = append(rep, batchTypePut)
		rep = binary.AppendUvarint(rep, uint64(len(e.Key)))
		rep = append(rep, e.Key...)
		rep = binary.AppendUvarint(rep, uint64(len(e.Value)))
		rep = append(rep, e.Value...)
	}
	return rep, nil
}
