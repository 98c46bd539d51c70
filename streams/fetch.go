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
// them (and while the task restores), and tells tasks how far each input is
// behind its end, so a caught-up partition does not hold processing back.
type fetcher struct {
	cons    *kafka.Consumer
	logger  *zap.Logger
	metrics *metrics
	bound   int64
	inputs  map[topicPartition]*input
	lastLag time.Time
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
}

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
}

// dispatch hands pending batches to their tasks.
func (f *fetcher) dispatch() {
	for _, in := range f.inputs {
		if len(in.pending) == 0 {
			continue
		}
		last := in.pending[len(in.pending)-1].Offset
		in.r.in.push(inputItem{topic: in.tp.topic, partition: in.tp.partition, records: in.pending})
		in.handed = last + 1
		in.pending = nil
	}
}

// pauseResume pauses partitions whose tasks hold more than the bound, or
// are still restoring, and resumes them once drained.
func (f *fetcher) pauseResume() {
	var pause, resume []kafka.TopicPartition
	for _, in := range f.inputs {
		want := !in.r.started
		if !want && in.handed >= 0 {
			buffered := in.handed - in.r.processed[in.idx].Load()
			want = buffered > f.bound || (in.paused && buffered > f.bound/2)
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
	if len(pause) > 0 {
		if err := f.cons.Pause(pause); err != nil {
			f.logger.Warn("pause", zap.Error(err))
		}
	}
	if len(resume) > 0 {
		if err := f.cons.Resume(resume); err != nil {
			f.logger.Warn("resume", zap.Error(err))
		}
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
