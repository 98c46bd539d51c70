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
// producer's own librdkafka client, one cgo call per batch. Delivery
// reports arrive on the producer's Events channel exactly as for
// p.Produce(m, nil) (a *kafka.Message with no Opaque), and the producer's
// Flush, Len, transactions and Close see these records like any other. It
// is not safe for concurrent use; Close it before closing the producer.
type Writer struct {
	p      *kafka.Producer
	st     *C.rdkw_state
	topics map[string]int32
	last   string // topic of the previous message, and its index
	lastIx int32

	descs  []C.rdkw_msg
	hdescs []C.rdkb_hdr
	arena  []byte
}

// NewWriter makes a Writer for p, a producer created by
// confluent-kafka-go v2.11.x; anything else is an error that says what
// did not match.
func NewWriter(p *kafka.Producer) (*Writer, error) {
	rk, err := producerOf(p)
	if err != nil {
		return nil, err
	}
	st := C.rdkw_new(rk)
	if st == nil {
		return nil, fmt.Errorf("rdkbatch: writer for %s: out of memory", p)
	}
	return &Writer{p: p, st: st, topics: map[string]int32{}, lastIx: -1}, nil
}

// Write hands msgs to librdkafka in order, copying them (the caller may
// reuse them at once), and returns how many it took. It stops at the
// first record librdkafka refuses: the error is a kafka.Error naming that
// record's topic; with code kafka.ErrQueueFull the caller waits for
// deliveries (or polls) and writes msgs[n:] again.
func (w *Writer) Write(msgs []OutMessage) (int, error) {
	if w.st == nil {
		return 0, ErrClosed
	}
	if w.p.IsClosed() {
		return 0, fmt.Errorf("rdkbatch: producer %s is closed", w.p)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(w.descs) < len(msgs) {
		w.descs = make([]C.rdkw_msg, len(msgs))
	}
	need, nh := 1, 0 // one spare byte: the arena pointer is never nil, so an empty key stays empty
	for i := range msgs {
		m := &msgs[i]
		need += len(m.Key) + len(m.Value)
		for _, h := range m.Headers {
			need += len(h.Key) + len(h.Value)
		}
		nh += len(m.Headers)
	}
	if len(w.arena) < need {
		w.arena = make([]byte, max(need, 2*len(w.arena)))
	}
	if len(w.hdescs) < nh {
		w.hdescs = make([]C.rdkb_hdr, max(nh, 2*len(w.hdescs)))
	}
	used, hused := int64(0), int64(0)
	for i := range msgs {
		m := &msgs[i]
		ix, err := w.topic(m.Topic)
		if err != nil {
			return 0, err
		}
		d := &w.descs[i]
		d.topic = C.int32_t(ix)
		d.partition = C.int32_t(m.Partition)
		d.timestamp = C.int64_t(m.Timestamp)
		d.key_off, d.key_len = w.put(&used, m.Key)
		d.val_off, d.val_len = w.put(&used, m.Value)
		d.hdr_first, d.hdr_cnt = C.int64_t(hused), C.int32_t(len(m.Headers))
		for _, h := range m.Headers {
			hd := &w.hdescs[hused]
			hused++
			hd.key_off, hd.key_len = w.put(&used, h.Key)
			if hd.key_len < 0 {
				hd.key_len = 0 // a header key is never null
			}
			hd.val_off, hd.val_len = w.put(&used, h.Value)
		}
	}
	var hp *C.rdkb_hdr
	if nh > 0 {
		hp = &w.hdescs[0]
	}
	var cerr C.int32_t
	n := int(C.rdkw_produce(w.st, &w.descs[0], C.int64_t(len(msgs)), (*C.char)(unsafe.Pointer(&w.arena[0])), hp, &cerr))
	if cerr != 0 {
		code := kafka.ErrorCode(cerr)
		return n, kafka.NewError(code, fmt.Sprintf("produce to %s: %s", msgs[n].Topic, code), false)
	}
	return n, nil
}

// put copies b into the arena and returns its offset and length (-1 for
// nil).
func (w *Writer) put(used *int64, b []byte) (C.int64_t, C.int64_t) {
	if b == nil {
		return 0, -1
	}
	off := *used
	copy(w.arena[off:], b)
	*used += int64(len(b))
	return C.int64_t(off), C.int64_t(len(b))
}

// topic returns the index of the Writer's reference to a topic, taking
// one the first time.
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
			return 0, fmt.Errorf("rdkbatch: write: librdkafka refused topic %q", name)
		}
		w.topics[name] = ix
	}
	w.last, w.lastIx = name, ix
	return ix, nil
}

// Close drops the Writer's topic references; records already written
// stay with the producer. A second Close does nothing.
func (w *Writer) Close() error {
	if w.st == nil {
		return nil
	}
	C.rdkw_close(w.st)
	w.st = nil
	return nil
}
