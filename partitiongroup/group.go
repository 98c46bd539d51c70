package partitiongroup

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
)

// Head decodes a partition's head record; processor.Head implements it.
type Head interface {
	Decode(raw *record.ConsumerRecord, partitionTime int64) (int64, error)
}

// Config configures a PartitionGroup. The zero value is usable.
type Config struct {
	// TaskID names the owning task in logs and errors.
	TaskID string
	// MaxTaskIdle is how long an empty partition that is not known to be
	// caught up may hold back processing (wall-clock). Zero means no
	// waiting beyond the current check; negative disables the check.
	MaxTaskIdle time.Duration
	// DeserializationHandler decides about undeserializable records; nil
	// means handler.LogAndFail.
	DeserializationHandler handler.DeserializationHandler
	// DeadLetterQueueTopic is handed to the DeserializationHandler
	// (handler.ErrorContext); empty means none is configured.
	DeadLetterQueueTopic string
	// DeadLetters writes the dead letters the DeserializationHandler
	// answers with, before the record is skipped or the group fails; its
	// error fails the group. Nil makes any dead letter an error wrapping
	// handler.ErrDeadLetterWrite (none is ever dropped).
	DeadLetters func([]handler.DeadLetter) error
	// Logger receives skip warnings; nil means no logging.
	Logger *zap.Logger
	// Stats receives counters; nil means a private Stats.
	Stats *Stats
}

// Stats counts what a group skipped and measured. Fields are atomic, so
// metrics exporters may read them from other goroutines.
type Stats struct {
	// SkippedDeserialization counts records dropped because they did not
	// deserialize and the handler answered Continue.
	SkippedDeserialization atomic.Int64
	// SkippedInvalidTimestamp counts records dropped for a negative
	// extracted timestamp.
	SkippedInvalidTimestamp atomic.Int64
	// EnforcedProcessing counts records processed while some partition was
	// empty past its MaxTaskIdle deadline.
	EnforcedProcessing atomic.Int64
	// LateRecords counts records older than stream time when taken.
	LateRecords atomic.Int64
	// LatenessSum and LatenessMax are over late records, in milliseconds;
	// the sum stops at math.MaxInt64 instead of wrapping.
	LatenessSum atomic.Int64
	LatenessMax atomic.Int64
}

// Partition identifies a queue.
type Partition struct {
	Topic     string
	Partition int32
}

// Offset is what a task commits for one partition: the next offset to
// consume and the partition time to store as commit metadata.
type Offset struct {
	Topic         string
	Partition     int32
	Offset        int64
	PartitionTime int64
}

// Taken is the record Next handed out. Its decoded form stays in the queue's
// Head until the next call into the group.
type Taken struct {
	// Queue is the index of the queue, in AddPartition order.
	Queue     int
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64
	// Raw is the record as consumed, for error handlers (dead letters);
	// it must not be modified.
	Raw *record.ConsumerRecord
}

// ErrUnknownPartition is returned for a partition the group does not hold.
var ErrUnknownPartition = errors.New("partitiongroup: unknown partition")

type queue struct {
	index      int
	topicOrder int
	topic      string
	partition  int32
	head       Head

	// FIFO of raw records: batches as handed in, consumed front to back.
	batches [][]record.ConsumerRecord
	bi, ri  int
	n       int   // raw records not yet decoded
	bytes   int64 // bytes of raw records and the head

	hasHead   bool
	headTS    int64
	headOff   int64
	headBytes int64
	headRaw   *record.ConsumerRecord

	partitionTime int64
	consumed      int64 // next offset to commit; -1 if nothing consumed
	lag           int64 // -1 unknown
	deadline      int64
	hasDeadline   bool
	heapIndex     int
}

