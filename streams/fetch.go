package streams

import (
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/record"
)

// fetcher hands what the consumer fetched to the tasks, without ever
// blocking on one: it batches each partition's records into its task's
// input queue, pauses a partition whose task holds more than
// BufferedRecordsPerPartition of its records until the task drained half of
// them (and while the task restores), pauses every partition with records
// buffered while all of them together hold more than InputBufferMaxBytes
// until they drained to half of it, and tells tasks how far each input is
// behind its end, so a caught-up partition does not hold processing back.
//
// Bytes are counted without touching the per-record path of the tasks: the
// fetcher adds each record's size (record.ConsumerRecord.SizeInBytes: key,
// value, headers and a fixed overhead, what the tasks' partition groups
// count too) to a plain field of its own as it buffers it, and notes one
// mark per batch handed over (its offsets and bytes). A task publishes
// only the next offset it will process; the marks turn that back into
// bytes, on the fetcher's goroutine, once per pass of the poll loop (a
// batch partly processed counts in proportion to its offsets left).
type fetcher struct {
	cons    *kafka.Consumer
	logger  *zap.Logger
	metrics *metrics
	bound   int64 // BufferedRecordsPerPartition
	// maxBytes is InputBufferMaxBytes; total what the inputs hold, as of
	// the last pauseResume.
	maxBytes int64
	total    int64
	inputs   map[topicPartition]*input
	lastLag  time.Time
	// waker makes librdkafka fetch what the fetcher resumes at once
	// (fetchwake.go); nil: it fetches after its idle timeout.
	waker *fetchWaker
}

// input is one assigned source partition.
type input struct {
	tp      topicPartition
	r       *runner
	idx     int   // index in r.inputs / r.processed
	handed  int64 // offset after the last record handed to the task; -1 unknown
	paused  bool
	pending []record.ConsumerRecord
	lag     int64
	// pendingBytes are the bytes of pending; marks[head:] the batches
	// handed to the task and not known to be processed, holding
	// markedBytes together; bytes is what the task holds (markedBytes
	// less the processed share of the oldest batch).
	pendingBytes int64
	marks        []batchMark
	head         int
	markedBytes  int64
	bytes        int64
	// byRecords, byBytes: which bound holds the partition paused.
	byRecords, byBytes bool
}

// batchMark is one batch handed to a task: its records' offsets from first
// to end (the offset after the last) and their bytes.
type batchMark struct {
	first, end int64
	bytes      int64
}

// bytePauseMessage is logged (debug) when the byte bound pauses partitions.
const bytePauseMessage = "input buffer above InputBufferMaxBytes: pausing the partitions that hold records"

// lagUnset marks a lag never sent to the task.
const lagUnset = -2

// add registers a new task's input partitions, paused until it runs.
func (f *fetcher) add(r *runner) []kafka.TopicPartition {
	var pause []kafka.TopicPartition
	for i, in := range r.inputs {
		t := in.Topic
		pause = append(pause, kafka.TopicPartition{Topic: &t, Partition: in.Partition})
		tp := topicPartition{in.Topic, in.Partition}
		f.inputs[tp] = &input{tp: tp, r: r, idx: i, handed: r.processed[i].Load(), paused: true, lag: lagUnset}
	}
	return pause
}

// rebind points a recreated task's inputs at its new runner.
func (f *fetcher) rebind(r *runner) {
	for i, in := range r.inputs {
		if x := f.inputs[topicPartition{in.Topic, in.Partition}]; x != nil {
			// The lag updates went to the old task: send the next one
			// again.
			x.r, x.idx, x.lag = r, i, lagUnset
		}
	}
}

// remove forgets a task's inputs (it closes while others go on).
func (f *fetcher) remove(r *runner) {
	for _, in := range r.inputs {
		tp := topicPartition{in.Topic, in.Partition}
		if x := f.inputs[tp]; x != nil && x.r == r {
			f.metrics.setLag(tp, -1)
			delete(f.inputs, tp)
		}
	}
}

