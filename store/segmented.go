package store

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
)

// SegmentSupplier opens and removes the byte stores that hold one segmented
// store's segments. A segment is a whole store (a RocksDB instance, or a
// map), so expiring a segment drops it whole instead of deleting keys one by
// one.
type SegmentSupplier interface {
	// Open returns the opened segment called name, creating it if needed.
	Open(name string) (KeyValueBytes, error)
	// Destroy removes the data of a closed segment.
	Destroy(name string) error
	// Existing lists the segments already present, for reopening a
	// persistent store.
	Existing() ([]string, error)
	// Persistent reports whether segments outlive the process.
	Persistent() bool
}

// SegmentSupplierFactory makes the SegmentSupplier of one store instance when
// it opens; ctx locates the task's state directory.
type SegmentSupplierFactory func(ctx InitContext, storeName string) (SegmentSupplier, error)

// InMemorySegments is the SegmentSupplierFactory of in-memory segments.
func InMemorySegments(InitContext, string) (SegmentSupplier, error) { return memSegments{}, nil }

type memSegments struct{}

func (memSegments) Open(name string) (KeyValueBytes, error) {
	s := NewInMemoryKeyValueBytes(name)
	return s, s.Init(InitContext{Logger: zap.NewNop()})
}
func (memSegments) Destroy(string) error        { return nil }
func (memSegments) Existing() ([]string, error) { return nil, nil }
func (memSegments) Persistent() bool            { return false }

// segmentedKV is a KeyValueBytes over composite keys that carry a time; the
// time picks the segment (time / interval). It keeps the segments from
// observedTime - retention on and drops older ones whole; a write into an
// expired segment is dropped and counted. Iteration merges the segments in
// key order, so it matches a single store's order.
type segmentedKV struct {
	mu          sync.RWMutex
	name        string
	retention   int64
	interval    int64
	timeOf      func(key []byte) int64
	newSupplier SegmentSupplierFactory
	sup         SegmentSupplier
	logger      *zap.Logger
	segs        map[int64]KeyValueBytes
	// observed is written under the write lock and read without one by
	// ObservedStreamTime, which window stores ask on every read and write.
	observed atomic.Int64
	minLive  int64 // segments below this id are expired
	expired  atomic.Int64
	open     bool
	closed   bool

	// minKeyLen is the length of the shortest composite key: timeOf reads
	// the time at the end of a key, so shorter keys (garbage from a
	// changelog, or a caller of the byte store) are refused first.
	minKeyLen int
}

// SegmentInterval returns Kafka Streams' default segment interval for a
// retention: half the retention, at least one minute (milliseconds).
func SegmentInterval(retention int64) int64 { return max(retention/2, 60_000) }

func newSegmented(name string, retention, interval int64, timeOf func([]byte) int64, sup SegmentSupplierFactory) *segmentedKV {
	s := &segmentedKV{name: name, retention: retention, interval: interval, timeOf: timeOf,
		newSupplier: sup, minLive: noTime}
	s.observed.Store(noTime)
	return s
}

func (s *segmentedKV) Name() string { return s.name }

func (s *segmentedKV) Persistent() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sup != nil && s.sup.Persistent()
}

func (s *segmentedKV) Init(ctx InitContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store %q: Init after Close: %w", s.name, ErrClosed)
	}
	if s.open {
		return fmt.Errorf("store %q: initialized twice", s.name)
	}
	sup, err := s.newSupplier(ctx, s.name)
	if err != nil {
		return fmt.Errorf("store %q: %w", s.name, err)
	}
	s.sup, s.logger, s.segs = sup, ctx.Logger, map[int64]KeyValueBytes{}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	names, err := sup.Existing()
	if err != nil {
		return fmt.Errorf("store %q: list segments: %w", s.name, err)
	}
	for _, n := range names {
		id, ok := s.segmentIDOf(n)
		if !ok {
			continue
		}
		seg, err := sup.Open(n)
		if err != nil {
			s.closeSegments()
			return fmt.Errorf("store %q: open segment %q: %w", s.name, n, err)
		}
		s.segs[id] = seg
	}
	s.open = true
	return nil
}

func (s *segmentedKV) segmentName(id int64) string {
	return s.name + "." + strconv.FormatInt(s.segmentStart(id), 10)
}

// segmentStart is the first time of segment id, id·interval, clamped at
// math.MinInt64: the segment holding math.MinInt64 starts below it unless
// the interval divides 2^63. (Ids are floorDiv(t, interval), so id·interval
// <= t never passes math.MaxInt64.)
func (s *segmentedKV) segmentStart(id int64) int64 {
	if id < math.MinInt64/s.interval {
		return math.MinInt64
	}
	return id * s.interval
}

func (s *segmentedKV) segmentIDOf(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, s.name+".")
	if !ok {
		return 0, false
	}
	start, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, false
	}
	if start == math.MinInt64 { // a clamped start (see segmentStart), or an exact one
		return floorDiv(start, s.interval), true
	}
	if start%s.interval != 0 {
		return 0, false
	}
	return start / s.interval, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// checkKey refuses a nil key, or one too short to be a composite key.
