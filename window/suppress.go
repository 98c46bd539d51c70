package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/btree"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// WhenFull says what a full suppression buffer does.
type WhenFull int

const (
	// ShutDownWhenFull stops the application with ErrBufferFull (the
	// default): no result is ever emitted early.
	ShutDownWhenFull WhenFull = iota
	// EmitEarlyWhenFull emits the oldest buffered result early to make room.
	EmitEarlyWhenFull
)

// BufferConfig bounds a suppression buffer. Zero MaxRecords and MaxBytes
// mean unbounded.
type BufferConfig struct {
	MaxRecords int
	MaxBytes   int64
	WhenFull   WhenFull
}

// ErrBufferFull is wrapped by the error of a suppression buffer that is
// full under ShutDownWhenFull; it stops the application whatever the
// processing handler says.
var ErrBufferFull = errors.New("window: suppression buffer full")

// Buffered is a suppression buffer entry: the latest value of a key (Null
// for a tombstone), the timestamp of the record that brought it, and when
// it is due.
type Buffered[V any] struct {
	Value     V
	Null      bool
	Timestamp int64
	Due       int64
}

// bufferedSerde encodes [due 8][timestamp 8][null 1][value].
type bufferedSerde[V any] struct{ values record.Serde[V] }

func (s bufferedSerde[V]) Serialize(dst []byte, b Buffered[V]) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Due))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Timestamp))
	if b.Null {
		return append(dst, 1), nil
	}
	dst = append(dst, 0)
	out, err := s.values.Serialize(dst, b.Value)
	if err != nil {
		return nil, err
	}
	if out == nil { // a value that serializes to null
		dst[len(dst)-1] = 1
		return dst, nil
	}
	return out, nil
}

func (s bufferedSerde[V]) Deserialize(d []byte) (Buffered[V], error) {
	if len(d) < 17 {
		return Buffered[V]{}, fmt.Errorf("%w: suppression buffer entry of %d bytes", record.ErrSerde, len(d))
	}
	b := Buffered[V]{Due: int64(binary.BigEndian.Uint64(d)), Timestamp: int64(binary.BigEndian.Uint64(d[8:])), Null: d[16] == 1}
	if !b.Null {
		v, err := s.values.Deserialize(d[17:])
		if err != nil {
			return b, err
		}
		b.Value = v
	}
	return b, nil
}

// SuppressionStore returns the builder of a suppression buffer store: a
// changelogged key-value store (in memory by default in Kafka Streams; any
// backend here), uncached so every buffer change reaches the changelog.
//
// A nil backend is the in-memory one; nil serdes are reported by the
// builder's validation, at Build.
func SuppressionStore[KS, V any](backend KeyValueBackend, name string, keys record.Serde[KS], values record.Serde[V]) *store.KeyValueBuilder[KS, Buffered[V]] {
	var buffered record.Serde[Buffered[V]]
	if values != nil {
		buffered = bufferedSerde[V]{values: values}
	}
	return store.NewKeyValueBuilder(backend.orInMemory()(name), keys, buffered)
}

// windowedKeys is SessionWindowedSerde(keys), nil for nil keys so that a
// missing serde is caught when the topology is built or the processor
// initialized, not on the first record.
func windowedKeys[K any](keys record.Serde[K]) record.Serde[Windowed[K]] {
	if keys == nil {
		return nil
	}
	return SessionWindowedSerde(keys)
}

// WindowedSuppressionStore is SuppressionStore for windowed keys (window
// start and end are kept with the key).
func WindowedSuppressionStore[K, V any](backend KeyValueBackend, name string, keys record.Serde[K], values record.Serde[V]) *store.KeyValueBuilder[Windowed[K], Buffered[V]] {
	return SuppressionStore(backend, name, windowedKeys(keys), values)
}

