package store

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/millrace/millrace/record"
)

// NewKeyValueStore wraps a byte store in a typed façade that serializes keys
// and values with ks and vs. The façade reuses one key and one value buffer,
// so it allocates nothing of its own per call; like the byte store under it,
// it belongs to one goroutine.
//
// Reads never hand out the store's memory: a value (or key) is decoded
// straight from the store's bytes with the built-in copying serdes, and
// from a copy when the deserializer may keep references into its input
// (record.Retains: the Bytes serde, or any deserializer that does not say).
func NewKeyValueStore[K, V any](inner KeyValueBytes, ks record.Serde[K], vs record.Serde[V]) KeyValueStore[K, V] {
	return newTypedKV(inner, ks, vs)
}

func newTypedKV[K, V any](inner KeyValueBytes, ks record.Serde[K], vs record.Serde[V]) *typedKV[K, V] {
	if inner == nil || ks == nil || vs == nil {
		// Every call fails rather than panics (there is no error to return
		// here): the store says which part is missing.
		err := fmt.Errorf("store: NewKeyValueStore(inner %T, keys %T, values %T): %w", inner, ks, vs, errMissingPart)
		inner, ks, vs = missingKV{err}, missingSerde[K]{err}, missingSerde[V]{err}
	}
	return &typedKV[K, V]{inner: inner, ks: ks, vs: vs, kd: newDecoder[K](ks), vd: newDecoder[V](vs),
		kbuf: make([]byte, 0, 64), vbuf: make([]byte, 0, 128)}
}

type typedKV[K, V any] struct {
	inner KeyValueBytes
	ks    record.Serde[K]
	vs    record.Serde[V]
	kd    decoder[K]
	vd    decoder[V]
	cp    copies // Get's copies for a retaining value deserializer
	kbuf  []byte
	kbuf2 []byte
	vbuf  []byte
	pbuf  []byte // PutAll's serialized batch
}

// Inner returns the byte store under a typed store made by
// NewKeyValueStore, for layers (caches, changelogs, runtimes) that work on
// bytes.
func Inner[K, V any](s KeyValueStore[K, V]) (KeyValueBytes, bool) {
	t, ok := s.(*typedKV[K, V])
	if !ok {
		return nil, false
	}
	return t.inner, true
}

// Inner returns the byte store under the façade.
func (s *typedKV[K, V]) Inner() KeyValueBytes { return s.inner }

func (s *typedKV[K, V]) Name() string               { return s.inner.Name() }
func (s *typedKV[K, V]) Init(ctx InitContext) error { return s.inner.Init(ctx) }
func (s *typedKV[K, V]) Flush() error               { return s.inner.Flush() }
func (s *typedKV[K, V]) Close() error               { return s.inner.Close() }
func (s *typedKV[K, V]) Persistent() bool           { return s.inner.Persistent() }
func (s *typedKV[K, V]) ApproximateNumEntries() (int64, error) {
	return s.inner.ApproximateNumEntries()
}

func (s *typedKV[K, V]) key(k K) ([]byte, error) { return s.serializeKey(&s.kbuf, k) }

// key2 serializes a second key (the upper bound of a range) into its own
// buffer, so both bounds stay valid together.
func (s *typedKV[K, V]) key2(k K) ([]byte, error) { return s.serializeKey(&s.kbuf2, k) }

func (s *typedKV[K, V]) serializeKey(buf *[]byte, k K) ([]byte, error) {
	if *buf == nil {
		*buf = make([]byte, 0, 64)
	}
	b, err := s.ks.Serialize((*buf)[:0], k)
	if err != nil {
		return nil, fmt.Errorf("store %q: serialize key: %w", s.inner.Name(), err)
	}
	if b == nil {
		return nil, fmt.Errorf("store %q: %w", s.inner.Name(), ErrNullKey)
	}
	*buf = b[:0]
	return b, nil
}