func (s *segmentedKV) checkKey(key []byte) error {
	switch {
	case key == nil:
		return fmt.Errorf("store %q: %w", s.name, ErrNullKey)
	case len(key) < s.minKeyLen:
		return fmt.Errorf("store %q: %w: %d bytes, the shortest is %d", s.name, errBadCompositeKey, len(key), s.minKeyLen)
	}
	return nil
}

func (s *segmentedKV) check() error { return lifecycleErr(s.name, s.open, s.closed) }

// Wiped reports whether any segment was wiped when it opened.
func (s *segmentedKV) Wiped() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, seg := range s.segs {
		if w, ok := seg.(interface{ Wiped() bool }); ok && w.Wiped() {
			return true
		}
	}
	return false
}

// ObservedStreamTime returns the largest time written, or a very small value
// before the first write. It takes no lock: one atomic load.
func (s *segmentedKV) ObservedStreamTime() int64 { return s.observed.Load() }

// ExpiredDrops counts writes dropped because their segment had expired.
func (s *segmentedKV) ExpiredDrops() int64 { return s.expired.Load() }

// observe advances observed time and drops segments that expired; the caller
// holds the write lock.
func (s *segmentedKV) observe(t int64) {
	if t <= s.observed.Load() {
		return
	}
	s.observed.Store(t)
	// Clamped: a retention longer than t keeps everything (ids stay
	// ordered; a wrapped difference would expire every segment).
	minLive := floorDiv(record.SaturatingSub(t, s.retention), s.interval)
	if minLive <= s.minLive {
		return
	}
	s.minLive = minLive
	for id, seg := range s.segs {
		if id < minLive {
			name := s.segmentName(id)
			if err := seg.Close(); err != nil {
				s.logger.Warn("closing expired segment", zap.String("segment", name), zap.Error(err))
			}
			if err := s.sup.Destroy(name); err != nil {
				s.logger.Warn("removing expired segment", zap.String("segment", name), zap.Error(err))
			}
			delete(s.segs, id)
		}
	}
}

// segmentFor returns the segment for time t, creating it if live; nil if the
// segment has expired.
func (s *segmentedKV) segmentFor(t int64, create bool) (KeyValueBytes, error) {
	return s.segmentByID(floorDiv(t, s.interval), create)
}

// segmentByID is segmentFor by segment id.
func (s *segmentedKV) segmentByID(id int64, create bool) (KeyValueBytes, error) {
	if id < s.minLive {
		return nil, nil
	}
	if seg, ok := s.segs[id]; ok || !create {
		return seg, nil
	}
	seg, err := s.sup.Open(s.segmentName(id))
	if err != nil {
		return nil, fmt.Errorf("store %q: open segment: %w", s.name, err)
	}
	s.segs[id] = seg
	return seg, nil
}

func (s *segmentedKV) Get(key []byte) ([]byte, bool, error) {
	v, ok, _, err := s.get(key, false)
	return v, ok, err
}

func (s *segmentedKV) getShared(key []byte) ([]byte, bool, bool, error) { return s.get(key, true) }

// get reads key from its segment, with a shared read if shared (see
// sharedReader), else with the segment's Get.
func (s *segmentedKV) get(key []byte, shared bool) ([]byte, bool, bool, error) {
	if err := s.checkKey(key); err != nil {
		return nil, false, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, false, false, err
	}
	seg, err := s.segmentFor(s.timeOf(key), false)
	if seg == nil || err != nil {
		return nil, false, false, err
	}
	if shared {
		return getShared(seg, key)
	}
	v, ok, err := seg.Get(key)
	return v, ok, false, err
}

func (s *segmentedKV) Put(key, value []byte) error {
	return s.Write([]Entry{{Key: key, Value: value}})
}

func (s *segmentedKV) Delete(key []byte) ([]byte, bool, error) {
	if err := s.checkKey(key); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, false, err
	}
	seg, err := s.segmentFor(s.timeOf(key), false)
	if seg == nil || err != nil {
		return nil, false, err
	}
	return seg.Delete(key)
}

func (s *segmentedKV) Write(batch []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, e := range batch {
		if err := s.checkKey(e.Key); err != nil {
			return err
		}
	}
	if len(batch) == 1 {
		return s.writeOne(batch[0])
	}
	// A batch is one commit of a cache: whatever its order, an entry whose
	// segment had expired before the batch is dropped and counted; entries
	// live before the batch but in segments that the batch's own newest
	// time expires are gone with their segment, as if written one by one in
	// time order.
	groups := map[int64][]Entry{}
	var order []int64
	newest := s.observed.Load()
	for _, e := range batch {
		t := s.timeOf(e.Key)
		id := floorDiv(t, s.interval)
		if id < s.minLive {
			if e.Value != nil {
				s.dropExpired(1, id)
			}
			continue
		}
		if e.Value != nil && t > newest {
			newest = t
		}
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], e)
	}
	s.observe(newest)
	for _, id := range order {
		if id < s.minLive {
			continue
		}
		seg, err := s.segmentByID(id, true)
		if err != nil {
			return err
		}
		if err := seg.Write(groups[id]); err != nil {
			return err
		}
	}
	return nil
}

