package rdkbatch

/*
#include <stdlib.h>
#include "rdkbatch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ErrProducerClosed is the error of a call on a Producer once its Close
// has begun.
var ErrProducerClosed = errors.New("rdkbatch: producer closed")

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	// Properties are librdkafka's, by name, as strings (bootstrap.servers,
	// linger.ms, enable.idempotence, transactional.id, ...). log.queue is
	// set by the Producer; properties of confluent-kafka-go's own ("go.*")
	// are not librdkafka's and are refused by it.
	Properties map[string]string
	// Notify, if set, is called from the poll goroutine after a poll that
	// acknowledged records or queued failures, tracked outcomes or notes;
	// it must not block (a non-blocking send on a channel of one).
	Notify func()
	// Log, if set, receives the client's log lines, from the poll
	// goroutine, in the order librdkafka wrote them; without it they are
	// dropped. Errors are not logged: TakeErrors returns them.
	Log func(LogLine)
	// PollTimeout is the longest a poll waits for an event; it bounds how
	// long Close waits for the poll goroutine. Default 20 ms.
	PollTimeout time.Duration
}

// LogLine is one of the client's log lines.
type LogLine struct {
	Client  string // the client's name (Producer.String)
	Level   int    // syslog level: 3 error, 4 warning, 6 info, 7 debug
	Tag     string
	Message string
}

// Failure is a record whose delivery failed, with its bytes (nil: null).
type Failure struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
	Headers   []Header
	// Timestamp in milliseconds, -1 when not known.
	Timestamp int64
	// Opaque is the value given to Produce (0 for records of a Writer).
	Opaque uint64
	// Err is a kafka.Error with the delivery's error code.
	Err kafka.Error
}

// Ack is the outcome of a record produced with a tracked opaque
// (TrackedOpaque or above): Err is nil once it is acknowledged.
type Ack struct {
	ID  uint64
	Err error
}

// TrackedOpaque is the lowest tracked opaque: a record produced with one
// is not counted by Delivered and never queued as a Failure; its outcome
// is an Ack (TakeAcks).
const TrackedOpaque uint64 = 1 << 32

// Producer is a librdkafka producer of this package's own, made from a
// string configuration, whose delivery reports are served in C: a
// successful delivery costs a count and a per-partition highest offset,
// with no Go allocation and no cgo call of its own; failures, errors and
// log lines are copied out for Go to take in batches.
//
// Invariants: one goroutine polls the client, and it alone serves
// delivery reports (the client is in event mode, so librdkafka's own
// flush, also inside a transaction commit, waits for it rather than
// serving them). Delivered, Offset and the Take calls see a poll's
// reports all at once (one lock per poll, none per record). Writers may
// be closed before or after the Producer; once Close has begun, a Flush
// or Produce fails with ErrProducerClosed instead of touching the client. Every
// method is safe for concurrent use.
type Producer struct {
	st     *C.rdkp_state
	rk     *C.rd_kafka_t
	name   string
	cfg    ProducerConfig
	closed atomic.Bool
	users  atomic.Int64 // Flush or Produce calls inside the client
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	errMu sync.Mutex
	errs  []kafka.Error // client errors for TakeErrors

	// bufs holds Produce's buffers (*produceBuf): per P, so concurrent
	// Produce calls share no lock and allocate nothing in steady state.
	bufs sync.Pool
}

// produceBuf is one Produce call's copy of a record.
type produceBuf struct {
	arena []byte
	hdrs  []C.rdkb_hdr
}

// NewProducer creates a producer client from cfg and starts its poll
// goroutine. A property librdkafka refuses is an error naming it.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if C.rdkb_abi_ok() == 0 {
		_, v := kafka.LibraryVersion()
		return nil, fmt.Errorf("rdkbatch: librdkafka %s is not the 2.11+ this package was written against", v)
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 20 * time.Millisecond
	}
	keys := make([]string, 0, len(cfg.Properties))
	for k := range cfg.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a deterministic order: the first bad one is named
	names := C.malloc(C.size_t(len(keys)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	values := C.malloc(C.size_t(len(keys)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(names)
	defer C.free(values)
	ns := unsafe.Slice((**C.char)(names), len(keys)+1)
	vs := unsafe.Slice((**C.char)(values), len(keys)+1)
	for i, k := range keys {
		ns[i], vs[i] = C.CString(k), C.CString(cfg.Properties[k])
	}
	defer func() {
		for i := range keys {
			C.free(unsafe.Pointer(ns[i]))
			C.free(unsafe.Pointer(vs[i]))
		}
	}()
	errstr := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(errstr))
	st := C.rdkp_new((**C.char)(names), (**C.char)(values), C.int(len(keys)), errstr, 512)
	if st == nil {
		return nil, fmt.Errorf("rdkbatch: create producer: %s", C.GoString(errstr))
	}
	rk := C.rdkp_rk(st)
	p := &Producer{st: st, rk: rk, name: C.GoString(C.rd_kafka_name(rk)), cfg: cfg,
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.poll()
	return p, nil
}

// String returns the client's name (librdkafka's, e.g. "rdkafka#producer-3").
func (p *Producer) String() string { return p.name }

func (p *Producer) poll() {
	defer close(p.done)
	var res C.rdkp_poll_result
	ms := C.int(p.cfg.PollTimeout / time.Millisecond)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		C.rdkp_poll(p.st, ms, &res)
		if res.notes > 0 {
			p.serveNotes()
		}
		if (res.delivered > 0 || res.failed > 0 || res.acks > 0 || res.notes > 0) && p.cfg.Notify != nil {
			p.cfg.Notify()
		}
	}
}

// serveNotes hands log lines to cfg.Log and keeps errors for TakeErrors.
func (p *Producer) serveNotes() {
	head := C.rdkp_take_notes(p.st)
	defer C.rdkp_free_notes(head)
	var errs []kafka.Error
	for n := head; n != nil; n = n.next {
		if n.tag == nil {
			errs = append(errs, kafka.NewError(kafka.ErrorCode(n.err), C.GoString(n.text), n.fatal != 0))
			continue
		}
		if p.cfg.Log != nil {
			p.cfg.Log(LogLine{Client: p.name, Level: int(n.level), Tag: C.GoString(n.tag), Message: C.GoString(n.text)})
		}
	}
	if len(errs) > 0 {
		p.errMu.Lock()
		p.errs = append(p.errs, errs...)
		p.errMu.Unlock()
	}
}

// Delivered returns how many records (but tracked ones) the client has
// acknowledged so far.
func (p *Producer) Delivered() int64 {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	return int64(C.rdkp_delivered(p.st))
}

// Offset returns the offset after the highest acknowledged record of a
// partition, and false when none was acknowledged (or Close has begun).
func (p *Producer) Offset(topic string, partition int32) (int64, bool) {
	if !p.enter() {
		return 0, false
	}
	defer p.exit()
	cs := C.CString(topic)
	defer C.free(unsafe.Pointer(cs))
	next := int64(C.rdkp_offset(p.st, cs, C.int32_t(partition)))
	return next, next >= 0
}

// TakeFailures appends the failures queued since the last call to buf,
// in the order their delivery reports came, and returns it.
func (p *Producer) TakeFailures(buf []Failure) []Failure {
	if !p.enter() {
		return buf
	}
	defer p.exit()
	head := C.rdkp_take_failures(p.st)
	defer C.rdkp_free_failures(head)
	for f := head; f != nil; f = f.next {
		out := Failure{Topic: C.GoString(f.topic), Partition: int32(f.partition), Timestamp: int64(f.timestamp),
			Opaque: uint64(f.opaque), Key: goBytes(f.key, f.key_len), Value: goBytes(f.value, f.val_len),
			Err: kafka.NewError(kafka.ErrorCode(f.err), C.GoString(f.errstr), false)}
		if f.hdr_cnt > 0 {
			names := unsafe.Slice(f.hdr_names, f.hdr_cnt)
			vals := unsafe.Slice(f.hdr_values, f.hdr_cnt)
			lens := unsafe.Slice(f.hdr_lens, f.hdr_cnt)
			out.Headers = make([]Header, f.hdr_cnt)
			for i := range out.Headers {
				out.Headers[i] = Header{Key: []byte(C.GoString(names[i])), Value: goBytes(vals[i], lens[i])}
			}
		}
		buf = append(buf, out)
	}
	return buf
}

func goBytes(p *C.char, n C.int64_t) []byte {
	if n < 0 {
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}

// TakeAcks appends the outcomes of tracked records queued since the last
// call to buf and returns it.
func (p *Producer) TakeAcks(buf []Ack) []Ack {
	if !p.enter() {
		return buf
	}
	defer p.exit()
	head := C.rdkp_take_acks(p.st)
	defer C.rdkp_free_acks(head)
	for a := head; a != nil; a = a.next {
		ack := Ack{ID: uint64(a.id)}
		if a.err != 0 {
			ack.Err = kafka.NewError(kafka.ErrorCode(a.err), C.GoString(a.errstr), false)
		}
		buf = append(buf, ack)
	}
	return buf
}

// TakeErrors returns the client errors (kafka.Error, IsFatal for a fatal
// one) reported since the last call.
func (p *Producer) TakeErrors() []kafka.Error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	errs := p.errs
	p.errs = nil
	return errs
}

// FatalError returns the client's fatal error (a kafka.Error with IsFatal
// set), or nil.
func (p *Producer) FatalError() error {
	if !p.enter() {
		return nil
	}
	defer p.exit()
	var buf [512]C.char
	code := C.rd_kafka_fatal_error(p.rk, &buf[0], C.size_t(len(buf)))
	if code == 0 {
		return nil
	}
	return kafka.NewError(kafka.ErrorCode(code), C.GoString(&buf[0]), true)
}

// Produce hands one record to the client, with opaque as its delivery
// report's opaque (see Failure.Opaque and TrackedOpaque). Its error is a
// kafka.Error (kafka.ErrQueueFull: try again once deliveries made room).
func (p *Producer) Produce(m *OutMessage, opaque uint64) error {
	if m.Topic == "" {
		return fmt.Errorf("rdkbatch: produce: a record has no topic")
	}
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	pb, _ := p.bufs.Get().(*produceBuf)
	if pb == nil {
		pb = &produceBuf{}
	}
	defer p.bufs.Put(pb)
	// One leading byte: the arena pointer handed to C is never nil, so an
	// empty key stays empty.
	pb.arena, pb.hdrs = append(pb.arena[:0], 0), pb.hdrs[:0]
	put := func(b []byte) (C.int64_t, C.int64_t) {
		if b == nil {
			return 0, -1
		}
		off := len(pb.arena)
		pb.arena = append(pb.arena, b...)
		return C.int64_t(off), C.int64_t(len(b))
	}
	koff, klen := put(m.Key)
	voff, vlen := put(m.Value)
	for _, h := range m.Headers {
		var hd C.rdkb_hdr
		hd.key_off, hd.key_len = put(h.Key)
		if hd.key_len < 0 {
			hd.key_len = 0
		}
		hd.val_off, hd.val_len = put(h.Value)
		pb.hdrs = append(pb.hdrs, hd)
	}
	var hp *C.rdkb_hdr
	if len(pb.hdrs) > 0 {
		hp = &pb.hdrs[0]
	}
	topic := C.CString(m.Topic)
	defer C.free(unsafe.Pointer(topic))
	a := (*C.char)(unsafe.Pointer(&pb.arena[0]))
	code := C.rdkp_produce1(p.rk, topic, C.int32_t(m.Partition), (*C.char)(unsafe.Add(unsafe.Pointer(a), koff)), klen,
		(*C.char)(unsafe.Add(unsafe.Pointer(a), voff)), vlen, C.int64_t(m.Timestamp), hp, C.int32_t(len(pb.hdrs)), a,
		C.uint64_t(opaque))
	if code != 0 {
		c := kafka.ErrorCode(code)
		return kafka.NewError(c, fmt.Sprintf("produce to %s: %s", m.Topic, c), false)
	}
	return nil
}

// Flush waits, at most timeout, until every record handed to the client
// is acknowledged or failed and its report served; it returns how many
// are still outstanding (Len).
func (p *Producer) Flush(timeout time.Duration) int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	C.rd_kafka_flush(p.rk, C.int(timeout/time.Millisecond))
	return int(C.rd_kafka_outq_len(p.rk))
}

// Len returns the records and requests the client still holds, reports
// not yet served included (librdkafka's outq_len).
func (p *Producer) Len() int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	return int(C.rd_kafka_outq_len(p.rk))
}

// Purge drops queued (kafka.PurgeQueue) and in-flight (kafka.PurgeInFlight)
// records; their delivery reports say so (kafka.ErrPurgeQueue,
// kafka.ErrPurgeInflight). kafka.PurgeNonBlocking does not wait.
func (p *Producer) Purge(flags int) error {
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	if code := C.rd_kafka_purge(p.rk, C.int(flags)); code != 0 {
		return kafka.NewError(kafka.ErrorCode(code), "purge", false)
	}
	return nil
}

// PartitionCount returns a topic's partition count from cluster metadata.
func (p *Producer) PartitionCount(topic string, timeout time.Duration) (int32, error) {
	if !p.enter() {
		return 0, ErrProducerClosed
	}
	defer p.exit()
	cs := C.CString(topic)
	defer C.free(unsafe.Pointer(cs))
	var code C.int32_t
	n := C.rdkp_partition_count(p.rk, cs, C.int(timeout/time.Millisecond), &code)
	if code != 0 || n <= 0 {
		c := kafka.ErrorCode(code)
		return 0, kafka.NewError(c, fmt.Sprintf("metadata of %q: %s", topic, c), false)
	}
	return int32(n), nil
}

// IsClosed reports whether Close has begun.
func (p *Producer) IsClosed() bool { return p.closed.Load() }

// enter admits a call into the client unless Close has begun; a true
// answer pairs with exit. Close waits for the calls admitted.
func (p *Producer) enter() bool {
	p.users.Add(1)
	if p.closed.Load() {
		p.users.Add(-1)
		return false
	}
	return true
}

func (p *Producer) exit() { p.users.Add(-1) }

// Close stops the poll goroutine and destroys the client: records not
// yet delivered are lost (Flush first), and failures not taken are
// dropped. It waits for calls into the client under way (a Flush waits
// at most its timeout, a transaction call its own). A second Close does
// nothing.
func (p *Producer) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		for p.users.Load() != 0 {
			time.Sleep(100 * time.Microsecond)
		}
		close(p.stop)
		<-p.done
		C.rdkp_destroy(p.st)
	})
}
