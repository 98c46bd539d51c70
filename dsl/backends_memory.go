//go:build millrace_norocksdb

package dsl

import (
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// DefaultBackend names the backend of the stores the DSL builds without
// InMemory: "rocksdb" by default, "memory" when built with the
// millrace_norocksdb tag.
const DefaultBackend = "memory"

// The default backends under millrace_norocksdb: in memory, so a program
// that uses the DSL links no RocksDB and builds without cgo. The
// changelogs still make the stores durable; an App restores them from
// their changelogs at every start.
var (
	defaultKeyValueBackend window.KeyValueBackend = store.InMemoryKeyValue
	defaultWindowBackend   window.WindowBackend   = store.InMemoryWindow
	defaultSessionBackend  window.SessionBackend  = store.InMemorySession
)
