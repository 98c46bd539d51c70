package store

import (
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
)

var (
	// ErrNullKey is returned when a key serializes to null. Stores have no
	// null keys.
	ErrNullKey = errors.New("store: null key")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrNotOpen is returned by operations on a store before Init.
	ErrNotOpen = errors.New("store: not initialized")
	// ErrCorrupt is wrapped by the error of a persistent store whose files
	// cannot be opened (corrupt, unreadable, or not a store).
	ErrCorrupt = errors.New("store: corrupt or unreadable")
	// ErrChangelogWrite is wrapped, with the store's name and the
	// ChangelogWriter's error, by the error of a write (or a cache flush)
	// whose changelog record the writer refused. The write was not applied
	// to the local store (see the package doc), but the task must stop: a
	// runtime treats the error as fatal, never as a processing error that
	// a handler may skip.
	ErrChangelogWrite = errors.New("store: changelog write failed")
)

// lifecycleErr is the error of a call on a store that is not open: one
// wrapping ErrClosed after Close, ErrNotOpen before Init; nil while open.
func lifecycleErr(name string, open, closed bool) error {
	switch {
	case closed:
		return fmt.Errorf("store %q: %w", name, ErrClosed)
	case !open:
		return fmt.Errorf("store %q: %w", name, ErrNotOpen)
	}
	return nil
}

// InitContext is what a store learns about its task when it opens.
type InitContext struct {
	// TaskID names the task that owns the store, for example "0_3".
	TaskID string
	// ApplicationID is the application's id.
	ApplicationID string
	// StateDir is the task's state directory; empty for in-memory runs.
	StateDir string
	// Logger is the task's logger; never nil.
	Logger *zap.Logger
	// Cache is the instance's record cache; stores built WithCaching use
	// it. Nil gives each cached store a private DefaultCacheBytes cache.
	Cache *Cache
	// RecordTimestamp returns the timestamp of the record being processed
	// (or the punctuation time); caches stamp entries with it so flush
	// listeners can forward with the right time. Nil means 0.
	RecordTimestamp func() int64
	// Changelog receives the writes of logged stores; nil means no
	// changelogging (the test driver, or a runtime without one).
	Changelog ChangelogWriter
}

// ChangelogWriter sends store writes to the store's changelog topic. The
// runtime implements it per task: topic <application-id>-<store>-changelog,
// partition = the task's partition.
type ChangelogWriter interface {
	// Log records that key was set to value (nil: deleted) in store at
	// timestamp: the time of the record that made the write (for a cached
	// store, of the last write to the entry before the flush that logs
	// it, whenever that flush runs). Key and value are only valid during
	// the call.
	Log(store string, key, value []byte, timestamp int64) error
}

// Logged describes a store builder's changelog: whether it has one and the
// topic configuration it needs. Builders implement it; logging is on by
// default, as in Kafka Streams.
type Logged interface {
	LoggingEnabled() bool
	// ChangelogConfig is the changelog topic's configuration.
	ChangelogConfig() map[string]string
}

// ChangelogTopic names a store's changelog topic.
func ChangelogTopic(applicationID, storeName string) string {
	return applicationID + "-" + storeName + "-changelog"
}

// RestoreTarget returns the byte store that restoration writes to: the one
// under every cache layer (restoring forwards nothing through flush
// listeners and leaves nothing dirty) and under the changelog layer, if
// the store has one (restored writes are not logged again). A store
// without a changelog layer, such as one restored from its source topic
// (KeyValueBuilder.WithSourceChangelog), is restored into the byte store
// under its cache. ok is false for stores this package did not build.
func RestoreTarget(s StateStore) (KeyValueBytes, bool) {
	var b KeyValueBytes
	if w, ok := s.(interface{ Inner() KeyValueBytes }); ok {
		b = w.Inner()
	}
	for b != nil {
		if l, ok := b.(*loggedKV); ok {
			return l.inner, true
		}
		u, ok := b.(interface{ Unwrap() KeyValueBytes })
		if !ok {
			return b, true
		}
		b = u.Unwrap()
	}
	return nil, false
}

// ErrSourceChangelog is wrapped by the error of a builder given a
// SourceChangelog without a topic or a Convert function.
var ErrSourceChangelog = errors.New("invalid source changelog")

