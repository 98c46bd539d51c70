package task

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
)

// A task's metrics beyond Stats: per source partition and per sink, and
// the recent extremes of per-record quantities. They are kept in two
// halves. The task's goroutine adds each record to plain fields (no
// atomic, no lock, no clock read, nothing allocated); PublishMetrics, which
// the runtime calls once per chunk of records (and after punctuations and
// commits), folds them with one clock reading into atomic fields that
// Metrics reads from any goroutine. End-to-end latencies are computed at
// publication: now - timestamp, for every record of the chunk, with the
// chunk's clock reading.

// WindowLength is the length of one sample of a Measure's recent minimum
// and maximum: they cover the current sample and the one before, 30 to 60
// seconds, as Kafka Streams keeps two samples of 30 s
// (metrics.sample.window.ms, metrics.num.samples).
const WindowLength = 30 * time.Second

const windowMs = int64(WindowLength / time.Millisecond)

// Measure summarizes a quantity measured per record (or per chunk), in the
// unit its field names. Count and Sum run from the task's start, so a rate
// or an average over any span is a difference of two readings; Min and Max
// are over the last 30 to 60 seconds (see WindowLength), and Recent is
// false when nothing was measured in that time (Min and Max are then 0).
type Measure struct {
	Count    int64
	Sum      float64
	Min, Max int64
	Recent   bool
}

// Avg returns Sum / Count, or 0 for no values.
func (m Measure) Avg() float64 {
	if m.Count == 0 {
		return 0
	}
	return m.Sum / float64(m.Count)
}

// Metrics is what a task published of its work: Stats' counters are read
// separately (Task.Stats).
type Metrics struct {
	// Sources has one entry per input partition, in registration order.
	Sources []SourceMetrics
	// Sinks has one entry per sink node and topic the task produced to,
	// in the order they were first seen; empty unless Config.MeterSinks.
	Sinks []SinkMetrics
	// Lateness is the lateness of the records taken, in milliseconds: how
	// far behind stream time each was, 0 for a record at or ahead of it
	// (Kafka Streams' record-lateness). Its Min is not measured (0).
	Lateness Measure
	// ProcessLatency is the time to process a record, in nanoseconds, as
	// the runtime reported it (ObserveProcessing).
	ProcessLatency Measure
	// Buffered and BufferedBytes are the records waiting in the task's
	// partition queues, and their bytes, at the last publication.
	Buffered, BufferedBytes int64
}

// SourceMetrics is one input partition of a task.
type SourceMetrics struct {
	// Node is the source node that reads the partition.
	Node      string
	Topic     string
	Partition int32
	// RecordsConsumed and BytesConsumed count what the task was handed
	// (AddRecords), skipped records included; bytes are keys, values and
	// headers.
	RecordsConsumed, BytesConsumed int64
	// Processed counts the records taken from the partition.
	Processed int64
	// E2ELatency is, in milliseconds, the wall-clock time when the chunk
	// holding each record was done minus the record's timestamp (Kafka
	// Streams' record-e2e-latency of a source node).
	E2ELatency Measure
}

// SinkMetrics is what one sink node sent to one topic.
type SinkMetrics struct {
	Node  string
	Topic string
	// Records and Bytes count the records the producer accepted (keys,
	// values and headers).
	Records, Bytes int64
	// E2ELatency is, in milliseconds, the time the chunk that sent each
	// record was done minus the record's timestamp (the record-e2e-latency
	// of a terminal node).
	E2ELatency Measure
}

// recent is the largest value published in the current sample window and
// in the one before. It has one writer (the task's goroutine) and any
// number of readers; a read that races a window change may see the
// previous window's value, which is what a metric can afford.
type recent struct {
	start   atomic.Int64 // start of the current window in ms; 0: no value yet
	cur     atomic.Int64
	prev    atomic.Int64
	hasPrev atomic.Bool
}