// clear forgets every input (all tasks closed).
func (f *fetcher) clear() {
	for tp := range f.inputs {
		f.metrics.setLag(tp, -1)
	}
	f.inputs = map[topicPartition]*input{}
}

// message buffers one fetched record for its task.
func (f *fetcher) message(e *kafka.Message) {
	if e.TopicPartition.Error != nil {
		f.logger.Warn("consumer error", zap.Error(e.TopicPartition.Error))
		return
	}
	in := f.inputs[topicPartition{*e.TopicPartition.Topic, e.TopicPartition.Partition}]
	if in == nil {
		return // fetched before a revoke: the new owner reads it
	}
	r := record.ConsumerRecord{Topic: *e.TopicPartition.Topic, Partition: e.TopicPartition.Partition,
		Offset: int64(e.TopicPartition.Offset), Key: e.Key, Value: e.Value, Timestamp: e.Timestamp.UnixMilli()}
	switch e.TimestampType {
	case kafka.TimestampCreateTime:
		r.TimestampType = record.TimestampCreateTime
	case kafka.TimestampLogAppendTime:
		r.TimestampType = record.TimestampLogAppendTime
	default:
		r.TimestampType, r.Timestamp = record.TimestampNotAvailable, -1
	}
	if len(e.Headers) > 0 {
		r.Headers = make(record.Headers, len(e.Headers))
		for i, h := range e.Headers {
			r.Headers[i] = record.Header{Key: h.Key, Value: h.Value}
		}
	}
	in.pending = append(in.pending, r)
	in.pendingBytes += r.SizeInBytes()
}

// batched buffers one record of a batch read for its task: message's job
// for what the Reader hands over. m's bytes live in an arena of their own
// (rdkbatch.Config.Retain), so the record keeps them.
func (f *fetcher) batched(m *rdkbatch.Message) {
	in := f.inputs[topicPartition{m.Topic, m.Partition}]
	if in == nil {
		return // fetched before a revoke: the new owner reads it
	}
	r := record.ConsumerRecord{Topic: in.tp.topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
		Timestamp: m.Timestamp}
	switch m.TimestampType {
	case kafka.TimestampCreateTime:
		r.TimestampType = record.TimestampCreateTime
	case kafka.TimestampLogAppendTime:
		r.TimestampType = record.TimestampLogAppendTime
	default:
		r.TimestampType, r.Timestamp = record.TimestampNotAvailable, -1
	}
	if len(m.Headers) > 0 {
		r.Headers = make(record.Headers, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = record.Header{Key: string(h.Key), Value: h.Value}
		}
	}
	in.pending = append(in.pending, r)
	in.pendingBytes += r.SizeInBytes()
}

// dispatch hands pending batches to their tasks.
func (f *fetcher) dispatch() {
	for _, in := range f.inputs {
		if len(in.pending) == 0 {
			continue
		}
		last := in.pending[len(in.pending)-1].Offset
		in.mark(batchMark{first: in.pending[0].Offset, end: last + 1, bytes: in.pendingBytes})
		in.r.in.push(inputItem{topic: in.tp.topic, partition: in.tp.partition, records: in.pending})
		in.handed = last + 1
		in.pending, in.pendingBytes = nil, 0
	}
}

// mark notes a batch handed to the task. The marks' array is reused: what
// was released is moved out once it is half of it, so a task that never
// catches up does not grow it without end.
func (in *input) mark(m batchMark) {
	if in.head > 0 && in.head*2 >= len(in.marks) {
		n := copy(in.marks, in.marks[in.head:])
		in.marks, in.head = in.marks[:n], 0
	}
	in.marks = append(in.marks, m)
	in.markedBytes += m.bytes
	in.bytes += m.bytes
}

// release forgets the batches the task processed (processed is the next
// offset it will process, -1 unknown) and updates in.bytes.
func (in *input) release(processed int64) {
	if processed < 0 {
		return
	}
	for in.head < len(in.marks) && in.marks[in.head].end <= processed {
		in.markedBytes -= in.marks[in.head].bytes
		in.marks[in.head] = batchMark{}
		in.head++
	}
	if in.head == len(in.marks) {
		in.marks, in.head = in.marks[:0], 0
	}
	in.bytes = in.markedBytes
	if in.head < len(in.marks) {
		if m := in.marks[in.head]; processed > m.first && m.end > m.first {
			in.bytes -= m.bytes * (processed - m.first) / (m.end - m.first)
		}
	}
}

