//go:build millrace_norocksdb

package streams

// MinStoreMemoryBytes is the smallest positive Config.StoreMemoryBytes.
const MinStoreMemoryBytes = 16 << 20

// openStoreMemory makes nothing: this build links no RocksDB.
func openStoreMemory(*Config, string) (*storeMemory, error) { return nil, nil }
