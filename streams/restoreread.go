package streams

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// The restorer's read path: one pass of the loop reads what the restore
// consumer has (waiting up to restoreWait for the first record), hands each
// record to its store's batch, and serves the consumer queue's events
// (errors). Records come in batches from an rdkbatch.Reader, one cgo call
// and one allocation per batch; a consumer the Reader does not recognise
// is polled one record at a time, as the main consumer then is.

const (
	// restoreWait bounds a pass's wait for the first record, so commands
	// (new restorations, removals) are taken at least this often.
	restoreWait = 50 * time.Millisecond
	// restoreReads is how many batches of restoreReadBatch records one
	// pass reads at most before it checks the positions against the end
	// offsets (Poll: restoreReads*restoreReadBatch events).
	restoreReads     = 10
	restoreReadBatch = 1000
)

// startReader sets up batch reading of the restore consumer, or leaves the
// restorer on Poll (slower, not wrong) when the Reader refuses it. The
// batches are Retain: a store's write batch keeps records of several
// reads until it is full.
func (r *restorer) startReader() {
	rd, err := rdkbatch.New(r.cons, rdkbatch.Config{Retain: true, Headers: true})
	if err != nil {
		r.logger.Warn("restore consumer: batch reading unavailable; polling records one by one", zap.Error(err))
		return
	}
	r.reader, r.buf = rd, make([]rdkbatch.Message, restoreReadBatch)
}

// poll reads one pass of records, then completes what reached its end
// (unless the consumer failed fatally, which ended every restoration).
func (r *restorer) poll() {
	if r.reader != nil {
		if !r.readBatches() {
			return
		}
	} else if !r.pollEvents(restoreReads*restoreReadBatch, restoreWait) {
		return
	}
	r.checkDone()
	r.updateStandbys()
}

// readBatches reads up to restoreReads batches; false: the consumer
// failed fatally. Every record of a batch is handed on, even after one
// failed a restoration: the batch moved every partition's position past
// its records, so the other restorations' records cannot be dropped (the
// failed restoration's are, being no longer active).
func (r *restorer) readBatches() bool {
	for i := range restoreReads {
		wait := time.Duration(0)
		if i == 0 {
			wait = restoreWait
		}
		n, err := r.reader.Read(wait, r.buf)
		if err != nil {
			// Only a closed consumer or a failure of the batch call as a
			// whole: the consumer queue's events say more.
			r.logger.Warn("restore consumer: batch read", zap.Error(err))
			return r.pollEvents(restoreReads*restoreReadBatch, restoreWait)
		}
		for j := range r.buf[:n] {
			m := &r.buf[j]
			r.record(m.Topic, m.Partition, m.Offset, m.Key, m.Value, m.Err, nil, m)
		}
		clear(r.buf[:n]) // the arenas belong to the stores' batches now
		// Errors and anything else on the consumer queue (a Read returns
		// early when it has something).
		if !r.pollEvents(restoreReads*restoreReadBatch, 0) {
			return false
		}
		if n < len(r.buf) {
			return true // caught up with what was fetched
		}
	}
	return true
}

// pollEvents serves up to max events of the consumer queue, waiting up to
// wait for the first; false: the consumer failed fatally.
func (r *restorer) pollEvents(max int, wait time.Duration) bool {
	ms := int(wait / time.Millisecond)
	for i := 0; i < max; i++ {
		if i > 0 {
			ms = 0
		}
		ev := r.cons.Poll(ms)
		if ev == nil {
			return true
		}
		switch e := ev.(type) {
		case *kafka.Message:
			var err error
			if e.TopicPartition.Error != nil {
				err = e.TopicPartition.Error
			}
			r.record(*e.TopicPartition.Topic, e.TopicPartition.Partition, int64(e.TopicPartition.Offset), e.Key, e.Value, err, e, nil)
		case kafka.Error:
			if e.IsFatal() {
				r.fatal = true
				r.failAll(fmt.Errorf("streams: restore consumer: fatal: %w", e))
				return false
			}
			r.logger.Warn("restore consumer", zap.Error(e))
		}
	}
	return true
}

