package rocksdb_test

import (
	"testing"

	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/storetest"
)

func TestRocksDBBackendPassesConformanceSuite(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Name:     "rocksdb",
		KeyValue: rocksdb.KeyValue,
		Window:   rocksdb.Window,
		Session:  rocksdb.Session,
	})
}