// SourceChangelog makes a source topic a store's changelog: a table read
// from a topic is materialized into a store that logs nothing, and is
// restored from the topic itself (Kafka Streams' source-topic changelog).
//
// A runtime restores the store of task <sub-topology>_<p> from partition p
// of Topic, from the store's checkpoint (or the partition's start) up to
// the task's committed offset of that partition, not to its end: the
// records after the committed offset are processed again, and applying
// them twice would show the processor a store ahead of its input. With
// nothing committed, nothing is restored (processing starts where the
// consumer's auto.offset.reset puts it, and rebuilds the table from
// there). The checkpoint of such a store is the committed offset of the
// partition at the last commit.
type SourceChangelog struct {
	// Topic the table is read from, as the topology runs it; the topology
	// must read it in the sub-topology that uses the store.
	Topic string
	// Convert turns one record of Topic into the store's key and value
	// bytes, exactly as the processor that materializes the table writes
	// them; a nil value deletes the key. A non-empty skip skips the record
	// (a null key, a record that does not deserialize): the runtime logs
	// it and counts it under that reason, with err, if set, saying why. An
	// err with an empty skip fails the restoration. It runs on the
	// runtime's restoration goroutine; raw and its slices are valid only
	// during the call, and the key and value it returns are the runtime's
	// until the store has them (the store copies them).
	Convert func(raw *record.ConsumerRecord) (key, value []byte, skip string, err error)
}

// SourceLogged is implemented by builders whose stores may be restored
// from a source topic (KeyValueBuilder); a runtime finds the
// SourceChangelog through it. ok is false when none was set.
type SourceLogged interface {
	SourceChangelog() (sc SourceChangelog, ok bool)
}

// StateStore is what every store has, whatever it holds.
type StateStore interface {
	// Name is the store's name, unique in a topology.
	Name() string
	// Init opens the store for a task. It is called once, before any read
	// or write.
	Init(ctx InitContext) error
	// Flush writes what the store buffers (its cache) into the backend; it
	// is called on every commit. It does not force data to disk: see
	// FlushToDisk.
	Flush() error
	// Close releases the store. It is idempotent.
	Close() error
	// Persistent reports whether the data outlives the process.
	Persistent() bool
}

// Builder makes a fresh store per task. A topology holds builders; a task
// calls Build once for each store its sub-topology uses.
type Builder interface {
	// Name is the name of the stores built.
	Name() string
	// Build returns a new, unopened store.
	Build() (StateStore, error)
	// Types returns the typed store's key and value types, for messages.
	Types() (key, value reflect.Type)
}

// KeyValue is one entry of a key-value store.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// Iterator walks entries in order. Use it as
//
//	it, err := s.All()
//	if err != nil { return err }
//	defer it.Close()
//	for it.Next() { use(it.Key(), it.Value()) }
//	return it.Err()
//
// Key and Value are valid after Next returns true, until the next call to
// Next: byte-level iterators reuse their buffers, so keep a copy of what
// must outlive it (a typed iterator's keys and values are decoded, and
// copies where the serde would share memory, so they stay valid). Writing
// into what they return never changes the store. Next returns false at
// the end or on an error, which Err then returns.
type Iterator[K, V any] interface {
	Next() bool
	Key() K
	Value() V
	Err() error
	Close() error
}

// ReadOnlyKeyValueStore is the read side of a KeyValueStore.
type ReadOnlyKeyValueStore[K, V any] interface {
	// Get returns the value for key and whether it was present.
	Get(key K) (V, bool, error)
	// Range iterates the keys from..to, both inclusive, in ascending
	// serialized-key order. from after to yields nothing.
	Range(from, to K) (Iterator[K, V], error)
	// ReverseRange is Range in descending order.
	ReverseRange(from, to K) (Iterator[K, V], error)
	// All iterates every entry in ascending order.
	All() (Iterator[K, V], error)
	// ReverseAll iterates every entry in descending order.
	ReverseAll() (Iterator[K, V], error)
	// PrefixScan iterates, in ascending order, the entries whose serialized
	// key starts with prefix (serialized key bytes, so composite keys can
	// be scanned by their leading part).
	PrefixScan(prefix []byte) (Iterator[K, V], error)
	// ApproximateNumEntries estimates the number of entries.
	ApproximateNumEntries() (int64, error)
}