func (s *typedKV[K, V]) value(v V) ([]byte, error) {
	b, err := s.vs.Serialize(s.vbuf[:0], v)
	if err != nil {
		return nil, fmt.Errorf("store %q: serialize value: %w", s.inner.Name(), err)
	}
	if b != nil {
		s.vbuf = b[:0]
	}
	return b, nil
}

func (s *typedKV[K, V]) decode(b []byte, c *copies) (V, error) {
	v, err := s.vd.decode(b, c)
	if err != nil {
		return v, fmt.Errorf("store %q: deserialize value: %w", s.inner.Name(), err)
	}
	return v, nil
}

func (s *typedKV[K, V]) Get(key K) (V, bool, error) {
	var zero V
	kb, err := s.key(key)
	if err != nil {
		return zero, false, err
	}
	return getDecoded(s.inner, kb, s.vd, &s.cp)
}

func (s *typedKV[K, V]) Put(key K, value V) error {
	kb, err := s.key(key)
	if err != nil {
		return err
	}
	vb, err := s.value(value)
	if err != nil {
		return err
	}
	return s.inner.Put(kb, vb)
}

func (s *typedKV[K, V]) PutIfAbsent(key K, value V) (V, bool, error) {
	old, ok, err := s.Get(key)
	if err != nil || ok {
		return old, ok, err
	}
	return old, false, s.Put(key, value)
}

// PutAll is all or nothing, as Kafka Streams' write batch is: every key and
// value is serialized (and a null key refused) before anything is written,
// and the batch goes down the layers as one Write, which each layer checks
// whole before it applies any of it.
func (s *typedKV[K, V]) PutAll(entries []KeyValue[K, V]) error {
	type span struct {
		k0, k1, v1 int
		null       bool
	}
	spans := make([]span, len(entries))
	buf := s.pbuf
	if buf == nil {
		buf = make([]byte, 0, 256) // serializers get a non-nil dst
	}
	buf = buf[:0]
	for i, e := range entries {
		k0 := len(buf)
		b, err := s.ks.Serialize(buf, e.Key)
		if err != nil {
			return fmt.Errorf("store %q: PutAll entry %d: serialize key: %w", s.inner.Name(), i, err)
		}
		if b == nil {
			return fmt.Errorf("store %q: PutAll entry %d: %w", s.inner.Name(), i, ErrNullKey)
		}
		buf = b
		k1 := len(buf)
		b, err = s.vs.Serialize(buf, e.Value)
		if err != nil {
			return fmt.Errorf("store %q: PutAll entry %d: serialize value: %w", s.inner.Name(), i, err)
		}
		if b == nil {
			spans[i] = span{k0: k0, k1: k1, null: true}
			continue
		}
		buf = b
		spans[i] = span{k0: k0, k1: k1, v1: len(buf)}
	}
	batch := make([]Entry, len(entries))
	for i, sp := range spans {
		batch[i].Key = buf[sp.k0:sp.k1:sp.k1]
		if !sp.null {
			batch[i].Value = buf[sp.k1:sp.v1:sp.v1]
		}
	}
	if cap(buf) <= maxKeptBatchBuffer {
		s.pbuf = buf[:0]
	}
	return s.inner.Write(batch)
}

// maxKeptBatchBuffer bounds the PutAll buffer a façade keeps for reuse.
const maxKeptBatchBuffer = 64 << 10

