package store

import (
	"errors"
	"fmt"
	"math"
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
	// FindSessionsByEnd iterates the sessions of every key that end in
	// [earliestEnd, latestEnd] (Kafka Streams' findSessions by end time,
	// KIP-825), in the store's order: by serialized key, then end, then
	// start. It scans the whole store.
	FindSessionsByEnd(earliestEnd, latestEnd int64) (Iterator[Windowed[K], V], error)
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
	errs = append(errs, segmentProblems("session", s.Name, s.SegmentInterval, s.Segments)...)
	return errors.Join(errs...)
}

func (s SessionBytesSupplier) interval() int64 {
	return segmentIntervalOf(s.SegmentInterval, s.Retention)
}

// SessionBuilder builds typed session stores.
type SessionBuilder[K, V any] struct {
	timedBuilder[K, V]
	supplier SessionBytesSupplier
}

// NewSessionBuilder returns a builder of session stores over supplier.
func NewSessionBuilder[K, V any](supplier SessionBytesSupplier, keys record.Serde[K], values record.Serde[V]) *SessionBuilder[K, V] {
	return &SessionBuilder[K, V]{supplier: supplier, timedBuilder: timedBuilder[K, V]{kind: "session",
		name: supplier.Name, retention: supplier.Retention, ks: keys, vs: values}}
}

// WithLoggingDisabled builds stores without a changelog topic.
func (b *SessionBuilder[K, V]) WithLoggingDisabled() *SessionBuilder[K, V] {
	b.disabled = true
	return b
}

// WithCaching puts a write-back cache in front of the store.
func (b *SessionBuilder[K, V]) WithCaching() *SessionBuilder[K, V] {
	b.caching = true
	return b
}

// Validate checks the supplier and serdes.
func (b *SessionBuilder[K, V]) Validate() error { return b.validate(b.supplier.Validate()) }

// Build returns a fresh session store.
func (b *SessionBuilder[K, V]) Build() (StateStore, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &typedSession[K, V]{timedStore: b.build(b.supplier.interval(), b.supplier.Segments, sessionEndOf, keyTerminatorLen+sessionSuffixLen)}, nil
}

// typedSession is the typed façade of a session store.
type typedSession[K, V any] struct {
	timedStore[K, V]
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
	return getDecoded(s.inner, s.cbuf, s.vd, &s.cp)
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
	return &sessionIter[K, V]{in: it, s: s, earliestEnd: earliestEnd, latestStart: latestStart, latestEnd: math.MaxInt64}, nil
}

func (s *typedSession[K, V]) FindSessionsByEnd(earliestEnd, latestEnd int64) (Iterator[Windowed[K], V], error) {
	s.lock()
	defer s.unlock()
	earliestEnd = max(earliestEnd, s.liveFrom())
	if earliestEnd > latestEnd {
		return &sessionIter[K, V]{in: emptyIter{}, s: s}, nil
	}
	it, err := s.inner.Range(nil, nil, false)
	if err != nil {
		return nil, err
	}
	return &sessionIter[K, V]{in: it, s: s, earliestEnd: earliestEnd, latestStart: math.MaxInt64, latestEnd: latestEnd}, nil
}

type sessionIter[K, V any] struct {
	in                       Iterator[[]byte, []byte]
	s                        *typedSession[K, V]
	earliestEnd, latestStart int64
	latestEnd                int64
	k                        Windowed[K]
	v                        V
	err                      error
	cp                       copies
}

func (it *sessionIter[K, V]) Next() bool {
	for it.err == nil && it.in.Next() {
		c, vb := currentEntry(it.in)
		kb, start, end, err := parseSessionKey(c)
		if err != nil {
			it.err = fmt.Errorf("store %q: %w", it.s.Name(), err)
			return false
		}
		if end < it.earliestEnd || start > it.latestStart || end > it.latestEnd {
			continue
		}
		k, err := it.s.kd.decodeOwned(kb) // parseSessionKey made kb
		if err != nil {
			it.err = fmt.Errorf("store %q: deserialize key: %w", it.s.Name(), err)
			return false
		}
		v, err := it.s.vd.decode(vb, &it.cp)
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