// PartitionGroup orders the heads of a task's input partitions. The zero
// PartitionGroup is an empty group with the zero Config, as New(Config{})
// returns.
type PartitionGroup struct {
	once       sync.Once // setup, for the zero value
	cfg        Config
	stats      *Stats
	logger     *zap.Logger
	queues     []*queue
	byTP       map[Partition]*queue
	topicOrder map[string]int
	heap       []*queue
	pending    *queue // its head was taken; advance before anything else
	streamTime int64
	buffered   int
	bytes      int64
}

// New returns an empty group.
func New(cfg Config) *PartitionGroup {
	g := &PartitionGroup{cfg: cfg}
	g.setup()
	return g
}

// setup applies the Config's defaults, once: New calls it, and so do
// AddPartition (the only way to give a group work) and Stats (which other
// goroutines may call) for a zero PartitionGroup. Nothing on the per-record
// path needs it: every record arrives through a partition.
func (g *PartitionGroup) setup() {
	g.once.Do(func() {
		g.byTP, g.topicOrder, g.streamTime = map[Partition]*queue{}, map[string]int{}, record.UnknownTime
		g.stats = g.cfg.Stats
		if g.stats == nil {
			g.stats = &Stats{}
		}
		g.logger = g.cfg.Logger
		if g.logger == nil {
			g.logger = zap.NewNop()
		}
		if g.cfg.DeserializationHandler == nil {
			g.cfg.DeserializationHandler = handler.LogAndFail{}
		}
	})
}

// AddPartition registers an input partition and the Head that decodes its
// records. Topics rank for ties in the order they were first registered. A
// nil head is an error.
func (g *PartitionGroup) AddPartition(topic string, partition int32, head Head) error {
	g.setup()
	if head == nil {
		return fmt.Errorf("partitiongroup: partition %s-%d has a nil Head", topic, partition)
	}
	tp := Partition{topic, partition}
	if _, dup := g.byTP[tp]; dup {
		return fmt.Errorf("partitiongroup: partition %s-%d added twice", topic, partition)
	}
	order, ok := g.topicOrder[topic]
	if !ok {
		order = len(g.topicOrder)
		g.topicOrder[topic] = order
	}
	q := &queue{index: len(g.queues), topicOrder: order, topic: topic, partition: partition, head: head,
		partitionTime: record.UnknownTime, consumed: -1, lag: -1, heapIndex: -1}
	g.queues = append(g.queues, q)
	g.byTP[tp] = q
	return nil
}

// Stats returns the group's counters.
func (g *PartitionGroup) Stats() *Stats {
	g.setup()
	return g.stats
}

// Partitions returns the registered partitions in registration order.
func (g *PartitionGroup) Partitions() []Partition {
	out := make([]Partition, len(g.queues))
	for i, q := range g.queues {
		out[i] = Partition{q.topic, q.partition}
	}
	return out
}

func (g *PartitionGroup) lookup(topic string, partition int32) (*queue, error) {
	q, ok := g.byTP[Partition{topic, partition}]
	if !ok {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, topic, partition)
	}
	return q, nil
}

// AddRecords appends a batch of raw records (in offset order) to a
// partition's queue. The group keeps the slice: the caller must not modify
// it afterwards. It returns an error if decoding the new head fails fatally.
func (g *PartitionGroup) AddRecords(topic string, partition int32, recs []record.ConsumerRecord) error {
	if err := g.settle(); err != nil {
		return err
	}
	q, err := g.lookup(topic, partition)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	q.batches = append(q.batches, recs)
	q.n += len(recs)
	g.buffered += len(recs)
	for i := range recs {
		b := recs[i].SizeInBytes()
		q.bytes += b
		g.bytes += b
	}
	if q.hasHead {
		return nil
	}
	if err := g.updateHead(q); err != nil {
		return err
	}
	if q.hasHead {
		// It has data now: if it runs empty again, it waits MaxTaskIdle
		// afresh, even if Ready never saw it buffered (all-buffered fast path).
		q.hasDeadline = false
		g.push(q)
	}
	return nil
}

