//go:build !millrace_norocksdb

package streams

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/millrace/millrace/store/rocksdb"
)

// MinStoreMemoryBytes is the smallest positive Config.StoreMemoryBytes.
const MinStoreMemoryBytes = rocksdb.MinMemoryBytes

// openStoreMemory creates the App's budget and attaches it to appDir, the
// application state directory, which the App holds locked: no other App
// can attach there meanwhile. Nil for per-store memory.
func openStoreMemory(cfg *Config, appDir string) (*storeMemory, error) {
	total := storeMemoryBytes(cfg.StoreMemoryBytes)
	if total == 0 {
		return nil, nil
	}
	m, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: total})
	if err != nil {
		return nil, fmt.Errorf("streams: StoreMemoryBytes: %w", err)
	}
	if err := m.Attach(appDir); err != nil {
		m.Close()
		return nil, fmt.Errorf("streams: StoreMemoryBytes: %w", err)
	}
	cfg.Logger.Debug("RocksDB stores share a memory budget", zap.Int64("bytes", total), zap.String("state_dir", appDir))
	return &storeMemory{release: func() { m.Close() }, stats: func() StoreMemoryMetrics {
		st := m.Stats()
		return StoreMemoryMetrics{CapacityBytes: st.CapacityBytes, UsedBytes: st.UsedBytes, PinnedBytes: st.PinnedBytes,
			WriteBufferBytes: st.WriteBufferBytes, WriteBufferLimitBytes: st.WriteBufferLimitBytes, Stores: st.Stores}
	}}, nil
}
