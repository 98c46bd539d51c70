//go:build !millrace_norocksdb

package dsl

import (
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

// DefaultBackend names the backend of the stores the DSL builds without
// InMemory: "rocksdb" by default, "memory" when built with the
// millrace_norocksdb tag.
const DefaultBackend = "rocksdb"

// The default backends: RocksDB, through cgo and librocksdb.
var (
	defaultKeyValueBackend window.KeyValueBackend = rocksdb.KeyValue
	defaultWindowBackend   window.WindowBackend   = rocksdb.Window
	defaultSessionBackend  window.SessionBackend  = rocksdb.Session
)
