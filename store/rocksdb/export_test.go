package rocksdb

import "github.com/millrace/millrace/store"

// IntProperty reads a RocksDB integer property of an open store built by
// this package; false for any other store, or one not open.
func IntProperty(st store.KeyValueBytes, name string) (uint64, bool) {
	s, ok := st.(*kv)
	if !ok {
		return 0, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.check() != nil {
		return 0, false
	}
	return s.db.GetIntProperty(name)
}
