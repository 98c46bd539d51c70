//go:build cgo && !millrace_norocksdb

package store_test

import (
	"time"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// RocksDB joins the backends the tests run on when it can be linked (cgo
// and librocksdb).
func init() {
	timeBackends = append(timeBackends, struct {
		name    string
		window  func(string, time.Duration, time.Duration, bool) store.WindowBytesSupplier
		session func(string, time.Duration) store.SessionBytesSupplier
	}{"rocksdb", rocksdb.Window, rocksdb.Session})
}