// SetLag records how many records of the partition are on the broker but not
// yet buffered; 0 means caught up, negative means unknown.
func (g *PartitionGroup) SetLag(topic string, partition int32, lag int64) error {
	q, err := g.lookup(topic, partition)
	if err != nil {
		return err
	}
	if lag < 0 {
		lag = -1
	}
	q.lag = lag
	return nil
}

// SetPartitionTime seeds a partition's time (from committed metadata); the
// stream time becomes at least that time. It never moves a time back.
func (g *PartitionGroup) SetPartitionTime(topic string, partition int32, ts int64) error {
	q, err := g.lookup(topic, partition)
	if err != nil {
		return err
	}
	if ts > q.partitionTime {
		q.partitionTime = ts
	}
	if ts > g.streamTime {
		g.streamTime = ts
	}
	return nil
}

// PartitionTime returns a partition's time or record.UnknownTime.
func (g *PartitionGroup) PartitionTime(topic string, partition int32) (int64, error) {
	q, err := g.lookup(topic, partition)
	if err != nil {
		return record.UnknownTime, err
	}
	return q.partitionTime, nil
}

// StreamTime returns the largest timestamp handed out (or seeded), or
// record.UnknownTime.
func (g *PartitionGroup) StreamTime() int64 {
	if g.byTP == nil { // a zero group that has seen nothing
		return record.UnknownTime
	}
	return g.streamTime
}

// Buffered returns the records and bytes buffered for a partition, not
// counting records already taken. Runtimes pause a partition over its bound
// and resume it once drained.
func (g *PartitionGroup) Buffered(topic string, partition int32) (records int, bytes int64, err error) {
	q, err := g.lookup(topic, partition)
	if err != nil {
		return 0, 0, err
	}
	n := q.n
	if q.hasHead {
		n++
	}
	return n, q.bytes, nil
}

// NumBuffered returns the records buffered over all partitions.
func (g *PartitionGroup) NumBuffered() int { return g.buffered }

// BufferedBytes returns the bytes buffered over all partitions.
func (g *PartitionGroup) BufferedBytes() int64 { return g.bytes }

// Ready reports whether the task should process now; nowMs is called only
// when an idle deadline must be consulted, and a nil nowMs is an error then.
func (g *PartitionGroup) Ready(nowMs func() int64) (bool, error) {
	if err := g.settle(); err != nil {
		return false, err
	}
	if len(g.heap) == 0 {
		return false, nil
	}
	if len(g.heap) == len(g.queues) || g.cfg.MaxTaskIdle < 0 {
		return true, nil
	}
	var now int64
	haveNow := false
	enforced, waiting := false, false
	// Visit every empty partition, so each one's deadline starts when it
	// is first seen empty, not when the one before it expires.
	for _, q := range g.queues {
		if q.hasHead || q.lag == 0 {
			q.hasDeadline = false
			continue
		}
		if !haveNow {
			if nowMs == nil {
				return false, errors.New("partitiongroup: Ready needs a clock (nowMs) to check idle deadlines")
			}
			now, haveNow = nowMs(), true
		}
		if !q.hasDeadline {
			// Saturated: a clock near MaxInt64 plus a long MaxTaskIdle
			// would wrap into the past and end the wait at once.
			q.deadline, q.hasDeadline = record.SaturatingAdd(now, g.cfg.MaxTaskIdle.Milliseconds()), true
		}
		if now < q.deadline {
			waiting = true
			continue
		}
		enforced = true
	}
	if waiting {
		return false, nil
	}
	if enforced {
		g.stats.EnforcedProcessing.Add(1)
	}
	return true, nil
}

// Next hands out the head record with the smallest timestamp and makes it
// taken: partition time, stream time and the committable offset move past
// it. The record's decoded form stays in its queue's Head until the next
// call into the group, which then decodes the queue's following record.
// ok is false when nothing is buffered.
func (g *PartitionGroup) Next() (t Taken, ok bool, err error) {
	ok, err = g.Take(&t)
	return t, ok, err
}