// UntilWindowCloses returns a supplier of processors that hold each time
// window's updates and emit its final result once, when the stream time
// seen by the processor (the largest timestamp of the records reaching it)
// reaches window end + grace (the grace of the windows upstream), and never before
// — unless a bounded buffer is full under EmitEarlyWhenFull. The buffer is
// the store named storeName (see WindowedSuppressionStore).
func UntilWindowCloses[K, V any](grace time.Duration, storeName string, keys record.Serde[K], values record.Serde[V], buf BufferConfig) processor.Supplier[Windowed[K], Change[V], Windowed[K], V] {
	g := grace.Milliseconds()
	return suppressor[Windowed[K], V](storeName, windowedKeys(keys), values, buf, true,
		func(k Windowed[K], _ int64) (int64, bool) { return dueAt(k.End, g) })
}

// UntilSessionCloses is UntilWindowCloses for session windows, whose end is
// inclusive: a session closes once stream time passes end + grace.
func UntilSessionCloses[K, V any](grace time.Duration, storeName string, keys record.Serde[K], values record.Serde[V], buf BufferConfig) processor.Supplier[Windowed[K], Change[V], Windowed[K], V] {
	g := grace.Milliseconds()
	return suppressor[Windowed[K], V](storeName, windowedKeys(keys), values, buf, true,
		func(k Windowed[K], _ int64) (int64, bool) { return dueAt(k.End, g+1) })
}

// UntilTimeLimit returns a supplier of processors that hold each key's
// latest value and emit it once limit of stream time has passed since the
// key's first buffered record.
func UntilTimeLimit[K, V any](limit time.Duration, storeName string, keys record.Serde[K], values record.Serde[V], buf BufferConfig) processor.Supplier[K, Change[V], K, V] {
	l := limit.Milliseconds()
	return suppressor[K, V](storeName, keys, values, buf, false, func(_ K, ts int64) (int64, bool) { return dueAt(ts, l) })
}

// UntilClosed is UntilWindowCloses for any key type: closesAt returns the
// stream time at which key's window has closed (false: never, the update
// is dropped and counted as DropSuppressionDueOutOfRange). The DSL uses it
// with the close time of the windows upstream; use it for windowed keys of
// your own. An update (not a tombstone) of a window that has closed is a
// mismatch with the windows upstream and stops the App (ErrWindowMismatch).
func UntilClosed[KS, V any](storeName string, keys record.Serde[KS], values record.Serde[V], buf BufferConfig, closesAt func(key KS) (int64, bool)) processor.Supplier[KS, Change[V], KS, V] {
	return suppressor[KS, V](storeName, keys, values, buf, true, func(k KS, _ int64) (int64, bool) { return closesAt(k) })
}

// CloseTime returns t + d, the time a window ending at t with grace d
// closes, and false if it is past math.MaxInt64 (never).
func CloseTime(t, d int64) (int64, bool) { return dueAt(t, d) }

// Unbounded is a buffer without bounds; it shuts the App down only when
// memory runs out (Kafka Streams' BufferConfig.unbounded()).
func Unbounded() BufferConfig { return BufferConfig{} }

// MaxRecords is a buffer of at most n records (n >= 1), shutting the App
// down when full unless EmitEarlyWhenFull is set.
func MaxRecords(n int) BufferConfig { return BufferConfig{MaxRecords: n} }

// MaxBytes is a buffer of at most n bytes of keys and entries (n >= 1).
func MaxBytes(n int64) BufferConfig { return BufferConfig{MaxBytes: n} }

// WithMaxRecords adds a record bound to c.
func (c BufferConfig) WithMaxRecords(n int) BufferConfig { c.MaxRecords = n; return c }

// WithMaxBytes adds a byte bound to c.
func (c BufferConfig) WithMaxBytes(n int64) BufferConfig { c.MaxBytes = n; return c }

// EmitEarlyWhenFull makes a full buffer emit its oldest entry early.
func (c BufferConfig) EmitEarlyWhenFull() BufferConfig { c.WhenFull = EmitEarlyWhenFull; return c }

