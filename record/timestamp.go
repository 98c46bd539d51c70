package record

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidTimestamp is wrapped by the error FailOnInvalidTimestamp returns
// for a record with a negative timestamp, and by UsePartitionTimeOnInvalid
// when the partition time is still unknown.
var ErrInvalidTimestamp = errors.New("record: invalid timestamp")

// TimestampExtractor gives a consumed record its timestamp (milliseconds).
//
// It sees the raw record and the partition time (the largest timestamp taken
// from the record's partition so far, or UnknownTime). The result decides:
//   - a timestamp >= 0 is the record's event time;
//   - a negative timestamp makes the task skip the record, with a warning log
//     line and the dropped-records counter ("invalid-timestamp");
//   - an error stops the task; the error names topic, partition and offset.
//
// Extractors that read the deserialized value are set per source with a
// ValueTimestampExtractor.
type TimestampExtractor interface {
	Extract(r *ConsumerRecord, partitionTime int64) (int64, error)
}

// TimestampExtractorFunc adapts a function to TimestampExtractor.
type TimestampExtractorFunc func(r *ConsumerRecord, partitionTime int64) (int64, error)

// Extract calls f. A nil f returns an error (which stops the task) instead
// of panicking.
func (f TimestampExtractorFunc) Extract(r *ConsumerRecord, partitionTime int64) (int64, error) {
	if f == nil {
		return 0, errNilExtractorFunc
	}
	return f(r, partitionTime)
}

var errNilExtractorFunc = errors.New("record: nil TimestampExtractorFunc")

// errNilRecord is what the built-in extractors return for a nil record: the
// runtime never passes one, so it is a caller's bug, reported, not a panic.
var errNilRecord = fmt.Errorf("%w: nil *ConsumerRecord", ErrInvalidTimestamp)

// ValueTimestampExtractor gives a record its timestamp from its deserialized
// key and value, for event times carried in the payload. raw is the record as
// consumed (raw.Value == nil means the value is null and value is the zero V).
// The result is read as for TimestampExtractor.
type ValueTimestampExtractor[K, V any] func(key K, value V, raw *ConsumerRecord, partitionTime int64) (int64, error)

// FailOnInvalidTimestamp returns the default extractor: the record's own
// timestamp, and an error wrapping ErrInvalidTimestamp (which stops the task)
// when it is negative. The built-in extractors that read the record answer
// a nil record with an error wrapping ErrInvalidTimestamp.
func FailOnInvalidTimestamp() TimestampExtractor { return failOnInvalid{} }

type failOnInvalid struct{}

func (failOnInvalid) Extract(r *ConsumerRecord, _ int64) (int64, error) {
	if r == nil {
		return 0, errNilRecord
	}
	if r.Timestamp < 0 {
		return 0, fmt.Errorf("%w: %s has timestamp %d; producers must set valid timestamps, "+
			"or use LogAndSkipOnInvalidTimestamp or UsePartitionTimeOnInvalidTimestamp",
			ErrInvalidTimestamp, r.Metadata(), r.Timestamp)
	}
	return r.Timestamp, nil
}

// LogAndSkipOnInvalidTimestamp returns an extractor that uses the record's
// own timestamp and, when it is negative, returns it unchanged so the task
// skips the record, logs it and counts it.
func LogAndSkipOnInvalidTimestamp() TimestampExtractor { return logAndSkip{} }

type logAndSkip struct{}

func (logAndSkip) Extract(r *ConsumerRecord, _ int64) (int64, error) {
	if r == nil {
		return 0, errNilRecord
	}
	return r.Timestamp, nil
}

// UsePartitionTimeOnInvalidTimestamp returns an extractor that uses the
// record's own timestamp and, when it is negative, the partition time; if the
// partition time is still unknown it returns an error wrapping
// ErrInvalidTimestamp.
func UsePartitionTimeOnInvalidTimestamp() TimestampExtractor { return usePartitionTime{} }

type usePartitionTime struct{}

func (usePartitionTime) Extract(r *ConsumerRecord, partitionTime int64) (int64, error) {
	if r == nil {
		return 0, errNilRecord
	}
	if r.Timestamp >= 0 {
		return r.Timestamp, nil
	}
	if partitionTime < 0 {
		return 0, fmt.Errorf("%w: %s has timestamp %d and its partition time is not known yet",
			ErrInvalidTimestamp, r.Metadata(), r.Timestamp)
	}
	return partitionTime, nil
}

// WallclockTimestamp returns an extractor that gives every record the current
// wall-clock time (processing-time semantics). Inside a task it reads the
// task's clock, so the test driver's virtual clock applies.
func WallclockTimestamp() TimestampExtractor { return wallclock{now: systemMillis} }

func systemMillis() int64 { return time.Now().UnixMilli() }

type wallclock struct{ now func() int64 }

func (w wallclock) Extract(*ConsumerRecord, int64) (int64, error) { return w.now(), nil }

// BindClock returns e reading wall-clock time from now if e is the extractor
// of WallclockTimestamp, and e unchanged otherwise. Runtimes call it once per
// source with their clock; users need not.
func BindClock(e TimestampExtractor, now func() int64) TimestampExtractor {
	if _, ok := e.(wallclock); ok && now != nil {
		return wallclock{now: now}
	}
	return e
}
