package window

import (
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// WindowBackend makes the byte layer of a window store: store.InMemoryWindow
// or rocksdb.Window. Every function here that takes a backend reads nil as
// the in-memory one (store.InMemoryWindow, store.InMemorySession,
// store.InMemoryKeyValue).
type WindowBackend func(name string, retention, windowSize time.Duration, retainDuplicates bool) store.WindowBytesSupplier

// SessionBackend makes the byte layer of a session store:
// store.InMemorySession or rocksdb.Session.
type SessionBackend func(name string, retention time.Duration) store.SessionBytesSupplier

// KeyValueBackend makes the byte layer of a key-value store:
// store.InMemoryKeyValue or rocksdb.KeyValue.
type KeyValueBackend func(name string) store.KeyValueBytesSupplier

func (b WindowBackend) orInMemory() WindowBackend {
	if b == nil {
		return store.InMemoryWindow
	}
	return b
}

func (b SessionBackend) orInMemory() SessionBackend {
	if b == nil {
		return store.InMemorySession
	}
	return b
}

func (b KeyValueBackend) orInMemory() KeyValueBackend {
	if b == nil {
		return store.InMemoryKeyValue
	}
	return b
}

// TimeWindowStore returns the builder of the store an Aggregate (Count,
// Reduce) over w needs: a cached, changelogged window store of aggregates
// with their latest record timestamp, keeping windows for size + grace.
func TimeWindowStore[K, VA any](backend WindowBackend, name string, w TimeWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.WindowBuilder[K, store.ValueAndTimestamp[VA]] {
	sup := backend.orInMemory()(name, w.Retention(), msDuration(w.size), false)
	return store.NewWindowBuilder(sup, keys, timestamped(aggs)).WithCaching()
}

// timestamped is store.TimestampedSerde, nil for a nil serde so that the
// store builder reports it as missing.
func timestamped[V any](values record.Serde[V]) record.Serde[store.ValueAndTimestamp[V]] {
	if values == nil {
		return nil
	}
	return store.TimestampedSerde(values)
}

// SlidingWindowStore returns the builder of the store AggregateSliding
// needs; windows have size timeDifference (inclusive at both ends).
func SlidingWindowStore[K, VA any](backend WindowBackend, name string, w SlidingWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.WindowBuilder[K, store.ValueAndTimestamp[VA]] {
	sup := backend.orInMemory()(name, w.Retention(), msDuration(w.diff), false)
	return store.NewWindowBuilder(sup, keys, timestamped(aggs)).WithCaching()
}

// SessionStore returns the builder of the store AggregateSessions needs: a
// cached, changelogged session store keeping sessions for gap + grace after
// they end.
func SessionStore[K, VA any](backend SessionBackend, name string, w SessionWindows, keys record.Serde[K], aggs record.Serde[VA]) *store.SessionBuilder[K, VA] {
	return store.NewSessionBuilder(backend.orInMemory()(name, w.Retention()), keys, aggs).WithCaching()
}