// ShutDownWhenFull makes a full buffer stop the App with ErrBufferFull
// (the default).
func (c BufferConfig) ShutDownWhenFull() BufferConfig { c.WhenFull = ShutDownWhenFull; return c }

// dueAt returns t + d, and false if the sum is past math.MaxInt64: stream
// time never reaches such a due time, so the entry could never be emitted as
// final. A clamped due time would instead emit it at stream time MaxInt64,
// possibly more than once (a session ending at MaxInt64 can still grow), and
// MaxInt64 cannot mean "never" because an entry due exactly then must be
// emitted then. (A negative d, a negative grace or limit, clamps at
// MinInt64: due at once, as before.)
func dueAt(t, d int64) (int64, bool) {
	if d > 0 && t > math.MaxInt64-d {
		return 0, false
	}
	return record.SaturatingAdd(t, d), true
}

func suppressor[KS, V any](storeName string, keys record.Serde[KS], values record.Serde[V], buf BufferConfig, closing bool, due func(KS, int64) (int64, bool)) processor.Supplier[KS, Change[V], KS, V] {
	return func() processor.Processor[KS, Change[V], KS, V] {
		return &suppress[KS, V]{storeName: storeName, keys: keys, values: values, buf: buf, closing: closing, due: due}
	}
}

type indexEntry struct {
	due int64
	key string
}

func lessIndex(a, b indexEntry) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.key < b.key
}

type suppress[KS, V any] struct {
	storeName string
	keys      record.Serde[KS]
	values    record.Serde[V]
	buf       BufferConfig
	due       func(KS, int64) (int64, bool)
	// closing: due is when the key's window closes (not a time limit),
	// so an update due already is a window mismatch.
	closing bool
	ctx     processor.Context[KS, V]
	store   store.KeyValueStore[KS, Buffered[V]]
	index   *btree.BTreeG[indexEntry]
	sizes   map[string]int64 // key -> bytes of its entry, and its due time in index
	dues    map[string]int64
	bytes   int64
	kbuf    []byte
	vbuf    []byte
	// observed is the largest timestamp of the records reaching this
	// processor (Kafka Streams' rule): upstream caches forward a window's
	// updates in the order they were made, so by the time a record carries
	// a time past a window's close, that window's last update has arrived.
	// The task's stream time may be ahead of what upstream caches still
	// hold, so it is not used.
	observed int64
}

func (p *suppress[KS, V]) Init(ctx processor.Context[KS, V]) error {
	p.ctx = ctx
	if p.keys == nil || p.values == nil {
		return fmt.Errorf("%w: suppression of store %q needs key and value serdes", record.ErrSerde, p.storeName)
	}
	s, err := processor.KeyValueStore[KS, Buffered[V]](ctx, p.storeName)
	if err != nil {
		return err
	}
	p.store = s
	p.index = btree.NewG[indexEntry](16, lessIndex)
	p.sizes, p.dues, p.bytes = map[string]int64{}, map[string]int64{}, 0
	p.kbuf, p.vbuf = make([]byte, 0, 64), make([]byte, 0, 128)
	p.observed = -1
	// Rebuild the index from the (restored) buffer.
	it, err := s.All()
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		kb, err := p.keys.Serialize(make([]byte, 0, 32), it.Key())
		if err != nil {
			return err
		}
		p.track(string(kb), it.Value())
	}
	return it.Err()
}

func (p *suppress[KS, V]) size(b Buffered[V]) int64 {
	out, _ := bufferedSerde[V]{p.values}.Serialize(p.vbuf[:0], b)
	if out != nil {
		p.vbuf = out[:0]
	}
	return int64(len(out))
}

func (p *suppress[KS, V]) track(key string, b Buffered[V]) {
	if old, ok := p.dues[key]; ok {
		p.index.Delete(indexEntry{old, key})
		p.bytes -= p.sizes[key]
	}
	sz := int64(len(key)) + p.size(b)
	p.index.ReplaceOrInsert(indexEntry{b.Due, key})
	p.dues[key], p.sizes[key] = b.Due, sz
	p.bytes += sz
}

