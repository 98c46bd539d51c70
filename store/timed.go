package store

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/millrace/millrace/record"
)

// Window and session stores are one machine with two composite-key layouts:
// a typed façade over a segmented byte store (a time in each key picks its
// segment), under the changelog and cache layers every store has.
// timedBuilder and timedStore are the parts they share; WindowBuilder and
// typedWindow, SessionBuilder and typedSession add what differs (the key
// layout, window size and duplicates).

// timedBuilder is the part of WindowBuilder and SessionBuilder that does not
// depend on the store kind.
type timedBuilder[K, V any] struct {
	kind      string // "window" or "session", for messages
	name      string
	retention time.Duration
	ks        record.Serde[K]
	vs        record.Serde[V]
	caching   bool
	logging
}

// Name returns the store name.
func (b *timedBuilder[K, V]) Name() string { return b.name }

// Types returns K and V.
func (b *timedBuilder[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

// ChangelogConfig is compact,delete with the store's retention plus a day,
// as Kafka Streams configures window and session changelogs.
func (b *timedBuilder[K, V]) ChangelogConfig() map[string]string {
	return map[string]string{"cleanup.policy": "compact,delete",
		"retention.ms": fmt.Sprint(b.retention.Milliseconds() + changelogAdditionalRetention)}
}

// validate adds the serdes' problems to the supplier's.
func (b *timedBuilder[K, V]) validate(supplier error) error {
	if b.ks == nil || b.vs == nil {
		return errors.Join(supplier, fmt.Errorf("%s store %q: nil serde", b.kind, b.name))
	}
	return supplier
}

// build makes a new byte stack (segments of segments, whose keys carry the
// time timeOf reads and are at least minKeyLen long, then the changelog and
// cache layers as configured) and the façade part over it.
func (b *timedBuilder[K, V]) build(interval int64, segments SegmentSupplierFactory, timeOf func([]byte) int64, minKeyLen int) timedStore[K, V] {
	seg := newSegmented(b.name, b.retention.Milliseconds(), interval, timeOf, segments)
	seg.minKeyLen = minKeyLen
	inner := b.wrap(seg)
	if b.caching {
		inner = newCachedKV(inner)
	}
	return timedStore[K, V]{inner: inner, seg: seg, ks: b.ks, vs: b.vs, kd: newDecoder[K](b.ks), vd: newDecoder[V](b.vs),
		retention: b.retention.Milliseconds(), state: newWindowState(),
		vbuf: make([]byte, 0, 128)} // serializers get a non-nil dst: nil means null
}

// segmentIntervalOf is a supplier's segment interval: configured, or
// SegmentInterval(retention).
func segmentIntervalOf(configured, retention time.Duration) int64 {
	if configured > 0 {
		return configured.Milliseconds()
	}
	return SegmentInterval(retention.Milliseconds())
}

// segmentProblems are a supplier's problems with its segments.
func segmentProblems(kind, name string, interval time.Duration, segments SegmentSupplierFactory) []error {
	var errs []error
	if interval < 0 || (interval > 0 && interval < time.Millisecond) {
		errs = append(errs, fmt.Errorf("%s store %q: segment interval %v is under 1ms", kind, name, interval))
	}
	if segments == nil {
		errs = append(errs, fmt.Errorf("%s store %q: no segment supplier", kind, name))
	}
	return errs
}

// timedStore is the part of the window and session façades that does not
// depend on the store kind: the byte stack, serdes, retention, the observed
// stream time (state, shared with read-only views), the buffers keys and
// values are serialized into, and a read-only view's lock.
type timedStore[K, V any] struct {
	inner     KeyValueBytes
	seg       *segmentedKV
	ks        record.Serde[K]
	vs        record.Serde[V]
	kd        decoder[K]
	vd        decoder[V]
	retention int64
	state     *windowState
	kbuf      []byte
	kb2       []byte
	cbuf      []byte
	cbuf2     []byte
	vbuf      []byte
	cp        copies      // Fetch's copies for a retaining value deserializer
	mu        *sync.Mutex // set on read-only views
}

// readOnly returns the part of a read-only view of s: the same stores and
// state, buffers of its own, and a lock that serializes its reads.
func (s *timedStore[K, V]) readOnly() timedStore[K, V] {
	return timedStore[K, V]{inner: s.inner, seg: s.seg, ks: s.ks, vs: s.vs, kd: s.kd, vd: s.vd,
		retention: s.retention, state: s.state, mu: &sync.Mutex{}}
}

func (s *timedStore[K, V]) Name() string               { return s.inner.Name() }
func (s *timedStore[K, V]) Init(ctx InitContext) error { return s.inner.Init(ctx) }
func (s *timedStore[K, V]) Flush() error               { return s.inner.Flush() }
func (s *timedStore[K, V]) Close() error               { return s.inner.Close() }
func (s *timedStore[K, V]) Persistent() bool           { return s.inner.Persistent() }
func (s *timedStore[K, V]) RetentionPeriod() int64     { return s.retention }
func (s *timedStore[K, V]) ExpiredDrops() int64 {
	return s.state.expired.Load() + s.seg.ExpiredDrops()
}
func (s *timedStore[K, V]) Inner() KeyValueBytes { return s.inner }
func (s *timedStore[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

func (s *timedStore[K, V]) ObservedStreamTime() int64 {
	return max(s.state.observed.Load(), s.seg.ObservedStreamTime())
}

// liveFrom is the oldest window start (session end) still visible:
// observed - retention + 1, clamped, so a retention longer than the
// observed time keeps everything instead of wrapping.
func (s *timedStore[K, V]) liveFrom() int64 {
	obs := s.ObservedStreamTime()
	if obs <= noTime {
		return math.MinInt64
	}
	return record.SaturatingAdd(record.SaturatingSub(obs, s.retention), 1)
}

func (s *timedStore[K, V]) userKey(buf *[]byte, k K) ([]byte, error) {
	if *buf == nil {
		*buf = make([]byte, 0, 64)
	}
	b, err := s.ks.Serialize((*buf)[:0], k)
	if err != nil {
		return nil, fmt.Errorf("store %q: serialize key: %w", s.Name(), err)
	}
	if b == nil {
		return nil, fmt.Errorf("store %q: %w", s.Name(), ErrNullKey)
	}
	*buf = b[:0]
	return b, nil
}

// lock and unlock guard a read-only view's reads (no-ops otherwise);
// plain methods, so a deferred unlock allocates nothing.
func (s *timedStore[K, V]) lock() {
	if s.mu != nil {
		s.mu.Lock()
	}
}

func (s *timedStore[K, V]) unlock() {
	if s.mu != nil {
		s.mu.Unlock()
	}
}
