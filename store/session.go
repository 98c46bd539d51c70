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

// ReadOnlySessionStore is the read side of a SessionStore. A session is a
// Windowed key whose Start and End are the first and last record times, both
// inclusive. Iteration is by serialized key, then session end, then start.
type ReadOnlySessionStore[K, V any] interface {
	// FetchSession returns the value of one exact session.
	FetchSession(key K, start, end int64) (V, bool, error)
	// FindSessions iterates key's sessions that end at or after
	// earliestEnd and start at or before latestStart: the sessions a record
	// could merge with.
	FindSessions(key K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error)
	BackwardFindSessions(key K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error)
	// FindSessionsKeyRange is FindSessions over keys in [keyFrom, keyTo].
	FindSessionsKeyRange(keyFrom, keyTo K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error)
	// Fetch iterates every live session of key.
	Fetch(key K) (Iterator[Windowed[K], V], error)
	BackwardFetch(key K) (Iterator[Windowed[K], V], error)
}

// SessionStore keeps one value per session (key, start, end), for a
// retention period counted from the session end.
type SessionStore[K, V any] interface {
	StateStore
	ReadOnlySessionStore[K, V]
	// Put stores value for the session; a value that serializes to null
	// removes it. A put whose session has expired (end <= observed stream
	// time - retention) is dropped and counted.
	Put(session Windowed[K], value V) error
	// Remove deletes the session.
	Remove(session Windowed[K]) error
	RetentionPeriod() int64
	ExpiredDrops() int64
	ObservedStreamTime() int64
}

// SessionBytesSupplier describes the byte layer of session stores.
type SessionBytesSupplier struct {
	Name      string
	Retention time.Duration
	// SegmentInterval; zero means SegmentInterval(retention).
	SegmentInterval time.Duration
	Segments        SegmentSupplierFactory
}

// InMemorySession returns the supplier of in-memory session stores.
func InMemorySession(name string, retention time.Duration) SessionBytesSupplier {
	return SessionBytesSupplier{Name: name, Retention: retention, Segments: InMemorySegments}
}

// Validate checks the supplier.
func (s SessionBytesSupplier) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("session store needs a name"))
	}
	if s.Retention < time.Millisecond {
		errs = append(errs, fmt.Errorf("session store %q: retention %v is under 1ms", s.Name, s.Retention))
	}
	if s.SegmentInterval < 0 || (s.SegmentInterval > 0 && s.SegmentInterval < time.Millisecond) {
		errs = append(errs, fmt.Errorf("session store %q: segment interval %v is under 1ms", s.Name, s.SegmentInterval))
	}
	if s.Segments == nil {
		errs = append(errs, fmt.Errorf("session store %q: no segment supplier", s.Name))
	}
	return errors.Join(errs...)
}

func (s SessionBytesSupplier) interval() int64 {
	if s.SegmentInterval > 0 {
		return s.SegmentInterval.Milliseconds()
	}
	return SegmentInterval(s.Retention.Milliseconds())
}

// SessionBuilder builds typed session stores.
type SessionBuilder[K, V any] struct {
	supplier SessionBytesSupplier
	ks       record.Serde[K]
	vs       record.Serde[V]
	caching  bool
	logging
}

// NewSessionBuilder returns a builder of session stores over supplier.
func NewSessionBuilder[K, V any](supplier SessionBytesSupplier, keys record.Serde[K], values record.Serde[V]) *SessionBuilder[K, V] {
	return &SessionBuilder[K, V]{supplier: supplier, ks: keys, vs: values}
}

// WithLoggingDisabled builds stores without a changelog topic.
func (b *SessionBuilder[K, V]) WithLoggingDisabled() *SessionBuilder[K, V] {
	b.disabled = true
	return b
}

// ChangelogConfig is compact,delete with the store's retention plus a day,
// as Kafka Streams configures window and session changelogs.
func (b *SessionBuilder[K, V]) ChangelogConfig() map[string]string {
	return map[string]string{"cleanup.policy": "compact,delete",
		"retention.ms": fmt.Sprint(b.supplier.Retention.Milliseconds() + changelogAdditionalRetention)}
}