// Take is Next writing the taken record into *dst (only when ok), so the
// per-record path copies no Taken around. dst must not be nil.
func (g *PartitionGroup) Take(dst *Taken) (ok bool, err error) {
	if err := g.settle(); err != nil {
		return false, err
	}
	if len(g.heap) == 0 {
		return false, nil
	}
	q := g.heap[0]
	ts := q.headTS
	q.hasHead = false
	q.consumed = q.headOff + 1
	q.bytes -= q.headBytes
	g.bytes -= q.headBytes
	g.buffered--
	if ts > q.partitionTime {
		q.partitionTime = ts
	}
	if g.streamTime == record.UnknownTime || ts >= g.streamTime {
		g.streamTime = ts
	} else {
		late := g.streamTime - ts // streamTime > ts >= 0: no overflow
		g.stats.LateRecords.Add(1)
		for { // LatenessSum saturates: two records ~MaxInt64 late would wrap it
			s := g.stats.LatenessSum.Load()
			if g.stats.LatenessSum.CompareAndSwap(s, record.SaturatingAdd(s, late)) {
				break
			}
		}
		for {
			m := g.stats.LatenessMax.Load()
			if late <= m || g.stats.LatenessMax.CompareAndSwap(m, late) {
				break
			}
		}
	}
	g.pending = q
	*dst = Taken{Queue: q.index, Topic: q.topic, Partition: q.partition, Offset: q.headOff, Timestamp: ts, Raw: q.headRaw}
	return true, nil
}

// settle decodes the next head of the queue whose head was taken last and
// restores the heap.
func (g *PartitionGroup) settle() error {
	q := g.pending
	if q == nil {
		return nil
	}
	g.pending = nil
	err := g.updateHead(q)
	if q.hasHead {
		g.down(q.heapIndex)
	} else {
		g.remove(q.heapIndex)
	}
	return err
}

// updateHead decodes raw records until one yields a valid head or the queue
// is empty. Skipped records are logged, counted and consumed.
func (g *PartitionGroup) updateHead(q *queue) error {
	for !q.hasHead && q.n > 0 {
		raw := q.pop()
		size := raw.SizeInBytes()
		q.n--
		ts, err := q.head.Decode(raw, q.partitionTime)
		if err != nil {
			q.bytes -= size
			g.bytes -= size
			g.buffered--
			var de *record.DeserializationError
			if !errors.As(err, &de) {
				return fmt.Errorf("task %s: %s: %w", g.cfg.TaskID, raw.Metadata(), err)
			}
			resp, herr := g.askDeserialization(q, raw, err)
			if herr != nil {
				return fmt.Errorf("task %s: %w", g.cfg.TaskID, herr)
			}
			if derr := g.writeDeadLetters(resp.DeadLetters, raw); derr != nil {
				return fmt.Errorf("%w (while handling: %w)", derr, err)
			}
			if resp.Result != handler.Continue {
				return fmt.Errorf("task %s: %w", g.cfg.TaskID, err)
			}
			g.logger.Warn("skipping record that does not deserialize",
				zap.String("task", g.cfg.TaskID), zap.String("topic", raw.Topic),
				zap.Int32("partition", raw.Partition), zap.Int64("offset", raw.Offset),
				zap.Int("dead_letters", len(resp.DeadLetters)), zap.Error(err))
			g.stats.SkippedDeserialization.Add(1)
			q.consumed = raw.Offset + 1
			continue
		}
		if ts < 0 {
			q.bytes -= size
			g.bytes -= size
			g.buffered--
			g.logger.Warn("skipping record with negative timestamp",
				zap.String("task", g.cfg.TaskID), zap.String("topic", raw.Topic),
				zap.Int32("partition", raw.Partition), zap.Int64("offset", raw.Offset),
				zap.Int64("timestamp", ts))
			g.stats.SkippedInvalidTimestamp.Add(1)
			q.consumed = raw.Offset + 1
			continue
		}
		q.hasHead, q.headTS, q.headOff, q.headBytes, q.headRaw = true, ts, raw.Offset, size, raw
	}
	return nil
}

