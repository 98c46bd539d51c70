package rocksdb

/*
#include "memtable_shim.h"
*/
import "C"

import "github.com/linxGnu/grocksdb"

// hintInserts has the memtables of a store opened with opts insert each key
// starting from where the previous insert went, rather than from the top
// of the skip list.
//
// A cache flush writes its batch sorted by key (store.cachedKV), and every
// key of a batch but the first lands a few entries past the one before it:
// past the older versions of the previous key that the memtable holds, one
// per commit since the last memtable flush. RocksDB's own sequential-insert
// shortcut gives up as soon as the new key is not right next to the last
// one and searches from the top; with the hint it climbs only as far as it
// needs. The order of the memtable, and so every read, is unchanged.
func hintInserts(opts *grocksdb.Options) error {
	o, err := cHandle(opts)
	if err != nil {
		return err
	}
	C.millrace_memtable_hint_inserts(o)
	return nil
}
