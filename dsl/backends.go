package dsl

import (
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

// The stores' backends, chosen once per operator: the default persistent
// backend unless the InMemory option is given. Every store the DSL builds
// takes its backend from here. The default is RocksDB
// (backends_rocksdb.go); built with the millrace_norocksdb tag it is the
// in-memory backend (backends_memory.go), and RocksDB is not linked.

func (o *options) keyValueBackend() window.KeyValueBackend {
	if o.inMemory {
		return store.InMemoryKeyValue
	}
	return defaultKeyValueBackend
}

func (o *options) windowBackend() window.WindowBackend {
	if o.inMemory {
		return store.InMemoryWindow
	}
	return defaultWindowBackend
}

func (o *options) sessionBackend() window.SessionBackend {
	if o.inMemory {
		return store.InMemorySession
	}
	return defaultSessionBackend
}
