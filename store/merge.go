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
	shared  []sharedIterator // its[i] as a sharedIterator, or nil
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
	m := &mergeIter{its: its, shared: make([]sharedIterator, len(its)), live: make([]bool, len(its)),
		cur: -1, reverse: reverse, closed: closed}
	for i, it := range its {
		m.shared[i], _ = it.(sharedIterator)
	}
	return m
}

// key is source i's current key, without a copy where it allows.
func (m *mergeIter) key(i int) []byte {
	if s := m.shared[i]; s != nil {
		return s.sharedKey()
	}
	return m.its[i].Key()
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
		var winKey []byte
		for i := range m.its {
			if !m.live[i] {
				continue
			}
			k := m.key(i)
			if k == nil { // its store was closed under it
				m.live[i] = false
				continue
			}
			if win < 0 {
				win, winKey = i, k
				continue
			}
			c := bytes.Compare(k, winKey)
			if m.reverse {
				c = -c
			}
			if c < 0 {
				win, winKey = i, k
			}
		}
		if win < 0 {
			return false
		}
		for j := win + 1; j < len(m.its); j++ { // sources after the winner skip its key
			if m.live[j] && bytes.Equal(m.key(j), winKey) && !m.advance(j) {
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

func (m *mergeIter) sharedKey() []byte {
	if m.cur < 0 {
		return nil
	}
	return m.key(m.cur)
}

func (m *mergeIter) sharedValue() []byte {
	if m.cur < 0 {
		return nil
	}
	if s := m.shared[m.cur]; s != nil {
		return s.sharedValue()
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

// snapshotIter walks a cache snapshot, in the order it was taken. Its
// entries are the cache's own (unchanging, see sharedReader): Key and Value
// hand out copies in its buffers.
type snapshotIter struct {
	entries    []snapshotEntry
	pos        int
	e          snapshotEntry
	key, value []byte
	cur        bool
}

func (s *snapshotIter) Next() bool {
	s.cur = s.pos < len(s.entries)
	if !s.cur {
		return false
	}
	s.e = s.entries[s.pos]
	s.pos++
	return true
}

func (s *snapshotIter) Key() []byte {
	if !s.cur {
		return nil
	}
	s.key = copyInto(s.key, s.e.key)
	return s.key
}

func (s *snapshotIter) Value() []byte {
	if !s.cur || s.e.value == nil {
		return nil
	}
	s.value = copyInto(s.value, s.e.value)
	return s.value
}

func (s *snapshotIter) sharedKey() []byte {
	if !s.cur {
		return nil
	}
	return stringBytes(s.e.key)
}

func (s *snapshotIter) sharedValue() []byte {
	if !s.cur {
		return nil
	}
	return s.e.value
}

func (s *snapshotIter) deleted() bool { return s.cur && s.e.value == nil }
func (s *snapshotIter) Err() error    { return nil }
func (s *snapshotIter) Close() error  { s.entries = nil; return nil }