// WithCaching puts a write-back cache in front of the store.
func (b *SessionBuilder[K, V]) WithCaching() *SessionBuilder[K, V] {
	b.caching = true
	return b
}

// Name returns the store name.
func (b *SessionBuilder[K, V]) Name() string { return b.supplier.Name }

// Types returns K and V.
func (b *SessionBuilder[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

// Validate checks the supplier and serdes.
func (b *SessionBuilder[K, V]) Validate() error {
	err := b.supplier.Validate()
	if b.ks == nil || b.vs == nil {
		err = errors.Join(err, fmt.Errorf("session store %q: nil serde", b.supplier.Name))
	}
	return err
}

// Build returns a fresh session store.
func (b *SessionBuilder[K, V]) Build() (StateStore, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	seg := newSegmented(b.supplier.Name, b.supplier.Retention.Milliseconds(), b.supplier.interval(), sessionEndOf, b.supplier.Segments)
	seg.minKeyLen = keyTerminatorLen + sessionSuffixLen
	inner := b.wrap(seg)
	if b.caching {
		inner = newCachedKV(inner)
	}
	return &typedSession[K, V]{inner: inner, seg: seg, ks: b.ks, vs: b.vs, kd: newDecoder[K](b.ks), vd: newDecoder[V](b.vs),
		retention: b.supplier.Retention.Milliseconds(), state: newWindowState(),
		vbuf: make([]byte, 0, 128)}, nil // serializers get a non-nil dst: nil means null
}

type typedSession[K, V any] struct {
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
	mu        *sync.Mutex // set on read-only views
}

func (s *typedSession[K, V]) Name() string               { return s.inner.Name() }
func (s *typedSession[K, V]) Init(ctx InitContext) error { return s.inner.Init(ctx) }
func (s *typedSession[K, V]) Flush() error               { return s.inner.Flush() }
func (s *typedSession[K, V]) Close() error               { return s.inner.Close() }
func (s *typedSession[K, V]) Persistent() bool           { return s.inner.Persistent() }
func (s *typedSession[K, V]) RetentionPeriod() int64     { return s.retention }
func (s *typedSession[K, V]) ExpiredDrops() int64 {
	return s.state.expired.Load() + s.seg.ExpiredDrops()
}
func (s *typedSession[K, V]) Inner() KeyValueBytes { return s.inner }
func (s *typedSession[K, V]) Types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

func (s *typedSession[K, V]) ObservedStreamTime() int64 {
	return max(s.state.observed.Load(), s.seg.ObservedStreamTime())
}

func (s *typedSession[K, V]) liveFrom() int64 {
	obs := s.ObservedStreamTime()
	if obs <= noTime {
		return math.MinInt64
	}
	return obs - s.retention + 1
}

// lock and unlock guard a read-only view's reads (no-ops otherwise);
// plain methods, so a deferred unlock allocates nothing.
func (s *typedSession[K, V]) lock() {
	if s.mu != nil {
		s.mu.Lock()
	}
}

func (s *typedSession[K, V]) unlock() {
	if s.mu != nil {
		s.mu.Unlock()
	}
}

func (s *typedSession[K, V]) userKey(buf *[]byte, k K) ([]byte, error) {
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

func (s *typedSession[K, V]) Put(session Windowed[K], value V) error {
	if session.End < session.Start {
		return fmt.Errorf("store %q: session %v ends before it starts", s.Name(), session)
	}
	kb, err := s.userKey(&s.kbuf, session.Key)
	if err != nil {
		return err
	}
	vb, err := s.vs.Serialize(s.vbuf[:0], value)
	if err != nil {
		return fmt.Errorf("store %q: serialize value: %w", s.Name(), err)
	}
	if vb != nil {
		s.vbuf = vb[:0]
		for {
			o := s.state.observed.Load()
			if session.End <= o || s.state.observed.CompareAndSwap(o, session.End) {
				break
			}
		}
	}
	if session.End < s.liveFrom() {
		if vb != nil {
			s.state.expired.Add(1)
		}
		return nil
	}
	s.cbuf = sessionKey(s.cbuf[:0], kb, session.Start, session.End)
	return s.inner.Put(s.cbuf, vb)
}

func (s *typedSession[K, V]) Remove(session Windowed[K]) error {
	kb, err := s.userKey(&s.kbuf, session.Key)
	if err != nil {
		return err
	}
	s.cbuf = sessionKey(s.cbuf[:0], kb, session.Start, session.End)
	return s.inner.Put(s.cbuf, nil)
}

func (s *typedSession[K, V]) FetchSession(key K, start, end int64) (V, bool, error) {
	s.lock()
	defer s.unlock()
	var zero V
	if end < s.liveFrom() {
		return zero, false, nil
	}
	kb, err := s.userKey(&s.kbuf, key)
	if err != nil {
		return zero, false, err
	}
	s.cbuf = sessionKey(s.cbuf[:0], kb, start, end)
	return getDecoded(s.inner, s.cbuf, s.vd)
}

func (s *typedSession[K, V]) FindSessions(key K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error) {
	return s.find(key, key, earliestEnd, latestStart, false)
}

func (s *typedSession[K, V]) BackwardFindSessions(key K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error) {
	return s.find(key, key, earliestEnd, latestStart, true)
}

func (s *typedSession[K, V]) FindSessionsKeyRange(keyFrom, keyTo K, earliestEnd, latestStart int64) (Iterator[Windowed[K], V], error) {
	return s.find(keyFrom, keyTo, earliestEnd, latestStart, false)
}

func (s *typedSession[K, V]) Fetch(key K) (Iterator[Windowed[K], V], error) {
	return s.find(key, key, math.MinInt64, math.MaxInt64, false)
}

func (s *typedSession[K, V]) BackwardFetch(key K) (Iterator[Windowed[K], V], error) {
	return s.find(key, key, math.MinInt64, math.MaxInt64, true)
}

func (s *typedSession[K, V]) find(keyFrom, keyTo K, earliestEnd, latestStart int64, reverse bool) (Iterator[Windowed[K], V], error) {
	s.lock()
	defer s.unlock()
	earliestEnd = max(earliestEnd, s.liveFrom())
	fb, err := s.userKey(&s.kbuf, keyFrom)
	if err != nil {
		return nil, err
	}
	tb, err := s.userKey(&s.kb2, keyTo)
	if err != nil {
		return nil, err
	}
	s.cbuf = sessionKey(s.cbuf[:0], fb, math.MinInt64, earliestEnd)
	s.cbuf2 = sessionKey(s.cbuf2[:0], tb, math.MaxInt64, math.MaxInt64)
	it, err := s.inner.Range(s.cbuf, s.cbuf2, reverse)
	if err != nil {
		return nil, err
	}
	return &sessionIter[K, V]{in: it, s: s, earliestEnd: earliestEnd, latestStart: latestStart}, nil
}

type sessionIter[K, V any] struct {
	in                       Iterator[[]byte, []byte]
	s                        *typedSession[K, V]
	earliestEnd, latestStart int64
	k                        Windowed[K]
	v                        V
	err                      error
}

func (it *sessionIter[K, V]) Next() bool {
	for it.err == nil && it.in.Next() {
		kb, start, end, err := parseSessionKey(it.in.Key())
		if err != nil {
			it.err = fmt.Errorf("store %q: %w", it.s.Name(), err)
			return false
		}
		if end < it.earliestEnd || start > it.latestStart {
			continue
		}
		k, err := it.s.kd.decodeOwned(kb) // parseSessionKey made kb
		if err != nil {
			it.err = fmt.Errorf("store %q: deserialize key: %w", it.s.Name(), err)
			return false
		}
		v, err := it.s.vd.decode(it.in.Value())
		if err != nil {
			it.err = fmt.Errorf("store %q: deserialize value: %w", it.s.Name(), err)
			return false
		}
		it.k, it.v = Windowed[K]{Key: k, Start: start, End: end}, v
		return true
	}
	return false
}

func (it *sessionIter[K, V]) Key() Windowed[K] { return it.k }
func (it *sessionIter[K, V]) Value() V         { return it.v }
func (it *sessionIter[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.in.Err()
}
func (it *sessionIter[K, V]) Close() error { return it.in.Close() }
