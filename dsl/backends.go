package dsl

import (
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

// The stores' backends, chosen once per operator: RocksDB unless the
// InMemory option is given. Every store the DSL builds takes its backend
// from here.

func (o *options) keyValueBackend() window.KeyValueBackend {
	if o.inMemory {
		return store.InMemoryKeyValue
	}
	return rocksdb.KeyValue
}

func (o *options) windowBackend() window.WindowBackend {
	if o.inMemory {
		return store.InMemoryWindow
	}
	return rocksdb.Window
}

func (o *options) sessionBackend() window.SessionBackend {
	if o.inMemory {
		return store.InMemorySession
	}
	return rocksdb.Session
}
