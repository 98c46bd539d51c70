//go:build cgo && !millrace_norocksdb

package window_test

import (
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

// RocksDB joins the backends the tests and benchmarks run on when it can
// be linked (cgo and librocksdb).
func init() {
	timeBackends = append(timeBackends, struct {
		name     string
		windows  window.WindowBackend
		sessions window.SessionBackend
		kv       window.KeyValueBackend
	}{"rocksdb", rocksdb.Window, rocksdb.Session, rocksdb.KeyValue})
	benchWindowBackends = append([]struct {
		name    string
		windows window.WindowBackend
		kv      window.KeyValueBackend
	}{{"rocksdb", rocksdb.Window, rocksdb.KeyValue}}, benchWindowBackends...)
}