// KeyValueStore is a typed, ordered key-value store.
type KeyValueStore[K, V any] interface {
	StateStore
	ReadOnlyKeyValueStore[K, V]
	// Put stores value under key; a value that serializes to null deletes
	// the key.
	Put(key K, value V) error
	// PutIfAbsent stores value only if key is absent. It returns the value
	// already present and true, or the zero V and false after storing.
	PutIfAbsent(key K, value V) (V, bool, error)
	// PutAll puts every entry, in order (a later entry for a key wins),
	// or none: a key that is null or does not serialize, or a value that
	// does not serialize, anywhere in entries, fails the call before
	// anything is written (to the store, its cache or its changelog).
	PutAll(entries []KeyValue[K, V]) error
	// Delete removes key and returns the old value and whether it existed.
	Delete(key K) (V, bool, error)
}

// Entry is one write of a batch: a nil Value deletes Key.
type Entry struct {
	Key   []byte
	Value []byte
}

// KeyValueBytes is the byte-level key-value store every backend implements,
// and every layer (cache, changelog, segments) wraps. Keys are ordered by
// unsigned lexicographic byte order. A nil key is an error wrapping
// ErrNullKey; Put with a nil value deletes. Implementations are safe for
// concurrent use (interactive queries read from other goroutines).
//
// Implementations share no memory with callers: they copy the keys and
// values they keep (the caller may reuse its slices once a call returns),
// the slices Get and Delete return are the caller's to keep and write
// into, and iterators' Key and Value are buffers of the iterator's own,
// valid until its next Next, whose writing never changes the store.
type KeyValueBytes interface {
	StateStore
	Get(key []byte) ([]byte, bool, error)
	Put(key, value []byte) error
	Delete(key []byte) ([]byte, bool, error)
	// Write applies a batch in order. It checks the whole batch (a nil
	// key is an error wrapping ErrNullKey) before it applies any of it,
	// and applies it atomically where the backend can (one RocksDB write
	// batch).
	Write(batch []Entry) error
	// Range iterates from..to inclusive; a nil bound is open.
	Range(from, to []byte, reverse bool) (Iterator[[]byte, []byte], error)
	PrefixScan(prefix []byte) (Iterator[[]byte, []byte], error)
	ApproximateNumEntries() (int64, error)
}

// KeyValueBytesSupplier makes byte key-value stores of one name.
type KeyValueBytesSupplier interface {
	Name() string
	// Get returns a new, unopened store.
	Get() KeyValueBytes
}

// ApproximateEntries returns ApproximateNumEntries of the byte store under
// a typed store (window and session stores count their composite entries).
func ApproximateEntries(s StateStore) (int64, error) {
	if s == nil {
		return 0, errors.New("store: cannot count the entries of a nil store")
	}
	if w, ok := s.(interface{ Inner() KeyValueBytes }); ok && w.Inner() != nil {
		return w.Inner().ApproximateNumEntries()
	}
	if kv, ok := s.(interface{ ApproximateNumEntries() (int64, error) }); ok {
		return kv.ApproximateNumEntries()
	}
	return 0, fmt.Errorf("store %q: cannot count entries of %T", s.Name(), s)
}

// DiskFlusher is implemented by stores and layers that can force written
// data to disk. Persistent backends write without a write-ahead log (the
// changelog is the durable copy), so the runtime calls FlushToDisk before
// it writes a checkpoint file that claims the data is on disk.
type DiskFlusher interface {
	FlushToDisk() error
}

// FlushToDisk forces s's data to disk if s (or a layer under it) can; for
// in-memory stores it does nothing.
func FlushToDisk(s StateStore) error {
	if d, ok := s.(DiskFlusher); ok {
		return d.FlushToDisk()
	}
	if w, ok := s.(interface{ Inner() KeyValueBytes }); ok {
		return FlushToDisk(w.Inner())
	}
	return nil
}

// WasWiped reports whether opening s deleted unreadable files (a backend's
// opt-in wipe, such as rocksdb.Config.WipeCorrupt): its data is gone, so a
// runtime must restore it from the start of its changelog, whatever its
// checkpoint says.
func WasWiped(s StateStore) bool {
	var b any = s
	for b != nil {
		if w, ok := b.(interface{ Wiped() bool }); ok && w.Wiped() {
			return true
		}
		switch x := b.(type) {
		case interface{ Inner() KeyValueBytes }:
			b = x.Inner()
		case interface{ Unwrap() KeyValueBytes }:
			b = x.Unwrap()
		default:
			b = nil
		}
	}
	return false
}
