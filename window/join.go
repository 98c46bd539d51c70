package window

import (
	"encoding/binary"
	"fmt"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// JoinKind is inner, left or outer.
type JoinKind int

const (
	// InnerJoin emits only pairs.
	InnerJoin JoinKind = iota
	// LeftJoin also emits a left record that found no pair, once its join
	// window has closed (with a nil right value).
	LeftJoin
	// OuterJoin emits unmatched records of both sides, once their windows
	// have closed.
	OuterJoin
)

// Joiner combines a left and a right value; in left and outer joins one of
// them may be absent (nil). The pointers are valid only during the call
// (the join reuses what they point to), so copy the values, not the
// pointers, into anything kept.
type Joiner[K, V1, V2, VR any] func(key K, left *V1, right *V2) VR

// JoinStoreNames names the three stores of a join: the left and right
// buffers, and (for left and outer joins) the buffer of unmatched records.
type JoinStoreNames struct {
	Left, Right, Unmatched string
}

// JoinStores returns the store builders a join needs: both sides' buffers
// (window stores keeping duplicates, retained for the join window plus
// grace) and the unmatched buffer (a changelogged key-value store). Register
// each and connect them to both join processors. Nil backends are the
// in-memory ones.
//
// The side buffers (JoinBufferBuilder) keep an in-memory index of their
// last retention period in front of the window store: Join reads the
// other side from it, and writes reach the store (and its changelog) in
// one batch when the task commits, except records that expired before the
// commit, which no read could return any more. The index is rebuilt from
// the store when the join's processors initialize, after restoration. Its
// size is what the join holds anyway: every record of the last before +
// after + grace of stream time, decoded.
func JoinStores[K, V1, V2 any](windows WindowBackend, kv KeyValueBackend, names JoinStoreNames, w JoinWindows, keys record.Serde[K], lefts record.Serde[V1], rights record.Serde[V2]) []store.Builder {
	size := w.size()
	windows, kv = windows.orInMemory(), kv.orInMemory()
	out := []store.Builder{
		newJoinBufferBuilder(windows(names.Left, w.Retention(), size, true), keys, lefts),
		newJoinBufferBuilder(windows(names.Right, w.Retention(), size, true), keys, rights),
	}
	if names.Unmatched != "" {
		out = append(out, newUnmatchedBufferBuilder(kv(names.Unmatched)))
	}
	return out
}

// Join returns the two processors of a stream-stream join of kind within w:
// feed the left stream to the first and the right stream to the second, and
// give both the same child. A left record at t pairs with every right
// record of its key in [t - before, t + after] (and the other way round);
// each pair is joined with joiner and timestamped with the later of the
// two. Records with a null key or value are dropped and counted. For left
// and outer joins, a record that found no pair is emitted once its window
// has closed (t + lookahead + grace < stream time), never earlier. A nil
// joiner makes the processors' Init fail with ErrNilFunction; left and
// outer joins with an unmatched buffer also need all three serdes.
func Join[K, V1, V2, VR any](kind JoinKind, w JoinWindows, names JoinStoreNames, joiner Joiner[K, V1, V2, VR],
	keys record.Serde[K], lefts record.Serde[V1], rights record.Serde[V2]) (processor.Supplier[K, V1, K, VR], processor.Supplier[K, V2, K, VR]) {
	shared := joinShared[K, V1, V2, VR]{kind: kind, w: w, names: names, joiner: joiner, keys: keys, lefts: lefts, rights: rights}
	left := func() processor.Processor[K, V1, K, VR] {
		return &joinSide[K, V1, V2, V1, V2, VR]{joinShared: shared, left: true, thisName: names.Left, otherName: names.Right,
			lookahead: w.after, otherFrom: w.before, otherTo: w.after, thisSer: lefts,
			join: func(k K, this *V1, other *V2) VR { return joiner(k, this, other) }}
	}
	right := func() processor.Processor[K, V2, K, VR] {
		return &joinSide[K, V1, V2, V2, V1, VR]{joinShared: shared, left: false, thisName: names.Right, otherName: names.Left,
			lookahead: w.before, otherFrom: w.after, otherTo: w.before, thisSer: rights,
			join: func(k K, this *V2, other *V1) VR { return joiner(k, other, this) }}
	}
	return left, right
}

type joinShared[K, V1, V2, VR any] struct {
	kind   JoinKind
	w      JoinWindows
	names  JoinStoreNames
	joiner Joiner[K, V1, V2, VR]
	keys   record.Serde[K]
	lefts  record.Serde[V1]
	rights record.Serde[V2]
}

// joinSide is one side: VT is this side's value type, VO the other's.
type joinSide[K, V1, V2, VT, VO, VR any] struct {
	joinShared[K, V1, V2, VR]
	left                bool
	thisName, otherName string
	// lookahead is how far after a record of this side a pair may come
	// (after for the left side, before for the right side); other
	// records pair from t-otherFrom to t+otherTo.
	lookahead, otherFrom, otherTo int64
	join                          func(k K, this *VT, other *VO) VR
	thisSer                       record.Serializer[VT]
	ctx                           processor.Context[K, VR]
	this                          store.WindowStore[K, VT]
	other                         store.WindowStore[K, VO]
	// otherBuf is other when it is a join buffer (JoinStores builds
	// them): its index answers the fetches, into hits.
	otherBuf   *joinBuffer[K, VO]
	hits       []bufHit[VO]
	unmatched  store.KeyValueStore[[]byte, []byte]
	kbuf, ubuf []byte
	vbuf       []byte
	ebuf, lbuf []byte // emitExpired's scan bounds
	// scanned is the stream time of this side's last emitExpired: every
	// unmatched record left then or stored since has ts + lookahead +
	// grace >= it (closed ones are emitted, never stored), so the next scan
	// starts at scanned - the longer lookahead - grace and never walks the
	// deleted records below (tombstones, on RocksDB).
	scanned int64
	// thisVal and otherVal hold the values whose addresses go to the
	// joiner: fields, so taking the addresses allocates nothing.
	thisVal  VT
	otherVal VO
}

const (
	sideLeft  = 0
	sideRight = 1
	// unmatchedKeyMin is the shortest unmatched-buffer key: timestamp,
	// side and offset around an empty key.
	unmatchedKeyMin = 8 + 1 + 8
)

func (j *joinSide[K, V1, V2, VT, VO, VR]) Init(ctx processor.Context[K, VR]) (err error) {
	j.ctx = ctx
	if j.joiner == nil {
		return nilFunc("Join: joiner")
	}
	if j.kind != InnerJoin && j.names.Unmatched != "" && (j.keys == nil || j.lefts == nil || j.rights == nil) {
		return fmt.Errorf("%w: Join: the unmatched buffer %q needs key, left and right serdes", record.ErrSerde, j.names.Unmatched)
	}
	if j.this, err = processor.WindowStore[K, VT](ctx, j.thisName); err != nil {
		return err
	}
	if j.other, err = processor.WindowStore[K, VO](ctx, j.otherName); err != nil {
		return err
	}
	// Both buffers were restored before Init: their indexes are rebuilt
	// from them now (once per task, whichever side initializes first).
	if tb, ok := j.this.(*joinBuffer[K, VT]); ok && !tb.loaded {
		if err := tb.load(); err != nil {
			return err
		}
	}
	if ob, ok := j.other.(*joinBuffer[K, VO]); ok {
		j.otherBuf = ob
		if !ob.loaded {
			if err := ob.load(); err != nil {
				return err
			}
		}
	}
	if j.kind != InnerJoin && j.names.Unmatched != "" {
		if j.unmatched, err = processor.KeyValueStore[[]byte, []byte](ctx, j.names.Unmatched); err != nil {
			return err
		}
		if um, ok := j.unmatched.(*unmatchedBuffer); ok && !um.loaded {
			if err := um.load(); err != nil {
				return err
			}
		}
	}
	j.kbuf, j.ubuf, j.vbuf = make([]byte, 0, 32), make([]byte, 0, 64), make([]byte, 0, 128)
	return nil
}

// tracksUnmatched reports whether unmatched records of this side are
// emitted: the left side of left and outer joins, the right side of outer
// joins.
func (j *joinSide[K, V1, V2, VT, VO, VR]) tracksUnmatched() bool {
	return j.unmatched != nil && (j.kind == OuterJoin || (j.kind == LeftJoin && j.left))
}

func (j *joinSide[K, V1, V2, VT, VO, VR]) side() byte {
	if j.left {
		return sideLeft
	}
	return sideRight
}

// unmatchedKey is [timestamp 8][side 1][key bytes][offset 8]: time order
// first, so expired records are found from the start.
func (j *joinSide[K, V1, V2, VT, VO, VR]) unmatchedKey(dst []byte, ts int64, side byte, key []byte, offset int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = append(dst, side)
	dst = append(dst, key...)
	return binary.BigEndian.AppendUint64(dst, uint64(offset))
}

func (j *joinSide[K, V1, V2, VT, VO, VR]) Process(r record.Record[K, VT]) error {
	if skip(j.ctx, r) {
		return nil
	}
	ts, key := r.Timestamp(), r.Key()
	streamTime := j.ctx.StreamTime()
	// A late record still joins what the other side holds; the buffers'
	// retention (join window + grace) decides what is still there, as in
	// Kafka Streams. Its own window may have closed already: then nothing
	// can pair with it any more, and an unmatched result goes out at once.
	closed := j.closedBy(ts, j.lookahead, streamTime)
	if err := j.this.Put(key, r.Value(), ts); err != nil {
		return err
	}
	if j.unmatched != nil {
		if err := j.emitExpired(streamTime); err != nil {
			return err
		}
	}
	from, to := j.otherRange(ts)
	matched := false
	var seen []int64
	pair := func(otherTS int64, other VO) error {
		matched = true
		j.thisVal, j.otherVal = r.Value(), other
		out, err := record.New(key, j.join(key, &j.thisVal, &j.otherVal), max(ts, otherTS))
		if err != nil {
			return err
		}
		if err := j.ctx.Forward(out.WithHeaders(r.Headers())); err != nil {
			return err
		}
		if j.unmatched != nil && (len(seen) == 0 || seen[len(seen)-1] != otherTS) {
			seen = append(seen, otherTS)
		}
		return nil
	}
	if j.otherBuf != nil {
		// The matches are copied out before anything is forwarded: what
		// runs downstream cannot change what is being iterated.
		hits, err := j.otherBuf.fetch(j.hits[:0], key, from, to)
		j.hits = hits
		if err != nil {
			return err
		}
		for i := range hits {
			if err := pair(hits[i].ts, hits[i].value); err != nil {
				clear(j.hits)
				return err
			}
		}
		clear(j.hits) // let go of the values
	} else {
		it, err := j.other.FetchRange(key, from, to)
		if err != nil {
			return err
		}
		for it.Next() {
			if err := pair(it.Key(), it.Value()); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Err(); err != nil {
			it.Close()
			return err
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	// The other side's records that just found a pair are no longer
	// unmatched.
	for _, ots := range seen {
		if err := j.forgetUnmatched(ots, 1-j.side(), key); err != nil {
			return err
		}
	}
	if matched || !j.tracksUnmatched() {
		return nil
	}
	this := r.Value()
	if closed {
		j.thisVal = this
		o, err := record.New(key, j.join(key, &j.thisVal, nil), ts)
		if err != nil {
			return err
		}
		return j.ctx.Forward(o)
	}
	md, _ := j.ctx.RecordMetadata()
	kb, err := j.keys.Serialize(j.kbuf[:0], key)
	if err != nil {
		return err
	}
	j.kbuf = kb[:0]
	vb, err := j.thisSer.Serialize(j.vbuf[:0], this)
	if err != nil {
		return err
	}
	if vb != nil {
		j.vbuf = vb[:0]
	}
	j.ubuf = j.unmatchedKey(j.ubuf[:0], ts, j.side(), kb, md.Offset)
	return j.unmatched.Put(j.ubuf, append([]byte{}, vb...))
}

// otherRange is the window of the other side's timestamps that pair with a
// record of this side at ts: [ts - otherFrom, ts + otherTo], both clamped
// (to 0, as timestamps are never negative, and to MaxInt64; an upper bound
// of MaxInt64 means "every later record", which is what ts + otherTo past
// MaxInt64 means too).
func (j *joinSide[K, V1, V2, VT, VO, VR]) otherRange(ts int64) (from, to int64) {
	return max(0, record.SaturatingSub(ts, j.otherFrom)), record.SaturatingAdd(ts, j.otherTo)
}

// closedBy reports whether the join window of a record at ts, with the
// given lookahead, has closed at streamTime: ts + lookahead + grace <
// streamTime. The clamped sum is exact for "<": a window whose close time
// is past MaxInt64 never closes.
func (j *joinSide[K, V1, V2, VT, VO, VR]) closedBy(ts, lookahead, streamTime int64) bool {
	return record.SaturatingAdd(record.SaturatingAdd(ts, lookahead), j.w.grace) < streamTime
}

// forgetUnmatched removes the unmatched entries of (ts, side, key).
func (j *joinSide[K, V1, V2, VT, VO, VR]) forgetUnmatched(ts int64, side byte, key K) error {
	kb, err := j.keys.Serialize(j.kbuf[:0], key)
	if err != nil {
		return err
	}
	j.kbuf = kb[:0]
	prefix := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(kb)), uint64(ts))
	prefix = append(append(prefix, side), kb...)
	it, err := j.unmatched.PrefixScan(prefix)
	if err != nil {
		return err
	}
	var drop [][]byte
	for it.Next() {
		k := it.Key()
		if len(k) == len(prefix)+8 { // not another key that merely starts alike
			drop = append(drop, append([]byte{}, k...))
		}
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	it.Close()
	for _, k := range drop {
		if _, _, err := j.unmatched.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// emitExpired emits, oldest first, the unmatched records whose join window
// has closed.
func (j *joinSide[K, V1, V2, VT, VO, VR]) emitExpired(streamTime int64) error {
	// Only records older than this can be due (the side with the shorter
	// lookahead closes first): the scan stops there, not at the end.
	bound := record.SaturatingSub(record.SaturatingSub(streamTime, min(j.w.after, j.w.before)), j.w.grace)
	if bound <= 0 {
		return nil
	}
	lower := max(0, record.SaturatingSub(record.SaturatingSub(j.scanned, max(j.w.after, j.w.before)), j.w.grace))
	j.scanned = max(j.scanned, streamTime)
	if lower >= bound {
		return nil
	}
	j.lbuf = binary.BigEndian.AppendUint64(j.lbuf[:0], uint64(lower))
	j.ebuf = binary.BigEndian.AppendUint64(j.ebuf[:0], uint64(bound))
	it, err := j.unmatched.Range(j.lbuf, j.ebuf)
	if err != nil {
		return err
	}
	type due struct {
		key, value []byte
	}
	var expired []due
	open := [2]bool{}
	for it.Next() {
		k := it.Key()
		// The buffer is a store anyone can write, and a changelog anyone
		// can produce to: check the layout before indexing into it.
		if len(k) < unmatchedKeyMin || k[8] > sideRight {
			it.Close()
			return fmt.Errorf("%w: join buffer %q holds entry %x, not [timestamp 8][side 1][key][offset 8]",
				record.ErrSerde, j.names.Unmatched, k)
		}
		ts, side := int64(binary.BigEndian.Uint64(k)), k[8]
		lookahead := j.w.after
		if side == sideRight {
			lookahead = j.w.before
		}
		if !j.closedBy(ts, lookahead, streamTime) {
			open[side] = true
			if open[0] && open[1] {
				break
			}
			continue
		}
		if open[side] {
			continue
		}
		expired = append(expired, due{append([]byte{}, k...), append([]byte{}, it.Value()...)})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return err
	}
	it.Close()
	for _, e := range expired {
		if err := j.emitUnmatched(e.key, e.value); err != nil {
			return err
		}
		if _, _, err := j.unmatched.Delete(e.key); err != nil {
			return err
		}
	}
	return nil
}

func (j *joinSide[K, V1, V2, VT, VO, VR]) emitUnmatched(k, v []byte) error {
	ts, side := int64(binary.BigEndian.Uint64(k)), k[8]
	key, err := j.keys.Deserialize(k[9 : len(k)-8])
	if err != nil {
		return err
	}
	var out VR
	if side == sideLeft {
		lv, err := j.lefts.Deserialize(v)
		if err != nil {
			return err
		}
		out = j.joiner(key, &lv, nil)
	} else {
		rv, err := j.rights.Deserialize(v)
		if err != nil {
			return err
		}
		out = j.joiner(key, nil, &rv)
	}
	r, err := record.New(key, out, ts)
	if err != nil {
		return err
	}
	return j.ctx.Forward(r)
}

func (j *joinSide[K, V1, V2, VT, VO, VR]) Close() error { return nil }
