package processor

import (
	"errors"
	"fmt"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// GlobalStore is a store fed from every partition of one topic, as Kafka
// Streams' global stores (and GlobalKTables) are: each application instance
// holds all of it, restores it fully before any task starts, keeps it up to
// date from its own goroutine, and lets every processor read it. Its topic
// is its changelog, so it has no changelog of its own.
type GlobalStore struct {
	Name  string
	Topic string
	// Builder builds the instance's copy.
	Builder store.Builder
	// Apply writes one record of the topic into the store: a null value
	// deletes, a null key is skipped (Apply returns false).
	Apply func(s store.StateStore, raw *record.ConsumerRecord) (bool, error)
	// View wraps the instance's copy for processors: reads from any task
	// goroutine, writes refused with store.ErrReadOnly.
	View func(s store.StateStore) store.StateStore
}

// AddGlobalStore registers a global key-value store fed from topic with the
// given deserializers. Processors read it by name without connecting it;
// writing to it from a processor is an error.
func AddGlobalStore[K, V any](b *Builder, sb *store.KeyValueBuilder[K, V], topic string, keys record.Deserializer[K], values record.Deserializer[V]) {
	if b == nil {
		return // a nil Builder declares nothing; its Build reports ErrEmptyTopology
	}
	if sb == nil || topic == "" || keys == nil || values == nil || sb.Validate() != nil {
		b.problems = append(b.problems, fmt.Errorf("%w: global store needs a builder, a topic and deserializers", ErrInvalidNode))
		return
	}
	name := sb.Name()
	sb.WithLoggingDisabled()
	b.globals = append(b.globals, GlobalStore{
		Name: name, Topic: topic, Builder: sb,
		Apply: func(s store.StateStore, raw *record.ConsumerRecord) (applied bool, err error) {
			kv, ok := s.(store.KeyValueStore[K, V])
			if !ok {
				return false, fmt.Errorf("%w: global store %q is %T, not a key-value store of its builder's types", ErrStoreType, name, s)
			}
			if raw == nil {
				return false, fmt.Errorf("%w: global store %q: nil record", ErrInvalidNode, name)
			}
			if raw.Key == nil {
				return false, nil
			}
			part := "key"
			defer func() {
				// A deserializer that panics is a record that does not
				// deserialize, as on a task's source.
				if p := recover(); p != nil {
					if part == "store" {
						applied, err = false, fmt.Errorf("global store %q: %w: %v", name, handler.ErrPanic, p)
						return
					}
					applied, err = false, &record.DeserializationError{Metadata: raw.Metadata(), Part: part,
						Err: fmt.Errorf("%w: %v", handler.ErrPanic, p)}
				}
			}()
			k, err := keys.Deserialize(raw.Key)
			if err != nil {
				return false, &record.DeserializationError{Metadata: raw.Metadata(), Part: "key", Err: err}
			}
			if raw.Value == nil {
				_, _, err := kv.Delete(k)
				return true, err
			}
			part = "value"
			v, err := values.Deserialize(raw.Value)
			if err != nil {
				return false, &record.DeserializationError{Metadata: raw.Metadata(), Part: "value", Err: err}
			}
			part = "store"
			return true, kv.Put(k, v)
		},
		View: func(s store.StateStore) store.StateStore {
			kv, ok := s.(store.KeyValueStore[K, V])
			if !ok {
				return unusableGlobal[K, V]{name: name, err: fmt.Errorf("%w: global store %q is %T, not a KeyValueStore[%s, %s]",
					ErrStoreType, name, s, typeName[K](), typeName[V]())}
			}
			v, err := store.GlobalView(kv)
			if err != nil {
				return unusableGlobal[K, V]{name: name, err: err}
			}
			return v
		},
	})
}

// unusableGlobal stands in for a global store whose view View could not
// make (View returns no error): every call fails with the reason, so the
// processors that read the store see it instead of a panic.
type unusableGlobal[K, V any] struct {
	name string
	err  error
}

func (u unusableGlobal[K, V]) Name() string                          { return u.name }
func (u unusableGlobal[K, V]) Init(store.InitContext) error          { return u.err }
func (u unusableGlobal[K, V]) Flush() error                          { return u.err }
func (u unusableGlobal[K, V]) Close() error                          { return nil }
func (u unusableGlobal[K, V]) Persistent() bool                      { return false }
func (u unusableGlobal[K, V]) ApproximateNumEntries() (int64, error) { return 0, u.err }
func (u unusableGlobal[K, V]) Put(K, V) error                        { return u.err }
func (u unusableGlobal[K, V]) PutAll([]store.KeyValue[K, V]) error   { return u.err }

func (u unusableGlobal[K, V]) Get(K) (v V, ok bool, err error)            { return v, false, u.err }
func (u unusableGlobal[K, V]) PutIfAbsent(K, V) (v V, ok bool, err error) { return v, false, u.err }
func (u unusableGlobal[K, V]) Delete(K) (v V, ok bool, err error)         { return v, false, u.err }

func (u unusableGlobal[K, V]) Range(K, K) (store.Iterator[K, V], error)        { return nil, u.err }
func (u unusableGlobal[K, V]) ReverseRange(K, K) (store.Iterator[K, V], error) { return nil, u.err }
func (u unusableGlobal[K, V]) All() (store.Iterator[K, V], error)              { return nil, u.err }
func (u unusableGlobal[K, V]) ReverseAll() (store.Iterator[K, V], error)       { return nil, u.err }
func (u unusableGlobal[K, V]) PrefixScan([]byte) (store.Iterator[K, V], error) { return nil, u.err }

// Reasons Update gives for skipping a global-topic record; runtimes count
// them as dropped records under these names.
const (
	GlobalSkipNullKey         = "global-null-key"
	GlobalSkipDeserialization = "global-deserialization-error"
)

// Update applies one record of the topic to s under the policy every runtime
// shares. The topic is the store's source of truth, so a record the store
// cannot take (a null key, or bytes that do not deserialize) is skipped, not
// guessed at: skip names why (err then carries the cause, if any) for the
// caller to log and count. With skip empty, err is a store failure.
func (g GlobalStore) Update(s store.StateStore, raw *record.ConsumerRecord) (skip string, err error) {
	if g.Apply == nil {
		return "", fmt.Errorf("%w: global store %q has no Apply function", ErrInvalidNode, g.Name)
	}
	applied, err := g.Apply(s, raw)
	var de *record.DeserializationError
	switch {
	case errors.As(err, &de):
		return GlobalSkipDeserialization, err
	case err != nil:
		return "", err
	case !applied:
		return GlobalSkipNullKey, nil
	}
	return "", nil
}

// GlobalStores returns the topology's global stores.
func (t *Topology) GlobalStores() []GlobalStore {
	if t == nil {
		return nil
	}
	return append([]GlobalStore(nil), t.globals...)
}

var errGlobalTopic = errors.New("topic is both a source and a global store's topic")
