package window

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"

	"github.com/google/btree"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// The unmatched buffer of a left or outer join gets the join buffers'
// treatment: every record a left join processes puts, finds (prefix scan)
// or deletes an entry of it, and scans it for due entries, each a cgo call
// or an iterator on RocksDB. An in-memory copy of its entries (ordered as
// the store orders them) answers every read and takes every write; at a
// commit, the keys written since the last one reach the store in one batch
// (store.KeyValueStore.PutAll): an entry put and deleted between two
// commits (a record matched soon after it arrived, the common case) never
// reaches the store or its changelog. The copy is rebuilt from the store
// when the join's processors initialize, after restoration; it holds what
// the store would, the unmatched records of the last join window + grace.

// unmatchedBufferBuilder builds the unmatched buffer over a key-value
// store builder.
type unmatchedBufferBuilder struct {
	inner *store.KeyValueBuilder[[]byte, []byte]
}

func (b *unmatchedBufferBuilder) Name() string { return b.inner.Name() }
func (b *unmatchedBufferBuilder) Types() (reflect.Type, reflect.Type) {
	return b.inner.Types()
}
func (b *unmatchedBufferBuilder) Kind() string         { return b.inner.Kind() }
func (b *unmatchedBufferBuilder) Validate() error      { return b.inner.Validate() }
func (b *unmatchedBufferBuilder) LoggingEnabled() bool { return b.inner.LoggingEnabled() }
func (b *unmatchedBufferBuilder) ChangelogConfig() map[string]string {
	return b.inner.ChangelogConfig()
}

// WithLoggingDisabled builds buffers without a changelog topic.
func (b *unmatchedBufferBuilder) WithLoggingDisabled() { b.inner.WithLoggingDisabled() }

func (b *unmatchedBufferBuilder) Build() (store.StateStore, error) {
	s, err := b.inner.Build()
	if err != nil {
		return nil, err
	}
	kv, ok := s.(store.KeyValueStore[[]byte, []byte])
	if !ok {
		return nil, fmt.Errorf("join buffer %q: the key-value builder built a %T", b.Name(), s)
	}
	return &unmatchedBuffer{inner: kv, tree: btree.NewG(16, umLess), dirty: map[string]bool{}}, nil
}

type umItem struct{ key, value []byte }

func umLess(a, b umItem) bool { return bytes.Compare(a.key, b.key) < 0 }

// unmatchedBuffer is a KeyValueStore[[]byte, []byte] served from memory,
// written to inner at Flush. Used from its task's goroutine only.
type unmatchedBuffer struct {
	inner  store.KeyValueStore[[]byte, []byte]
	tree   *btree.BTreeG[umItem]
	dirty  map[string]bool // keys written since the last push: did the store have them then?
	loaded bool
}