// record adds one changelog record to its store's batch, writing the batch
// when full. It came from Poll (km) or from the batch reader (bm); err is a
// partition-level error in its place. A record of no active restoration
// (ended, failed, aborted) is dropped.
func (r *restorer) record(topic string, partition int32, offset int64, key, value []byte, err error,
	km *kafka.Message, bm *rdkbatch.Message) {
	ref, ok := r.parts[topicPartition{topic, partition}]
	if !ok || ref.p.done {
		return
	}
	x, p := ref.x, ref.p
	if x.sb != nil && (err != nil || offset < p.start || (p.count > 0 && offset <= p.last)) {
		// The changelog is gone, or was truncated: the consumer reset to
		// its start (auto.offset.reset) or reports the offset out of
		// range. The standby's state cannot be trusted: rebuild it.
		r.rebuildStandby(x, p, offset, err)
		return
	}
	if err != nil {
		// A partition-level error (the changelog is gone, an offset out
		// of range): restoration cannot finish.
		r.fail(x, fmt.Errorf("streams: task %s: restore store %q from %s-%d: %w", x.id, p.store, p.tp.topic, p.tp.partition, err))
		return
	}
	if p.source {
		if offset >= p.end {
			return // processed again from the committed offset on
		}
		raw := sourceRecord(p, offset, key, value, km, bm)
		k, v, ok := r.convert(x, p, &raw)
		if !ok {
			return // skipped, or Convert failed the restoration
		}
		key, value = k, v
	}
	p.batch = append(p.batch, store.Entry{Key: key, Value: value})
	p.last = offset
	p.count++
	if len(p.batch) >= restoreBatch {
		if err := r.flush(x, p); err != nil {
			r.fail(x, err)
		}
	}
}

// sourceRecord is a source-topic record as Convert sees it.
func sourceRecord(p *restorePart, offset int64, key, value []byte, km *kafka.Message, bm *rdkbatch.Message) record.ConsumerRecord {
	raw := record.ConsumerRecord{Topic: p.tp.topic, Partition: p.tp.partition, Offset: offset, Key: key, Value: value}
	switch {
	case km != nil:
		raw.Timestamp = km.Timestamp.UnixMilli()
		if km.Timestamp.IsZero() {
			raw.Timestamp = -1
		}
		for _, h := range km.Headers {
			raw.Headers = append(raw.Headers, record.Header{Key: h.Key, Value: h.Value})
		}
	case bm != nil:
		raw.Timestamp = bm.Timestamp
		for _, h := range bm.Headers {
			raw.Headers = append(raw.Headers, record.Header{Key: string(h.Key), Value: h.Value})
		}
	}
	return raw
}

// convert turns a source-topic record into a store entry; ok is false for
// a record skipped (logged and counted by reason). A Convert that fails
// without a reason fails the restoration; one that panics skips the record
// as undeserializable, as a global store's deserializer does.
func (r *restorer) convert(x *restoration, p *restorePart, raw *record.ConsumerRecord) (key, value []byte, ok bool) {
	skip, err := "", error(nil)
	func() {
		defer func() {
			if pv := recover(); pv != nil {
				skip, err = "deserialization-error", fmt.Errorf("Convert panicked: %v", pv)
			}
		}()
		key, value, skip, err = p.convert(raw)
	}()
	if skip == "" && err != nil {
		r.fail(x, fmt.Errorf("streams: task %s: restore store %q from source topic %s-%d at offset %d: %w",
			x.id, p.store, p.tp.topic, p.tp.partition, raw.Offset, err))
		return nil, nil, false
	}
	if skip == "" && key == nil {
		skip = "null-key"
	}
	if skip != "" {
		p.skipped++
		r.metrics.restoreSkippedRecord(p.store, skip)
		r.logger.Warn("skipping a source-topic record while restoring a table's store", zap.Stringer("task", x.id),
			zap.String("store", p.store), zap.String("topic", p.tp.topic), zap.Int32("partition", p.tp.partition),
			zap.Int64("offset", raw.Offset), zap.String("reason", skip), zap.Error(err))
		return nil, nil, false
	}
	return key, value, true
}
