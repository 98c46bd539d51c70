package record

import "fmt"

// TimestampType says where a consumed record's timestamp came from.
type TimestampType int8

const (
	// TimestampNotAvailable: the broker gave no timestamp.
	TimestampNotAvailable TimestampType = iota
	// TimestampCreateTime: the producer set the timestamp.
	TimestampCreateTime
	// TimestampLogAppendTime: the broker set it when appending.
	TimestampLogAppendTime
)

// ConsumerRecord is a record as read from a Kafka partition, before
// deserialization. Nil Key or Value means null. The runtime never modifies a
// ConsumerRecord after handing it to a task, so deserializers may keep
// references into Key and Value.
type ConsumerRecord struct {
	Topic         string
	Partition     int32
	Offset        int64
	Timestamp     int64
	TimestampType TimestampType
	Key           []byte
	Value         []byte
	Headers       Headers
}

// consumerRecordOverhead approximates the fixed bytes a buffered record holds
// besides its key, value and headers (partition, offset, timestamp, slice
// headers), so byte bounds count small records fairly.
const consumerRecordOverhead = 64

// SizeInBytes estimates the memory the record holds while buffered: key,
// value, topic name, headers and a fixed overhead. Buffer bounds use it. A
// nil record holds nothing: 0.
func (r *ConsumerRecord) SizeInBytes() int64 {
	if r == nil {
		return 0
	}
	n := int64(len(r.Key) + len(r.Value) + len(r.Topic) + consumerRecordOverhead)
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// Metadata returns the record's topic, partition and offset; the zero
// Metadata for a nil record (error paths call it on whatever they were
// given).
func (r *ConsumerRecord) Metadata() Metadata {
	if r == nil {
		return Metadata{}
	}
	return Metadata{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// DeserializationError says which part of which consumed record failed to
// deserialize.
type DeserializationError struct {
	Metadata
	// Part is "key" or "value".
	Part string
	Err  error
}

// Error names the record and the part.
func (e *DeserializationError) Error() string {
	return fmt.Sprintf("cannot deserialize %s of %s: %v", e.Part, e.Metadata, e.Err)
}

// Unwrap returns the deserializer's error.
func (e *DeserializationError) Unwrap() error { return e.Err }