// pauseResume pauses partitions whose tasks hold more than the bound, or
// are still restoring, and resumes them once drained.
//
// The byte bound is the instance's (Kafka Streams' input.buffer.max.bytes,
// KIP-770): past it, every partition with records buffered is paused, an
// empty one is not (a task waiting for an input would otherwise wait for
// its own pause), and each is resumed once the total drained to half the
// bound or its own buffer is empty. What a partition fetched before its
// pause is still handed over, so the bound is passed by at most what one
// pass of the poll loop reads (readBatch records).
func (f *fetcher) pauseResume() {
	var pause, resume []kafka.TopicPartition
	byBytes := 0 // partitions the byte bound pauses now
	f.total = 0
	for _, in := range f.inputs {
		in.release(in.r.processed[in.idx].Load())
		f.total += in.bytes
	}
	for _, in := range f.inputs {
		want := !in.r.started
		if !want {
			if in.handed >= 0 {
				buffered := in.handed - in.r.processed[in.idx].Load()
				in.byRecords = buffered > f.bound || (in.byRecords && buffered > f.bound/2)
			}
			empty := in.head == len(in.marks)
			was := in.byBytes
			in.byBytes = !empty && (f.total > f.maxBytes || (in.byBytes && f.total > f.maxBytes/2))
			if in.byBytes && !was && !in.paused {
				byBytes++
			}
			want = in.byRecords || in.byBytes
		}
		if want == in.paused {
			continue
		}
		t := in.tp.topic
		tp := kafka.TopicPartition{Topic: &t, Partition: in.tp.partition}
		if want {
			pause = append(pause, tp)
		} else {
			resume = append(resume, tp)
		}
		in.paused = want
	}
	if byBytes > 0 {
		f.logger.Debug(bytePauseMessage, zap.Int("partitions", byBytes), zap.Int64("bufferedBytes", f.total),
			zap.Int64("InputBufferMaxBytes", f.maxBytes))
	}
	if len(pause) > 0 {
		if err := f.cons.Pause(pause); err != nil {
			f.logger.Warn("pause", zap.Error(err))
		}
	}
	if len(resume) > 0 {
		if err := f.cons.Resume(resume); err != nil {
			f.logger.Warn("resume", zap.Error(err))
		}
		f.waker.wake(resume)
	}
}

// updateLags tells tasks how far each partition is behind its high
// watermark (cached from fetches). A partition the consumer has taken
// nothing from yet is as far as its next offset to read: an empty
// partition is caught up (lag 0), not unknown.
func (f *fetcher) updateLags(assignment []kafka.TopicPartition) {
	if time.Since(f.lastLag) < 100*time.Millisecond {
		return
	}
	f.lastLag = time.Now()
	if len(assignment) == 0 {
		return
	}
	pos, err := f.cons.Position(assignment)
	if err != nil {
		f.logger.Warn("reading consumer positions for lag", zap.Error(err))
		return
	}
	for _, p := range pos {
		tp := topicPartition{*p.Topic, p.Partition}
		in := f.inputs[tp]
		if in == nil {
			continue
		}
		lag := int64(-1)
		if low, high, err := f.cons.GetWatermarkOffsets(tp.topic, tp.partition); err == nil && high >= 0 {
			next := int64(p.Offset)
			if next < 0 {
				// Nothing consumed yet: reading starts at the committed
				// offset, or at the log start (auto.offset.reset=earliest).
				next = in.handed
				if next < 0 {
					next = max(low, 0)
				}
			}
			lag = max(high-next, 0)
		}
		if lag != in.lag {
			in.lag = lag
			in.r.in.push(inputItem{topic: tp.topic, partition: tp.partition, lag: lag})
			f.metrics.setLag(tp, lag)
		}
	}
}