func (s *typedKV[K, V]) Delete(key K) (V, bool, error) {
	var zero V
	kb, err := s.key(key)
	if err != nil {
		return zero, false, err
	}
	vb, ok, err := s.inner.Delete(kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := s.vd.decodeOwned(vb) // Delete's old value is a copy
	if err != nil {
		return zero, false, fmt.Errorf("store %q: deserialize value: %w", s.inner.Name(), err)
	}
	return v, true, nil
}

func (s *typedKV[K, V]) rangeOf(from, to K, reverse bool) (Iterator[K, V], error) {
	fb, err := s.key(from)
	if err != nil {
		return nil, err
	}
	tb, err := s.key2(to)
	if err != nil {
		return nil, err
	}
	it, err := s.inner.Range(fb, tb, reverse)
	if err != nil {
		return nil, err
	}
	return &typedIter[K, V]{in: it, s: s}, nil
}

func (s *typedKV[K, V]) Range(from, to K) (Iterator[K, V], error) { return s.rangeOf(from, to, false) }
func (s *typedKV[K, V]) ReverseRange(from, to K) (Iterator[K, V], error) {
	return s.rangeOf(from, to, true)
}

func (s *typedKV[K, V]) All() (Iterator[K, V], error) {
	it, err := s.inner.Range(nil, nil, false)
	if err != nil {
		return nil, err
	}
	return &typedIter[K, V]{in: it, s: s}, nil
}

func (s *typedKV[K, V]) ReverseAll() (Iterator[K, V], error) {
	it, err := s.inner.Range(nil, nil, true)
	if err != nil {
		return nil, err
	}
	return &typedIter[K, V]{in: it, s: s}, nil
}

func (s *typedKV[K, V]) PrefixScan(prefix []byte) (Iterator[K, V], error) {
	if prefix == nil {
		prefix = []byte{}
	}
	it, err := s.inner.PrefixScan(prefix)
	if err != nil {
		return nil, err
	}
	return &typedIter[K, V]{in: it, s: s}, nil
}

// typedIter deserializes each entry as Next reaches it.
type typedIter[K, V any] struct {
	in  Iterator[[]byte, []byte]
	s   *typedKV[K, V]
	k   K
	v   V
	err error
	cp  copies
}

func (it *typedIter[K, V]) Next() bool {
	if it.err != nil || !it.in.Next() {
		return false
	}
	kb, vb := currentEntry(it.in)
	k, err := it.s.kd.decode(kb, &it.cp)
	if err != nil {
		it.err = fmt.Errorf("store %q: deserialize key: %w", it.s.inner.Name(), err)
		return false
	}
	v, err := it.s.decode(vb, &it.cp)
	if err != nil {
		it.err = err
		return false
	}
	it.k, it.v = k, v
	return true
}

func (it *typedIter[K, V]) Key() K   { return it.k }
func (it *typedIter[K, V]) Value() V { return it.v }
func (it *typedIter[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.in.Err()
}
func (it *typedIter[K, V]) Close() error { return it.in.Close() }

// KeyValueBuilder builds typed key-value stores over a byte-store supplier.
type KeyValueBuilder[K, V any] struct {
	supplier KeyValueBytesSupplier
	ks       record.Serde[K]
	vs       record.Serde[V]
	caching  bool
	logging
	source *SourceChangelog
}

// WithSourceChangelog makes the topic a table is read from the stores'
// changelog (Kafka Streams' source-topic changelog optimization): the
// stores log nothing and no changelog topic is created for them
// (LoggingEnabled reports false); a runtime restores them from the task's
// partition of sc.Topic, through sc.Convert, up to the task's committed
// offset of that partition (see SourceChangelog). The processor that
// materializes the table must write exactly what Convert makes of each
// record, or a restored store differs from one built by processing. A
// zero Topic or a nil Convert makes Build fail.
func (b *KeyValueBuilder[K, V]) WithSourceChangelog(sc SourceChangelog) *KeyValueBuilder[K, V] {
	if b == nil {
		return b
	}
	b.disabled = true
	b.source = &sc
	return b
}

// SourceChangelog returns what WithSourceChangelog set, if anything.
func (b *KeyValueBuilder[K, V]) SourceChangelog() (SourceChangelog, bool) {
	if b == nil || b.source == nil {
		return SourceChangelog{}, false
	}
	return *b.source, true
}

// WithLoggingDisabled builds stores without a changelog topic: their data
// does not survive the loss of the local state and does not move with the
// task. Logging is on by default, as in Kafka Streams.
func (b *KeyValueBuilder[K, V]) WithLoggingDisabled() *KeyValueBuilder[K, V] {
	b.disabled = true
	return b
}

// ChangelogConfig is a compacted topic.
func (b *KeyValueBuilder[K, V]) ChangelogConfig() map[string]string {
	return map[string]string{"cleanup.policy": "compact"}
}

// WithCaching puts a write-back cache in front of the store: repeated
// updates of a key between commits reach the store (and its changelog) once.
func (b *KeyValueBuilder[K, V]) WithCaching() *KeyValueBuilder[K, V] {
	b.caching = true
	return b
}

// Validate checks the supplier, the serdes and a source changelog.
func (b *KeyValueBuilder[K, V]) Validate() error {
	if b.supplier == nil || b.supplier.Name() == "" {
		return fmt.Errorf("key-value store needs a supplier with a name")
	}
	if b.ks == nil || b.vs == nil {
		return fmt.Errorf("store %q: nil serde", b.supplier.Name())
	}
	if sc := b.source; sc != nil && (sc.Topic == "" || sc.Convert == nil) {
		return fmt.Errorf("store %q: %w: topic %q, Convert set: %t", b.supplier.Name(), ErrSourceChangelog, sc.Topic, sc.Convert != nil)
	}
	return nil
}

// NewKeyValueBuilder returns a builder of typed key-value stores named after
// supplier, with the given serdes. Register it on a topology.
func NewKeyValueBuilder[K, V any](supplier KeyValueBytesSupplier, ks record.Serde[K], vs record.Serde[V]) *KeyValueBuilder[K, V] {
	return &KeyValueBuilder[K, V]{supplier: supplier, ks: ks, vs: vs}
}

// Name returns the store name.
func (b *KeyValueBuilder[K, V]) Name() string {
	if b.supplier == nil {
		return ""
	}
	return b.supplier.Name()
}

// Build returns a fresh typed store.
func (b *KeyValueBuilder[K, V]) Build() (StateStore, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	inner := b.wrap(b.supplier.Get())
	if b.caching {
		inner = newCachedKV(inner)
	}
	return NewKeyValueStore(inner, b.ks, b.vs), nil
}

// Types returns K and V.
func (b *KeyValueBuilder[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

// Types returns K and V.
func (s *typedKV[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

// errMissingPart is wrapped by every error of a store made from nil parts.
var errMissingPart = errors.New("a byte store or serde is nil")

// missingSerde stands in for a nil serde.
type missingSerde[T any] struct{ err error }

func (m missingSerde[T]) Serialize([]byte, T) ([]byte, error) { return nil, m.err }
func (m missingSerde[T]) Deserialize([]byte) (T, error) {
	var zero T
	return zero, m.err
}

// missingKV stands in for a nil byte store.
type missingKV struct{ err error }

func (m missingKV) Name() string                          { return "" }
func (m missingKV) Init(InitContext) error                { return m.err }
func (m missingKV) Flush() error                          { return m.err }
func (m missingKV) Close() error                          { return nil }
func (m missingKV) Persistent() bool                      { return false }
func (m missingKV) Get([]byte) ([]byte, bool, error)      { return nil, false, m.err }
func (m missingKV) Put([]byte, []byte) error              { return m.err }
func (m missingKV) Delete([]byte) ([]byte, bool, error)   { return nil, false, m.err }
func (m missingKV) Write([]Entry) error                   { return m.err }
func (m missingKV) ApproximateNumEntries() (int64, error) { return 0, m.err }
func (m missingKV) Range([]byte, []byte, bool) (Iterator[[]byte, []byte], error) {
	return nil, m.err
}
func (m missingKV) PrefixScan([]byte) (Iterator[[]byte, []byte], error) { return nil, m.err }