// askDeserialization asks the handler about raw.
func (g *PartitionGroup) askDeserialization(q *queue, raw *record.ConsumerRecord, cause error) (handler.Response, error) {
	ec := &handler.ErrorContext{TaskID: g.cfg.TaskID, Source: raw, Timestamp: raw.Timestamp,
		DeadLetterQueueTopic: g.cfg.DeadLetterQueueTopic}
	if n, ok := q.head.(interface{ Node() string }); ok {
		ec.Node = n.Node()
	}
	return handler.Deserialization(g.cfg.DeserializationHandler, ec, raw, cause)
}

// writeDeadLetters writes the handler's dead letters, whatever its Result.
func (g *PartitionGroup) writeDeadLetters(dls []handler.DeadLetter, raw *record.ConsumerRecord) error {
	switch {
	case len(dls) == 0:
		return nil
	case g.cfg.DeadLetters == nil:
		return fmt.Errorf("task %s: %w: %d dead letters for %s and no writer", g.cfg.TaskID, handler.ErrDeadLetterWrite, len(dls), raw.Metadata())
	}
	return g.cfg.DeadLetters(dls)
}

func (q *queue) pop() *record.ConsumerRecord {
	b := q.batches[q.bi]
	r := &b[q.ri]
	q.ri++
	if q.ri == len(b) {
		q.batches[q.bi] = nil
		q.bi++
		q.ri = 0
		if q.bi == len(q.batches) {
			q.batches = q.batches[:0]
			q.bi = 0
		} else if q.bi > 32 && q.bi*2 > len(q.batches) {
			n := copy(q.batches, q.batches[q.bi:])
			clear(q.batches[n:])
			q.batches = q.batches[:n]
			q.bi = 0
		}
	}
	return r
}

// Committable returns, per partition that consumed anything, the next offset
// to consume and the partition time.
func (g *PartitionGroup) Committable() []Offset {
	var out []Offset
	for _, q := range g.queues {
		if q.consumed >= 0 {
			out = append(out, Offset{Topic: q.topic, Partition: q.partition, Offset: q.consumed, PartitionTime: q.partitionTime})
		}
	}
	return out
}

// Clear drops every buffered record (the runtime will fetch again from the
// committed offsets). Times and committable offsets are kept.
func (g *PartitionGroup) Clear() {
	g.pending = nil
	for _, q := range g.queues {
		q.batches, q.bi, q.ri, q.n, q.bytes = nil, 0, 0, 0, 0
		q.hasHead, q.hasDeadline, q.heapIndex, q.headRaw = false, false, -1, nil
	}
	g.heap = g.heap[:0]
	g.buffered, g.bytes = 0, 0
}

// less orders queues by head timestamp, then topic registration, then
// partition.
func less(a, b *queue) bool {
	if a.headTS != b.headTS {
		return a.headTS < b.headTS
	}
	if a.topicOrder != b.topicOrder {
		return a.topicOrder < b.topicOrder
	}
	return a.partition < b.partition
}

func (g *PartitionGroup) push(q *queue) {
	q.heapIndex = len(g.heap)
	g.heap = append(g.heap, q)
	g.up(q.heapIndex)
}

func (g *PartitionGroup) remove(i int) {
	h := g.heap
	last := len(h) - 1
	h[i].heapIndex = -1
	if i != last {
		h[i] = h[last]
		h[i].heapIndex = i
	}
	h[last] = nil
	g.heap = h[:last]
	if i != last {
		g.down(i)
		g.up(i)
	}
}

func (g *PartitionGroup) up(i int) {
	h := g.heap
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		h[i].heapIndex, h[p].heapIndex = i, p
		i = p
	}
}

func (g *PartitionGroup) down(i int) {
	h := g.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		h[i].heapIndex, h[m].heapIndex = i, m
		i = m
	}
}
