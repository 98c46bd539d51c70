package rdkbatch

/*
#include <stdlib.h>
#include "rdkbatch.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// OutMessage is one record for Writer.Write. A nil Key or Value is a null
// one, an empty non-nil one is empty.
type OutMessage struct {
	Topic string
	// Partition is the target partition; kafka.PartitionAny lets the
	// producer's partitioner pick (by key, murmur2_random in Millrace).
	Partition int32
	Key       []byte
	Value     []byte
	// Timestamp in milliseconds since the epoch; 0 stamps the produce
	// time (as confluent-kafka-go does for a zero time.Time).
	Timestamp int64
	Headers   []Header
}

// Writer produces batches of records through a confluent-kafka-go
// producer's own librdkafka client (NewWriter), or through a Producer of
// this package (NewProducerWriter), one cgo call per batch. With the
// wrapper, delivery reports arrive on the producer's Events channel
// exactly as for p.Produce(m, nil) (a *kafka.Message with no Opaque); with
// a Producer, it serves them. Either producer's Flush, Len, transactions
// and Close see these records like any other.
//
// Records are appended to a pending batch (copied at once, so the caller
// may reuse its buffers) and handed to librdkafka, in order, by Flush. The
// Writer holds no librdkafka object of its own (topics go by name), so it
// may be closed before or after the producer; nothing may be appended or
// flushed once the producer is closed. It is not safe for concurrent use.
type Writer struct {
	p      target
	st     *C.rdkw_state
	topics map[string]int32
	last   string // topic of the previous message, and its index
	lastIx int32
	names  []string // topic names by index

	// The pending batch: descs[head:] wait for Flush; their bytes are in
	// arena and their headers in hdescs, by offset.
	descs  []C.rdkw_msg
	head   int
	hdescs []C.rdkb_hdr
	arena  []byte
	cerr   C.int32_t // rdkw_produce's error (a field: a local passed to C would escape)
}

// target is the client a Writer produces through: begin admits a flush
// (its error says why not), end closes it.
type target interface {
	begin() error
	end()
	String() string
}

// wrapped is a confluent-kafka-go producer as a Writer's target.
type wrapped struct{ p *kafka.Producer }

func (w wrapped) begin() error {
	if w.p.IsClosed() {
		return fmt.Errorf("rdkbatch: producer %s is closed", w.p)
	}
	return nil
}

func (w wrapped) end() {}

func (w wrapped) String() string { return w.p.String() }

func (p *Producer) begin() error {
	if !p.enter() {
		return ErrProducerClosed
	}
	return nil
}

func (p *Producer) end() { p.exit() }

// NewWriter makes a Writer for p, a producer created by
// confluent-kafka-go v2.11.x; anything else is an error that says what
// did not match.
func NewWriter(p *kafka.Producer) (*Writer, error) {
	rk, err := producerOf(p)
	if err != nil {
		return nil, err
	}
	return newWriter(rk, wrapped{p})
}

// NewProducerWriter makes a Writer for this package's own Producer: its
// records' delivery reports are served by the Producer (Delivered,
// Offset, TakeFailures), and it may be closed before or after it; a
// Flush once the Producer's Close has begun fails with ErrProducerClosed.
func NewProducerWriter(p *Producer) (*Writer, error) {
	if p == nil {
		return nil, fmt.Errorf("rdkbatch: nil producer")
	}
	if err := p.begin(); err != nil {
		return nil, err
	}
	defer p.end()
	return newWriter(p.rk, p)
}

func newWriter(rk *C.rd_kafka_t, t target) (*Writer, error) {
	p := t
	st := C.rdkw_new(rk)
	if st == nil {
		return nil, fmt.Errorf("rdkbatch: writer for %s: out of memory", p)
	}
	// One spare byte: the arena pointer handed to C is never nil, so an
	// empty key stays empty.
	return &Writer{p: p, st: st, topics: map[string]int32{}, lastIx: -1, arena: make([]byte, 1, 4096)}, nil
}

// Append adds one record to the pending batch, copying its bytes. It fails
// only for a record without a topic, or when the Writer is closed.
func (w *Writer) Append(m *OutMessage) error {
	if w.st == nil {
		return ErrClosed
	}
	ix, err := w.topic(m.Topic)
	if err != nil {
		return err
	}
	w.descs = append(w.descs, C.rdkw_msg{})
	d := &w.descs[len(w.descs)-1]
	d.topic = C.int32_t(ix)
	d.partition = C.int32_t(m.Partition)
	d.timestamp = C.int64_t(m.Timestamp)
	d.key_off, d.key_len = w.put(m.Key)
	d.val_off, d.val_len = w.put(m.Value)
	d.hdr_first, d.hdr_cnt = C.int64_t(len(w.hdescs)), C.int32_t(len(m.Headers))
	for _, h := range m.Headers {
		var hd C.rdkb_hdr
		hd.key_off, hd.key_len = w.put(h.Key)
		if hd.key_len < 0 {
			hd.key_len = 0 // a header key is never null
		}
		hd.val_off, hd.val_len = w.put(h.Value)
		w.hdescs = append(w.hdescs, hd)
	}
	return nil
}

// AddHeader adds a header to the record appended last (a string key
// spares the caller a conversion). Without a pending record it does
// nothing.
func (w *Writer) AddHeader(key string, value []byte) {
	if w.Pending() == 0 {
		return
	}
	var hd C.rdkb_hdr
	hd.key_off = C.int64_t(len(w.arena))
	w.arena = append(w.arena, key...)
	hd.key_len = C.int64_t(len(key))
	hd.val_off, hd.val_len = w.put(value)
	w.hdescs = append(w.hdescs, hd)
	w.descs[len(w.descs)-1].hdr_cnt++
}

// Pending returns how many appended records wait for Flush.
func (w *Writer) Pending() int { return len(w.descs) - w.head }

// PendingBytes returns the bytes the pending records hold in the Writer.
func (w *Writer) PendingBytes() int { return len(w.arena) - 1 }

// Flush hands the pending records to librdkafka in order. It stops at the
// first record librdkafka refuses and returns its error, a kafka.Error
// naming the record's topic: the records before it are written, and it is
// the first pending record (Peek), to be flushed again (after
// kafka.ErrQueueFull: once deliveries have made room) or dropped (Skip).
func (w *Writer) Flush() error {
	if w.st == nil {
		return ErrClosed
	}
	n := w.Pending()
	if n == 0 {
		return nil
	}
	if err := w.p.begin(); err != nil {
		return err
	}
	var hp *C.rdkb_hdr
	if len(w.hdescs) > 0 {
		hp = &w.hdescs[0]
	}
	k := int(C.rdkw_produce(w.st, &w.descs[w.head], C.int64_t(n), (*C.char)(unsafe.Pointer(&w.arena[0])), hp, &w.cerr))
	w.p.end()
	w.head += k
	if w.cerr != 0 {
		code := kafka.ErrorCode(w.cerr)
		return kafka.NewError(code, fmt.Sprintf("produce to %s: %s", w.names[w.descs[w.head].topic], code), false)
	}
	w.reset()
	return nil
}

// Peek returns the first pending record; its slices point into the
// Writer and are valid until the next Append, Flush, Skip or Close. It
// returns false when nothing is pending.
func (w *Writer) Peek() (OutMessage, bool) {
	if w.Pending() == 0 {
		return OutMessage{}, false
	}
	d := &w.descs[w.head]
	m := OutMessage{Topic: w.names[d.topic], Partition: int32(d.partition), Timestamp: int64(d.timestamp),
		Key: w.bytes(d.key_off, d.key_len), Value: w.bytes(d.val_off, d.val_len)}
	for i := range int64(d.hdr_cnt) {
		h := &w.hdescs[int64(d.hdr_first)+i]
		m.Headers = append(m.Headers, Header{Key: w.bytes(h.key_off, h.key_len), Value: w.bytes(h.val_off, h.val_len)})
	}
	return m, true
}

// Skip drops the first pending record.
func (w *Writer) Skip() {
	if w.Pending() == 0 {
		return
	}
	w.head++
	if w.Pending() == 0 {
		w.reset()
	}
}

// Discard drops every pending record.
func (w *Writer) Discard() { w.reset() }

func (w *Writer) reset() {
	w.descs, w.head, w.hdescs, w.arena = w.descs[:0], 0, w.hdescs[:0], w.arena[:1]
}

func (w *Writer) bytes(off, n C.int64_t) []byte {
	if n < 0 {
		return nil
	}
	return w.arena[off : off+n : off+n]
}

// Write appends msgs and flushes them: it returns how many librdkafka
// took, and the first refusal's error (see Flush); the refused record and
// those after it are dropped from the Writer, so the caller writes
// msgs[n:] again (after kafka.ErrQueueFull) or gives up on them.
func (w *Writer) Write(msgs []OutMessage) (int, error) {
	if w.st == nil {
		return 0, ErrClosed
	}
	w.Discard()
	for i := range msgs {
		if err := w.Append(&msgs[i]); err != nil {
			w.Discard()
			return 0, err
		}
	}
	err := w.Flush()
	n := w.head
	if err == nil {
		n = len(msgs)
	}
	w.Discard()
	return n, err
}

// put copies b into the arena and returns its offset and length (-1 for
// nil).
func (w *Writer) put(b []byte) (C.int64_t, C.int64_t) {
	if b == nil {
		return 0, -1
	}
	off := len(w.arena)
	w.arena = append(w.arena, b...)
	return C.int64_t(off), C.int64_t(len(b))
}

// topic returns the index of a topic's name in the C state, adding it the
// first time.
func (w *Writer) topic(name string) (int32, error) {
	if name == w.last && w.lastIx >= 0 {
		return w.lastIx, nil
	}
	ix, ok := w.topics[name]
	if !ok {
		if name == "" {
			return 0, fmt.Errorf("rdkbatch: write: a record has no topic")
		}
		cn := C.CString(name)
		ix = int32(C.rdkw_topic(w.st, cn))
		C.free(unsafe.Pointer(cn))
		if ix < 0 {
			return 0, fmt.Errorf("rdkbatch: write: out of memory for topic %q", name)
		}
		w.topics[name] = ix
		w.names = append(w.names, name)
	}
	w.last, w.lastIx = name, ix
	return ix, nil
}

// Close frees the Writer; pending records are dropped, records already
// flushed stay with the producer. A second Close does nothing.
func (w *Writer) Close() error {
	if w.st == nil {
		return nil
	}
	C.rdkw_close(w.st)
	w.st = nil
	w.reset()
	return nil
}
