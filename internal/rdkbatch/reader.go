package rdkbatch

/*
#include <stdlib.h>
#include "rdkbatch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ErrClosed is returned by a Reader's methods after Close.
var ErrClosed = errors.New("rdkbatch: reader closed")

// Config configures a Reader. The zero value reads without headers into a
// reused arena.
type Config struct {
	// Headers copies each message's headers into Message.Headers. Off,
	// headers are not looked at (librdkafka parses them only when asked).
	Headers bool
	// Retain gives every Read its own arena, so Key, Value and Headers
	// stay valid after the next Read, for as long as the caller keeps
	// them; that costs one allocation per Read (two with headers). Off,
	// they point into buffers the next Read overwrites.
	Retain bool
}

// Message is one consumed record, or a per-partition consumer error (Err
// set; its Key, Value and Headers are nil). Key, Value and the Headers'
// bytes point into the Reader's arena: valid until the next Read unless
// Config.Retain. A nil Key or Value is a null one; an empty non-nil one is
// empty.
type Message struct {
	Topic         string
	Partition     int32
	Offset        int64
	Timestamp     int64 // milliseconds since the epoch; -1 when not available
	TimestampType kafka.TimestampType
	LeaderEpoch   int32 // -1 when unknown
	Key, Value    []byte
	Headers       []Header
	Err           error // a kafka.Error
}

// Header is one record header; a nil Value is a null one.
type Header struct {
	Key   []byte
	Value []byte
}

// partitionKey names a partition routed to a Reader.
type partitionKey struct {
	topic     string
	partition int32
}

// Reader consumes a confluent-kafka-go consumer's assigned partitions in
// batches, through librdkafka's batch API on a queue of its own (see the
// package doc for why that keeps rebalances, pause, seek and offsets
// intact). It is not safe for concurrent use: use it from the goroutine
// that polls the consumer, and Close it before closing the consumer.
type Reader struct {
	c     *kafka.Consumer
	st    *C.rdkb_state
	cfg   Config
	added map[partitionKey]struct{}

	metas  []C.rdkb_meta
	topics []C.rdkb_topic
	hdescs []C.rdkb_hdr
	arena  []byte   // reused arena (not Retain)
	hdrs   []Header // reused headers (not Retain)
	names  []string // topic names seen, to build Topic without allocating
	batch  []string // the current batch's topic table, resolved
	res    C.rdkb_result
}

// New makes a Reader for c. c must be a group consumer (group.id set)
// created by confluent-kafka-go v2.11.x; anything else is an error that
// says what did not match. Partitions reach the Reader only once passed to
// Add; until then they are delivered by c.Poll as before.
func New(c *kafka.Consumer, cfg Config) (*Reader, error) {
	rk, err := clientOf(c)
	if err != nil {
		return nil, err
	}
	var errstr [256]C.char
	st := C.rdkb_new(rk, &errstr[0], C.size_t(len(errstr)))
	if st == nil {
		return nil, fmt.Errorf("rdkbatch: consumer %s: %s", c, C.GoString(&errstr[0]))
	}
	return &Reader{c: c, st: st, cfg: cfg, added: map[partitionKey]struct{}{}}, nil
}

// Add routes partitions to the Reader from now on, for the life of the
// consumer: librdkafka never hands a partition that an application routed
// back to the consumer queue by itself. Call it before the partitions are
// assigned (before Assign or IncrementalAssign in the rebalance callback):
// a partition already fetching would have its older messages in c.Poll's
// queue and its newer ones here. Adding a partition twice does nothing.
func (r *Reader) Add(tps []kafka.TopicPartition) error {
	if r.st == nil {
		return ErrClosed
	}
	for _, tp := range tps {
		if tp.Topic == nil {
			return fmt.Errorf("rdkbatch: add: partition %d has no topic", tp.Partition)
		}
		k := partitionKey{*tp.Topic, tp.Partition}
		if _, ok := r.added[k]; ok {
			continue
		}
		ct := C.CString(k.topic)
		rc := C.rdkb_add(r.st, ct, C.int32_t(k.partition))
		C.free(unsafe.Pointer(ct))
		if rc != 0 {
			return fmt.Errorf("rdkbatch: add %s[%d]: librdkafka has no queue for it", k.topic, k.partition)
		}
		r.added[k] = struct{}{}
	}
	return nil
}

// Read fills buf with up to len(buf) messages of the added partitions and
// returns how many. It waits up to timeout (negative: without limit) for
// the first one, and returns 0 early when the consumer's own queue has
// something for c.Poll (a rebalance, an error, a message of a partition
// not added): call c.Poll(0) after every Read until it returns nil, so
// events are served as promptly as a Poll loop serves them. Per-partition
// consumer errors come as messages with Err set; the error returned is for
// the Reader or the consumer as a whole.
func (r *Reader) Read(timeout time.Duration, buf []Message) (int, error) {
	if r.st == nil {
		return 0, ErrClosed
	}
	if r.c.IsClosed() {
		return 0, fmt.Errorf("rdkbatch: consumer %s is closed", r.c)
	}
	if len(buf) == 0 {
		return 0, nil
	}
	r.ensure(len(buf))
	ms := -1
	if timeout >= 0 {
		ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<30))
	}
	var arena []byte
	var hdescs []C.rdkb_hdr
	if !r.cfg.Retain {
		arena, hdescs = r.arena, r.hdescs
	}
	res := &r.res
	r.call(ms, len(buf), arena, hdescs, res)
	if res.short_buf != 0 {
		// The batch is taken and kept on the C side; size the buffers and
		// hand it over now, so no message stays behind when Read returns.
		need, hneed := int(res.arena_need), int(res.hdr_need)
		if r.cfg.Retain {
			arena, hdescs = make([]byte, need), r.hdescs
			if hneed > len(hdescs) {
				hdescs = make([]C.rdkb_hdr, hneed)
				r.hdescs = hdescs
			}
		} else {
			if need > len(arena) {
				r.arena = make([]byte, max(need, 2*len(r.arena)))
			}
			if hneed > len(r.hdescs) {
				r.hdescs = make([]C.rdkb_hdr, max(hneed, 2*len(r.hdescs)))
			}
			arena, hdescs = r.arena, r.hdescs
		}
		r.call(0, len(buf), arena, hdescs, res)
	}
	if res.err != 0 {
		return 0, fmt.Errorf("rdkbatch: consume from %s: %w", r.c, kafka.NewError(kafka.ErrorCode(res.err), C.GoString(C.rd_kafka_err2str(C.rd_kafka_resp_err_t(res.err))), false))
	}
	if res.short_buf != 0 {
		// Cannot happen: the second call had what the first asked for.
		return 0, fmt.Errorf("rdkbatch: consume from %s: buffers still short after sizing", r.c)
	}
	n := int(res.n)
	r.resolveTopics(arena, int(res.topics))
	hdrs := r.headers(hdescs, arena, n)
	for i := range n {
		fill(&buf[i], &r.metas[i], arena, hdrs, r.batch)
	}
	return n, nil
}

// call runs one rdkb_read over the Reader's buffers.
func (r *Reader) call(ms, maxN int, arena []byte, hdescs []C.rdkb_hdr, res *C.rdkb_result) {
	var ap *C.char
	if len(arena) > 0 {
		ap = (*C.char)(unsafe.Pointer(&arena[0]))
	}
	var hp *C.rdkb_hdr
	if len(hdescs) > 0 {
		hp = &hdescs[0]
	}
	want := C.int(0)
	if r.cfg.Headers {
		want = 1
	}
	C.rdkb_read(r.st, C.int(ms), C.int(maxN), want, &r.metas[0], ap, C.int64_t(len(arena)),
		hp, C.int64_t(len(hdescs)), &r.topics[0], res)
}

// ensure sizes the per-message tables for batches of n.
func (r *Reader) ensure(n int) {
	if len(r.metas) < n {
		r.metas = make([]C.rdkb_meta, n)
		r.topics = make([]C.rdkb_topic, n)
	}
}

// resolveTopics turns the batch's topic table into strings, allocating
// only for a topic never seen before.
func (r *Reader) resolveTopics(arena []byte, n int) {
	r.batch = r.batch[:0]
	for i := range n {
		t := r.topics[i]
		b := arena[t.off : t.off+t.len]
		name := ""
		for _, s := range r.names {
			if s == string(b) {
				name = s
				break
			}
		}
		if name == "" {
			if len(r.names) >= 4096 {
				r.names = r.names[:0] // topics churn (a pattern subscription): start over
			}
			name = string(b)
			r.names = append(r.names, name)
		}
		r.batch = append(r.batch, name)
	}
}

// headers builds the batch's Header values: in the reused slice, or in a
// fresh one under Retain.
func (r *Reader) headers(hdescs []C.rdkb_hdr, arena []byte, n int) []Header {
	total := 0
	for i := range n {
		total += int(r.metas[i].hdr_cnt)
	}
	if total == 0 {
		return nil
	}
	var hs []Header
	if r.cfg.Retain {
		hs = make([]Header, total)
	} else {
		if len(r.hdrs) < total {
			r.hdrs = make([]Header, max(total, 2*len(r.hdrs)))
		}
		hs = r.hdrs[:total]
	}
	for i := range total {
		d := &hdescs[i]
		hs[i] = Header{Key: view(arena, int64(d.key_off), int64(d.key_len)), Value: view(arena, int64(d.val_off), int64(d.val_len))}
	}
	return hs
}

// fill writes one message from its description.
func fill(m *Message, md *C.rdkb_meta, arena []byte, hdrs []Header, topics []string) {
	m.Topic = ""
	if md.topic >= 0 {
		m.Topic = topics[md.topic]
	}
	m.Partition = int32(md.partition)
	m.Offset = int64(md.offset)
	m.Timestamp = int64(md.timestamp)
	m.TimestampType = kafka.TimestampType(md.tstype)
	m.LeaderEpoch = int32(md.leader_epoch)
	m.Headers = nil
	if md.hdr_cnt > 0 {
		f := int(md.hdr_first)
		m.Headers = hdrs[f : f+int(md.hdr_cnt) : f+int(md.hdr_cnt)]
	}
	if md.err != 0 {
		m.Key, m.Value = nil, nil
		text := string(view(arena, int64(md.val_off), int64(md.val_len)))
		m.Err = kafka.NewError(kafka.ErrorCode(md.err), text, false)
		return
	}
	m.Err = nil
	m.Key = view(arena, int64(md.key_off), int64(md.key_len))
	m.Value = view(arena, int64(md.val_off), int64(md.val_len))
}

// empty is the value of an empty, non-null key, value or header.
var empty = []byte{}

// view is arena[off:off+n] capped at its length, or nil for n < 0, so an
// append to one value never writes over the next.
func view(arena []byte, off, n int64) []byte {
	if n < 0 {
		return nil
	}
	if n == 0 {
		return empty
	}
	return arena[off : off+n : off+n]
}

// Partitions returns how many partitions are routed to the Reader.
func (r *Reader) Partitions() int {
	if r.st == nil {
		return 0
	}
	return int(C.rdkb_partitions(r.st))
}

// queued returns how many ops (messages, mostly) wait in the Reader's
// queue.
func (r *Reader) queued() int64 {
	if r.st == nil {
		return 0
	}
	return int64(C.rdkb_queued(r.st))
}

// Close routes every added partition, and what the Reader's queue still
// holds, back to the consumer queue, in order, so c.Poll delivers them.
// librdkafka clears a route when a partition's fetcher stops and, for a
// partition an application once routed, never sets the consumer-queue
// route again by itself: a partition revoked and assigned again after
// Close is not fetched into any queue. Close is therefore for shutting
// down, right before c.Close; a second Close does nothing.
func (r *Reader) Close() error {
	if r.st == nil {
		return nil
	}
	C.rdkb_close(r.st)
	r.st = nil
	return nil
}
