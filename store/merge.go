package store

import (
	"bytes"
	"sync/atomic"
)

// mergeIter merges sorted iterators into one, in key order (descending if
// reverse): each step yields the smallest current key among the sources.
// On equal keys the source listed first wins and the others skip theirs,
// and a winning entry its source marks deleted (a cache snapshot's delete)
// hides the key. The caching layer merges its snapshot (first) with the
// store under it; a segmented store merges its segments, whose keys are
// disjoint, so neither rule applies to them. Key and Value are the winning
// source's, valid until Next, as every source's are.
type mergeIter struct {
	its     []Iterator[[]byte, []byte]
	live    []bool
	started bool
	cur     int // the winning source, -1 before the first entry and after the last
	reverse bool
	err     error
	closed  *atomic.Bool // if set (a cache's), a closed store yields nothing more
}

// deleter is implemented by sources that may yield deletes (a cache
// snapshot): entries that hide the key in the sources after them.
type deleter interface{ deleted() bool }

func newMergeIter(its []Iterator[[]byte, []byte], reverse bool, closed *atomic.Bool) *mergeIter {
	return &mergeIter{its: its, live: make([]bool, len(its)), cur: -1, reverse: reverse, closed: closed}
}

// advance moves source i; false on an error, which Next then returns.
func (m *mergeIter) advance(i int) bool {
	m.live[i] = m.its[i].Next()
	if err := m.its[i].Err(); err != nil {
		m.err = err
		return false
	}
	return true
}

func (m *mergeIter) Next() bool {
	prev := m.cur
	m.cur = -1
	if m.err != nil || m.closed != nil && m.closed.Load() {
		return false
	}
	if !m.started {
		m.started = true
		for i := range m.its {
			if !m.advance(i) {
				return false
			}
		}
	} else if prev >= 0 && !m.advance(prev) {
		return false
	}
	for {
		win := -1
		for i, it := range m.its {
			if m.live[i] && it.Key() == nil { // its store was closed under it
				m.live[i] = false
			}
			if !m.live[i] {
				continue
			}
			if win < 0 {
				win = i
				continue
			}
			c := bytes.Compare(it.Key(), m.its[win].Key())
			if m.reverse {
				c = -c
			}
			if c < 0 {
				win = i
			}
		}
		if win < 0 {
			return false
		}
		for j := win + 1; j < len(m.its); j++ { // sources after the winner skip its key
			if m.live[j] && bytes.Equal(m.its[j].Key(), m.its[win].Key()) && !m.advance(j) {
				return false
			}
		}
		if d, ok := m.its[win].(deleter); ok && d.deleted() {
			if !m.advance(win) {
				return false
			}
			continue
		}
		m.cur = win
		return true
	}
}

func (m *mergeIter) Key() []byte {
	if m.cur < 0 {
		return nil
	}
	return m.its[m.cur].Key()
}

func (m *mergeIter) Value() []byte {
	if m.cur < 0 {
		return nil
	}
	return m.its[m.cur].Value()
}

func (m *mergeIter) Err() error { return m.err }

func (m *mergeIter) Close() error {
	var first error
	for _, it := range m.its {
		if err := it.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// snapshotEntry is one cache entry as a Range saw it; a nil value is a
// delete.
type snapshotEntry struct {
	key   string
	value []byte
}

// snapshotIter walks a cache snapshot, in the order it was taken, copying
// each entry into its own buffers (the values are the cache's).
type snapshotIter struct {
	entries    []snapshotEntry
	pos        int
	key, value []byte
	cur        bool
	del        bool
}

func (s *snapshotIter) Next() bool {
	s.cur = s.pos < len(s.entries)
	if !s.cur {
		return false
	}
	e := s.entries[s.pos]
	s.pos++
	s.key, s.del = copyInto(s.key, e.key), e.value == nil
	if !s.del {
		s.value = copyInto(s.value, e.value)
	}
	return true
}

func (s *snapshotIter) Key() []byte {
	if !s.cur {
		return nil
	}
	return s.key
}

func (s *snapshotIter) Value() []byte {
	if !s.cur || s.del {
		return nil
	}
	return s.value
}

func (s *snapshotIter) deleted() bool { return s.cur && s.del }
func (s *snapshotIter) Err() error    { return nil }
func (s *snapshotIter) Close() error  { s.entries = nil; return nil }