func (p *suppress[KS, V]) untrack(key string) {
	if old, ok := p.dues[key]; ok {
		p.index.Delete(indexEntry{old, key})
		p.bytes -= p.sizes[key]
		delete(p.dues, key)
		delete(p.sizes, key)
	}
}

func (p *suppress[KS, V]) Process(r record.Record[KS, Change[V]]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		if skip(p.ctx, r) {
			return nil
		}
	}
	kb, err := p.keys.Serialize(p.kbuf[:0], r.Key())
	if err != nil {
		return err
	}
	if kb != nil {
		p.kbuf = kb[:0]
	}
	key := string(kb)
	p.observed = max(p.observed, r.Timestamp())
	c := r.Value()
	b := Buffered[V]{Value: c.New, Null: !c.HasNew, Timestamp: r.Timestamp()}
	if d, ok := p.dues[key]; ok {
		b.Due = d // the key's first buffering decides when it is due
	} else if b.Due, ok = p.due(r.Key(), r.Timestamp()); !ok {
		// Due past MaxInt64: no final result can ever come out. Holding
		// it would only fill the buffer (and its changelog) for good.
		dropOutOfRange(p.ctx, DropSuppressionDueOutOfRange, r.Timestamp())
		return p.evict(p.observed)
	} else if p.closing && c.HasNew && b.Due <= p.observed {
		// A new result for a window this suppression has closed: the
		// windows upstream still took a record for it, so they close
		// later than the grace given here says, and this would be a
		// second "final" result. (A tombstone of a closed window is
		// normal: a session merged away after it ended.)
		return handler.Fatal(fmt.Errorf("%w: suppression %q got an update of window %v at stream time %d, after the window "+
			"closed for it at %d: the windows upstream accept records for longer than the grace this suppression was given; "+
			"give it the windows' grace (or use dsl.Suppress, which takes it from the windows)",
			ErrWindowMismatch, p.ctx.NodeName(), r.Key(), p.observed, b.Due))
	}
	if err := p.store.Put(r.Key(), b); err != nil {
		return err
	}
	p.track(key, b)
	for p.over() {
		if p.buf.WhenFull != EmitEarlyWhenFull {
			return handler.Fatal(fmt.Errorf("%w: %d records, %d bytes (bounds: %d records, %d bytes); "+
				"raise the bounds or use EmitEarlyWhenFull", ErrBufferFull, len(p.dues), p.bytes, p.buf.MaxRecords, p.buf.MaxBytes))
		}
		oldest, _ := p.index.Min()
		p.ctx.Logger().Debug("suppression buffer full: emitting early", zap.Int64("due", oldest.due))
		if err := p.emit(oldest); err != nil {
			return err
		}
	}
	return p.evict(p.observed)
}

func (p *suppress[KS, V]) over() bool {
	return (p.buf.MaxRecords > 0 && len(p.dues) > p.buf.MaxRecords) || (p.buf.MaxBytes > 0 && p.bytes > p.buf.MaxBytes)
}

// evict emits every entry due by streamTime, oldest first.
func (p *suppress[KS, V]) evict(streamTime int64) error {
	for {
		e, ok := p.index.Min()
		if !ok || e.due > streamTime {
			return nil
		}
		if err := p.emit(e); err != nil {
			return err
		}
	}
}

func (p *suppress[KS, V]) emit(e indexEntry) error {
	k, err := p.keys.Deserialize([]byte(e.key))
	if err != nil {
		return err
	}
	b, ok, err := p.store.Get(k)
	if err != nil {
		return err
	}
	p.untrack(e.key)
	if !ok {
		return nil
	}
	if _, _, err := p.store.Delete(k); err != nil {
		return err
	}
	r, err := record.New(k, b.Value, max(b.Timestamp, 0))
	if err != nil {
		return err
	}
	if b.Null {
		r = r.WithNullValue()
	}
	return p.ctx.Forward(r)
}

func (p *suppress[KS, V]) Close() error { return nil }