func (u *unmatchedBuffer) load() error {
	if err := u.push(); err != nil {
		return err
	}
	u.loaded = true
	u.tree.Clear(false)
	it, err := u.inner.All()
	if err != nil {
		return err
	}
	for it.Next() {
		u.tree.ReplaceOrInsert(umItem{slices.Clone(it.Key()), slices.Clone(it.Value())})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

func (u *unmatchedBuffer) ensure() error {
	if u.loaded {
		return nil
	}
	return u.load()
}

// touch notes key as written; the first write since a push records
// whether the store holds it.
func (u *unmatchedBuffer) touch(key []byte) {
	if _, ok := u.dirty[string(key)]; !ok {
		_, had := u.tree.Get(umItem{key: key})
		u.dirty[string(key)] = had
	}
}

// push writes the keys written since the last push: their current value,
// or a delete for a key the store had.
func (u *unmatchedBuffer) push() error {
	if len(u.dirty) == 0 {
		return nil
	}
	keys := make([]string, 0, len(u.dirty))
	for k := range u.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the batch in key order: deterministic, and faster into RocksDB
	entries := make([]store.KeyValue[[]byte, []byte], 0, len(keys))
	for _, k := range keys {
		if it, ok := u.tree.Get(umItem{key: []byte(k)}); ok {
			entries = append(entries, store.KeyValue[[]byte, []byte]{Key: it.key, Value: it.value})
		} else if u.dirty[k] {
			entries = append(entries, store.KeyValue[[]byte, []byte]{Key: []byte(k)})
		}
	}
	clear(u.dirty)
	if len(entries) == 0 {
		return nil
	}
	return u.inner.PutAll(entries)
}

func (u *unmatchedBuffer) Put(key, value []byte) error {
	if key == nil {
		return fmt.Errorf("store %q: %w", u.Name(), store.ErrNullKey)
	}
	if err := u.ensure(); err != nil {
		return err
	}
	u.touch(key)
	if value == nil {
		u.tree.Delete(umItem{key: key})
		return nil
	}
	u.tree.ReplaceOrInsert(umItem{slices.Clone(key), slices.Clone(value)})
	return nil
}

func (u *unmatchedBuffer) PutIfAbsent(key, value []byte) ([]byte, bool, error) {
	old, ok, err := u.Get(key)
	if err != nil || ok {
		return old, ok, err
	}
	return nil, false, u.Put(key, value)
}

func (u *unmatchedBuffer) PutAll(entries []store.KeyValue[[]byte, []byte]) error {
	for _, e := range entries {
		if e.Key == nil {
			return fmt.Errorf("store %q: %w", u.Name(), store.ErrNullKey)
		}
	}
	for _, e := range entries {
		if err := u.Put(e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

func (u *unmatchedBuffer) Delete(key []byte) ([]byte, bool, error) {
	if key == nil {
		return nil, false, fmt.Errorf("store %q: %w", u.Name(), store.ErrNullKey)
	}
	if err := u.ensure(); err != nil {
		return nil, false, err
	}
	it, ok := u.tree.Get(umItem{key: key})
	if !ok {
		return nil, false, nil
	}
	u.touch(key)
	u.tree.Delete(it)
	return it.value, true, nil
}

func (u *unmatchedBuffer) Get(key []byte) ([]byte, bool, error) {
	if err := u.ensure(); err != nil {
		return nil, false, err
	}
	it, ok := u.tree.Get(umItem{key: key})
	if !ok {
		return nil, false, nil
	}
	return slices.Clone(it.value), true, nil
}

// Range iterates keys in [from, to], both inclusive; a nil bound is open.
func (u *unmatchedBuffer) Range(from, to []byte) (store.Iterator[[]byte, []byte], error) {
	return u.scan(from, to, false, nil)
}

func (u *unmatchedBuffer) ReverseRange(from, to []byte) (store.Iterator[[]byte, []byte], error) {
	return u.scan(from, to, true, nil)
}

func (u *unmatchedBuffer) All() (store.Iterator[[]byte, []byte], error) {
	return u.scan(nil, nil, false, nil)
}

func (u *unmatchedBuffer) ReverseAll() (store.Iterator[[]byte, []byte], error) {
	return u.scan(nil, nil, true, nil)
}

func (u *unmatchedBuffer) PrefixScan(prefix []byte) (store.Iterator[[]byte, []byte], error) {
	return u.scan(prefix, nil, false, prefix)
}

// scan collects the entries from..to (inclusive, nil: open) that start
// with prefix (nil: any): the iterator walks a snapshot, so writes while
// iterating (the join deletes what it found) are safe.
func (u *unmatchedBuffer) scan(from, to []byte, reverse bool, prefix []byte) (store.Iterator[[]byte, []byte], error) {
	if err := u.ensure(); err != nil {
		return nil, err
	}
	var items []umItem
	visit := func(it umItem) bool {
		if to != nil && bytes.Compare(it.key, to) > 0 {
			return false
		}
		if prefix != nil && !bytes.HasPrefix(it.key, prefix) {
			return false
		}
		items = append(items, it)
		return true
	}
	if from == nil {
		u.tree.Ascend(visit)
	} else {
		u.tree.AscendGreaterOrEqual(umItem{key: from}, visit)
	}
	if reverse {
		slices.Reverse(items)
	}
	return &umIter{items: items, i: -1}, nil
}

func (u *unmatchedBuffer) ApproximateNumEntries() (int64, error) { return int64(u.tree.Len()), nil }

func (u *unmatchedBuffer) Name() string { return u.inner.Name() }

func (u *unmatchedBuffer) Init(ctx store.InitContext) error { return u.inner.Init(ctx) }

// Flush writes what changed since the last Flush to the store.
func (u *unmatchedBuffer) Flush() error {
	if err := u.push(); err != nil {
		return err
	}
	return u.inner.Flush()
}

func (u *unmatchedBuffer) Close() error {
	u.tree.Clear(false)
	clear(u.dirty)
	return u.inner.Close()
}

func (u *unmatchedBuffer) Persistent() bool { return u.inner.Persistent() }

func (u *unmatchedBuffer) Inner() store.KeyValueBytes {
	if w, ok := u.inner.(interface{ Inner() store.KeyValueBytes }); ok {
		return w.Inner()
	}
	return nil
}

func (u *unmatchedBuffer) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[[]byte](), reflect.TypeFor[[]byte]()
}

type umIter struct {
	items []umItem
	i     int
}

func (it *umIter) Next() bool {
	if it.i+1 >= len(it.items) {
		it.i = len(it.items)
		return false
	}
	it.i++
	return true
}

func (it *umIter) Key() []byte   { return it.items[it.i].key }
func (it *umIter) Value() []byte { return it.items[it.i].value }
func (it *umIter) Err() error    { return nil }
func (it *umIter) Close() error  { return nil }

// newUnmatchedBufferBuilder wraps the unmatched key-value store.
func newUnmatchedBufferBuilder(sup store.KeyValueBytesSupplier) *unmatchedBufferBuilder {
	return &unmatchedBufferBuilder{inner: store.NewKeyValueBuilder(sup, record.Bytes(), record.Bytes())}
}
