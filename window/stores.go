package window

import (
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// WindowBackend makes the byte layer of a window store: store.InMemoryWindow
// or rocksdb.Window.
type WindowBackend func(name string, retention, windowSize time.Duration, retainDuplicates bool) store.WindowBytesSupplier

// SessionBackend makes the byte layer of a session store:
// store.InMemorySession or rocksdb.Session.
type SessionBackend func(name string, retention time.Duration) store.SessionBytesSupplier

// KeyValueBackend makes the byte layer of a key-value store:
// store.InMemoryKeyValue or rocksdb.KeyValue.
type KeyValueBackend func(name string) store.KeyValueBytesSupplier

// TimeWindowStore returns the builder of the store an Aggregate (Count,
// Reduce) over w needs: a cached, changelogged window store of aggregates
// with their latest record timestamp, keeping windows for size + grace.
func TimeWindowStore[K, VA any](backend WindowBackend, name string, w TimeWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.WindowBuilder[K, store.ValueAndTimestamp[VA]] {
	sup := backend(name, w.Retention(), time.Duration(w.size)*time.Millisecond, false)
	return store.NewWindowBuilder(sup, keys, store.TimestampedSerde(aggs)).WithCaching()
}

// SlidingWindowStore returns the builder of the store AggregateSliding
// needs; windows have size timeDifference (inclusive at both ends).
func SlidingWindowStore[K, VA any](backend WindowBackend, name string, w SlidingWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.WindowBuilder[K, store.ValueAndTimestamp[VA]] {
	sup := backend(name, w.Retention(), time.Duration(w.diff)*time.Millisecond, false)
	return store.NewWindowBuilder(sup, keys, store.TimestampedSerde(aggs)).WithCaching()
}

// SessionStore returns the builder of the store AggregateSessions needs: a
// cached, changelogged session store keeping sessions for gap + grace after
// they end.
func SessionStore[K, VA any](backend SessionBackend, name string, w SessionWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.SessionBuilder[K, VA] {
	return store.NewSessionBuilder(backend(name, w.Retention()), keys, aggs).WithCaching()
}