func (r *recent) publish(now, v int64) {
	s := r.start.Load()
	if s != 0 && now < s+windowMs {
		if v > r.cur.Load() {
			r.cur.Store(v)
		}
		return
	}
	// A new window; the one that ended stays readable if it was the last.
	ok := s != 0 && now < s+2*windowMs
	if ok {
		r.prev.Store(r.cur.Load())
	}
	r.hasPrev.Store(ok)
	r.cur.Store(v)
	r.start.Store(max(now, 1))
}

func (r *recent) read(now int64) (int64, bool) {
	s := r.start.Load()
	if s == 0 || now >= s+2*windowMs {
		return 0, false
	}
	v := r.cur.Load()
	if r.hasPrev.Load() && now < s+windowMs {
		v = max(v, r.prev.Load())
	}
	return v, true
}

// measure is a Measure's published half.
type measure struct {
	count    atomic.Int64
	sum      atomic.Uint64 // float64 bits
	min, max recent        // min holds negated values
}

func (m *measure) publish(now int64, n int64, sum float64, lo, hi int64) {
	if n == 0 {
		return
	}
	m.count.Add(n)
	m.sum.Store(math.Float64bits(math.Float64frombits(m.sum.Load()) + sum))
	m.min.publish(now, -lo)
	m.max.publish(now, hi)
}

func (m *measure) read(now int64) Measure {
	out := Measure{Count: m.count.Load(), Sum: math.Float64frombits(m.sum.Load())}
	lo, okLo := m.min.read(now)
	hi, okHi := m.max.read(now)
	if okLo && okHi {
		out.Min, out.Max, out.Recent = -lo, hi, true
	}
	return out
}

// acc accumulates values between publications (task goroutine only).
type acc struct {
	n        int64
	sum      float64
	min, max int64
}

// newAcc returns an empty acc: its extremes start where any value
// replaces them, so add needs no test for the first value.
func newAcc() acc { return acc{min: math.MaxInt64, max: math.MinInt64} }

func (a *acc) add(v int64) {
	a.min = min(a.min, v)
	a.max = max(a.max, v)
	a.n++
	a.sum += float64(v)
}

func (a *acc) publish(now int64, m *measure) {
	m.publish(now, a.n, a.sum, a.min, a.max)
	*a = newAcc()
}

// e2e publishes an accumulation of timestamps as the latencies now - ts.
func (a *acc) e2e(now int64, m *measure) {
	if a.n > 0 {
		m.publish(now, a.n, float64(a.n)*float64(now)-a.sum, record.SaturatingSub(now, a.max), record.SaturatingSub(now, a.min))
	}
	*a = newAcc()
}

// sourceMeter is one input partition's metrics.
type sourceMeter struct {
	node, topic string
	partition   int32
	// The task goroutine's, since the last publication: the records handed
	// in and their bytes, and the timestamps of those taken (ts.n counts
	// them).
	records, bytes int64
	ts             acc
	// Published.
	pubRecords, pubBytes, pubProcessed atomic.Int64
	e2e                                measure
}

// sinkMeter is one sink node and topic's metrics; ts.n counts the records.
// nodeData and topicData are the data of the strings it was made for: a
// node's name and a sink's fixed topic are the same strings at every send,
// so comparing pointers finds the meter without comparing bytes.
type sinkMeter struct {
	node, topic         string
	nodeData, topicData *byte
	bytes               int64
	ts                  acc
	pubN                atomic.Int64
	pubBytes            atomic.Int64
	e2e                 measure
}

// meters are a task's metrics. sources is fixed at New; sinks grows on
// the task's goroutine, and pubSinks is its published copy.
type meters struct {
	sources  []*sourceMeter
	sinks    []*sinkMeter
	pubSinks atomic.Pointer[[]*sinkMeter]
	// lateMax is the largest lateness since the last publication (the sum
	// is Stats.LatenessSum, the count Stats.Processed).
	lateMax int64
	// unflushed counts the records taken and not yet in Stats.Processed.
	unflushed int64
	latePub   recent
	proc      acc
	procPub   measure
	buffered  atomic.Int64
	bufBytes  atomic.Int64
}