func (s *segmentedKV) writeOne(e Entry) error {
	t := s.timeOf(e.Key)
	if e.Value != nil {
		s.observe(t)
	}
	seg, err := s.segmentFor(t, e.Value != nil)
	if err != nil {
		return err
	}
	if seg == nil {
		if e.Value != nil && floorDiv(t, s.interval) < s.minLive {
			s.dropExpired(1, floorDiv(t, s.interval))
		}
		return nil
	}
	return seg.Put(e.Key, e.Value)
}

func (s *segmentedKV) dropExpired(n int, id int64) {
	s.expired.Add(int64(n))
	s.logger.Debug("dropping writes to an expired segment", zap.String("store", s.name),
		zap.Int64("segment_start", s.segmentStart(id)), zap.Int("records", n),
		zap.Int64("observed_stream_time", s.observed.Load()))
}

// liveSegments returns the segments in id order; the caller holds a lock.
func (s *segmentedKV) liveSegments() []KeyValueBytes {
	ids := s.sortedIDs()
	out := make([]KeyValueBytes, len(ids))
	for i, id := range ids {
		out[i] = s.segs[id]
	}
	return out
}

// Range iterates composite keys from..to. With both bounds set, only the
// segments between the bounds' times are read: the window and session
// façades filter entries outside that time span anyway, so segments wholly
// outside it cannot contribute.
func (s *segmentedKV) Range(from, to []byte, reverse bool) (Iterator[[]byte, []byte], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	for _, bound := range [2][]byte{from, to} {
		if err := s.checkKey(bound); bound != nil && err != nil {
			return nil, err
		}
	}
	var segs []KeyValueBytes
	if from != nil && to != nil {
		lo, hi := floorDiv(s.timeOf(from), s.interval), floorDiv(s.timeOf(to), s.interval)
		var buf [4]KeyValueBytes // a key's time range spans few segments
		segs = s.segmentsBetween(buf[:0], lo, hi)
		if len(segs) == 1 { // the common case: no merge, nothing allocated here
			return segs[0].Range(from, to, reverse)
		}
	} else {
		segs = s.liveSegments()
	}
	return mergeSegments(segs, reverse, func(seg KeyValueBytes) (Iterator[[]byte, []byte], error) {
		return seg.Range(from, to, reverse)
	})
}

// segmentsBetween appends to out the live segments with ids in [lo, hi], in
// id order; the caller holds a lock.
func (s *segmentedKV) segmentsBetween(out []KeyValueBytes, lo, hi int64) []KeyValueBytes {
	if hi < lo {
		return out
	}
	if span := hi - lo; span >= 0 && span < int64(len(s.segs)) { // span < 0: overflow
		// Stop at hi rather than stepping past it: hi may be MaxInt64.
		for id := lo; ; id++ {
			if seg, ok := s.segs[id]; ok {
				out = append(out, seg)
			}
			if id == hi {
				return out
			}
		}
	}
	for _, id := range s.sortedIDs() {
		if id >= lo && id <= hi {
			out = append(out, s.segs[id])
		}
	}
	return out
}

func (s *segmentedKV) sortedIDs() []int64 {
	ids := make([]int64, 0, len(s.segs))
	for id := range s.segs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *segmentedKV) PrefixScan(prefix []byte) (Iterator[[]byte, []byte], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	return mergeSegments(s.liveSegments(), false, func(seg KeyValueBytes) (Iterator[[]byte, []byte], error) {
		return seg.PrefixScan(prefix)
	})
}

func (s *segmentedKV) ApproximateNumEntries() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int64
	for _, seg := range s.segs {
		c, err := seg.ApproximateNumEntries()
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

func (s *segmentedKV) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, seg := range s.segs {
		if err := seg.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// FlushToDisk makes every segment durable on disk.
func (s *segmentedKV) FlushToDisk() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, seg := range s.segs {
		if err := FlushToDisk(seg); err != nil {
			return err
		}
	}
	return nil
}

func (s *segmentedKV) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeSegments()
}

func (s *segmentedKV) closeSegments() error {
	var first error
	for id, seg := range s.segs {
		if err := seg.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.segs, id)
	}
	return first
}

// mergeSegments opens one iterator per segment and merges them by key.
func mergeSegments(segs []KeyValueBytes, reverse bool, open func(KeyValueBytes) (Iterator[[]byte, []byte], error)) (Iterator[[]byte, []byte], error) {
	its := make([]Iterator[[]byte, []byte], 0, len(segs))
	for _, seg := range segs {
		it, err := open(seg)
		if err != nil {
			for _, o := range its {
				o.Close()
			}
			return nil, err
		}
		its = append(its, it)
	}
	switch len(its) {
	case 0:
		return emptyIter{}, nil
	case 1:
		return its[0], nil
	}
	return newMergeIter(its, reverse, nil), nil
}
