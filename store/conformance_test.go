package store_test

import (
	"testing"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/storetest"
)

func TestInMemoryBackendPassesConformanceSuite(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Name:     "memory",
		KeyValue: store.InMemoryKeyValue,
		Window:   store.InMemoryWindow,
		Session:  store.InMemorySession,
	})
}