// taken counts a record with timestamp ts taken from queue q, with the
// stream time before it was taken (task goroutine; small enough to be
// inlined, nothing allocated). A record is late when older than stream
// time; UnknownTime is below every valid timestamp.
func (m *meters) taken(q int, ts, streamTime int64) {
	m.unflushed++
	m.sources[q].ts.add(ts)
	if ts < streamTime && streamTime-ts > m.lateMax {
		m.lateMax = streamTime - ts
	}
}

// added counts a batch handed to queue q.
func (m *meters) added(q int, recs []record.ConsumerRecord) {
	s := m.sources[q]
	s.records += int64(len(recs))
	for i := range recs {
		s.bytes += recordBytes(recs[i].Key, recs[i].Value, recs[i].Headers)
	}
}

func recordBytes(key, value []byte, headers record.Headers) int64 {
	n := int64(len(key) + len(value))
	for _, h := range headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// sink returns the meter of node's sends to topic, made the first time.
func (m *meters) sink(node, topic string) *sinkMeter {
	for _, s := range m.sinks {
		if s.node == node && s.topic == topic {
			return s
		}
	}
	s := &sinkMeter{node: node, topic: topic, nodeData: unsafe.StringData(node), topicData: unsafe.StringData(topic), ts: newAcc()}
	m.sinks = append(m.sinks, s)
	return s
}

func (m *meters) publish(now int64, buffered int, bufBytes int64) {
	m.buffered.Store(int64(buffered))
	m.bufBytes.Store(bufBytes)
	taken := false
	for _, s := range m.sources {
		if s.records != 0 {
			s.pubRecords.Add(s.records)
			s.pubBytes.Add(s.bytes)
			s.records, s.bytes = 0, 0
		}
		if s.ts.n != 0 {
			taken = true
			s.pubProcessed.Add(s.ts.n)
		}
		s.ts.e2e(now, &s.e2e)
	}
	if taken {
		m.latePub.publish(now, m.lateMax)
		m.lateMax = 0
	}
	for _, s := range m.sinks {
		if s.ts.n != 0 {
			s.pubN.Add(s.ts.n)
			s.pubBytes.Add(s.bytes)
			s.bytes = 0
		}
		s.ts.e2e(now, &s.e2e)
	}
	if p := m.pubSinks.Load(); p == nil || len(*p) != len(m.sinks) {
		pub := append([]*sinkMeter(nil), m.sinks...)
		m.pubSinks.Store(&pub)
	}
	m.proc.publish(now, &m.procPub)
}

// read returns the published metrics. Sinks are read before sources,
// and published after them, so a reading never shows a sink ahead of the
// sources that fed it.
func (m *meters) read(now int64) Metrics {
	out := Metrics{}
	if p := m.pubSinks.Load(); p != nil {
		for _, s := range *p {
			out.Sinks = append(out.Sinks, SinkMetrics{Node: s.node, Topic: s.topic, Records: s.pubN.Load(),
				Bytes: s.pubBytes.Load(), E2ELatency: s.e2e.read(now)})
		}
	}
	for _, s := range m.sources {
		out.Sources = append(out.Sources, SourceMetrics{Node: s.node, Topic: s.topic, Partition: s.partition,
			RecordsConsumed: s.pubRecords.Load(), BytesConsumed: s.pubBytes.Load(), Processed: s.pubProcessed.Load(),
			E2ELatency: s.e2e.read(now)})
	}
	out.Buffered, out.BufferedBytes = m.buffered.Load(), m.bufBytes.Load()
	out.Lateness.Max, out.Lateness.Recent = m.latePub.read(now)
	out.ProcessLatency = m.procPub.read(now)
	return out
}

// meteredCollector is the collector the task's sinks see: it counts each
// accepted record for its sink node and topic, on the task's goroutine.
type meteredCollector struct {
	inner  processor.RecordCollector
	meters *meters
	graph  *processor.Graph // set once the graph is made
	last   *sinkMeter
}

// Send hands the record on, then counts it, with as few instructions as
// it can: it runs once per record a sink writes.
func (c *meteredCollector) Send(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	if err := c.inner.Send(topic, partition, key, value, headers, ts); err != nil {
		return err
	}
	node := c.graph.CurrentNode()
	s := c.last
	if s == nil || s.nodeData != unsafe.StringData(node) || s.topicData != unsafe.StringData(topic) ||
		len(s.node) != len(node) || len(s.topic) != len(topic) {
		s = c.meters.sink(node, topic)
		c.last = s
	}
	n := int64(len(key) + len(value))
	for _, h := range headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	s.bytes += n
	s.ts.add(ts)
	return nil
}

func (c *meteredCollector) PartitionCount(topic string) (int32, error) {
	return c.inner.PartitionCount(topic)
}

// ObserveProcessing adds a chunk the runtime processed: records records in
// took, the slowest of which took slowest (the chunk's average when the
// runtime does not time each record). Call it from the task's goroutine;
// it is published with the rest.
func (t *Task) ObserveProcessing(records int, took, slowest time.Duration) {
	if records <= 0 || t.meters == nil {
		return
	}
	a := &t.meters.proc
	avg := int64(took) / int64(records)
	a.min = min(a.min, avg)
	a.max = max(a.max, int64(slowest), avg)
	a.n += int64(records)
	a.sum += float64(took)
}

// PublishMetrics makes what the task counted since the last call readable
// by Metrics, computing end-to-end latencies with now. The runtime calls it
// from the task's goroutine once per chunk of records, and after
// punctuations and commits; it costs a few atomic stores per input
// partition and sink.
func (t *Task) PublishMetrics(now time.Time) {
	if t.meters == nil {
		return
	}
	t.flushProcessed()
	t.meters.publish(now.UnixMilli(), t.group.NumBuffered(), t.group.BufferedBytes())
}

// flushProcessed adds the records taken since the last flush to
// Stats.Processed: one atomic addition per run of records, not one per
// record.
func (t *Task) flushProcessed() {
	if t.meters == nil {
		return
	}
	if n := t.meters.unflushed; n > 0 {
		t.stats.Processed.Add(n)
		t.meters.unflushed = 0
	}
}

// Metrics returns what the task published (see PublishMetrics), with
// recent extremes as of now. Safe from any goroutine.
func (t *Task) Metrics(now time.Time) Metrics {
	if t.meters == nil {
		return Metrics{}
	}
	m := t.meters.read(now.UnixMilli())
	// Lateness's count and sum are the partition group's: every record
	// taken, and the lateness of the late ones.
	m.Lateness.Count, m.Lateness.Sum = t.stats.Processed.Load(), float64(t.stats.LatenessSum.Load())
	return m
}

// addedTo counts a batch handed to partition topic-partition (one of the
// task's, or nothing is counted: the group refuses it).
func (m *meters) addedTo(topic string, partition int32, recs []record.ConsumerRecord) {
	for i, s := range m.sources {
		if s.topic == topic && s.partition == partition {
			m.added(i, recs)
			return
		}
	}
}

// timedPunctuation returns how the task runs the punctuations of one
// queue: as they are, or timed for Config.Punctuated.
func (t *Task) timedPunctuation(typ punctuate.Type) func(*punctuate.Schedule, int64) error {
	observe := t.cfg.Punctuated
	if observe == nil {
		return func(s *punctuate.Schedule, now int64) error { return t.runPunctuation(s, now) }
	}
	return func(s *punctuate.Schedule, now int64) error {
		start := time.Now()
		err := t.runPunctuation(s, now)
		observe(typ, time.Since(start))
		return err
	}
}
