package record

import (
	"errors"
	"fmt"
)

// UnknownTime is the value of a stream or partition time that is not known
// yet, because no record has been taken from the partition or task.
const UnknownTime int64 = -1

// ErrNegativeTimestamp is returned when a record would get a negative
// timestamp. Kafka has no negative timestamps; a negative value is an error
// in the caller, not an event time.
var ErrNegativeTimestamp = errors.New("record: negative timestamp")

// Record is one key-value pair with its timestamp (milliseconds) and headers.
// It is passed by value; the zero Record has a non-null zero key and value at
// timestamp 0.
type Record[K, V any] struct {
	key       K
	value     V
	timestamp int64
	headers   Headers
	nullKey   bool
	nullValue bool
}

// New returns a record with the given key, value and timestamp in
// milliseconds. A negative timestamp is rejected with ErrNegativeTimestamp.
func New[K, V any](key K, value V, timestamp int64) (Record[K, V], error) {
	if timestamp < 0 {
		return Record[K, V]{}, negativeTimestamp(timestamp)
	}
	return Record[K, V]{key: key, value: value, timestamp: timestamp}, nil
}

// negativeTimestamp is the error of a negative timestamp; out of line, so
// that New and WithTimestamp stay small enough to inline on the record path.
func negativeTimestamp(ts int64) error { return fmt.Errorf("%w: %d", ErrNegativeTimestamp, ts) }

// Key returns the key; it is the zero K when KeyIsNull reports true.
func (r Record[K, V]) Key() K { return r.key }

// Value returns the value; it is the zero V when ValueIsNull reports true.
func (r Record[K, V]) Value() V { return r.value }

// Timestamp returns the timestamp in milliseconds since the epoch.
func (r Record[K, V]) Timestamp() int64 { return r.timestamp }

// Headers returns the headers. The slice is shared with the record: change it
// only through the copying methods of Headers.
func (r Record[K, V]) Headers() Headers { return r.headers }

// KeyIsNull reports whether the key is null (read as null bytes, or set with
// WithNullKey).
func (r Record[K, V]) KeyIsNull() bool { return r.nullKey }

// ValueIsNull reports whether the value is null: the record is a tombstone.
func (r Record[K, V]) ValueIsNull() bool { return r.nullValue }

// WithKey returns a copy with the key replaced (and not null). To change the
// key's type use the package function WithKey.
func (r Record[K, V]) WithKey(key K) Record[K, V] {
	r.key, r.nullKey = key, false
	return r
}

// WithValue returns a copy with the value replaced (and not null). To change
// the value's type use the package function WithValue.
func (r Record[K, V]) WithValue(value V) Record[K, V] {
	r.value, r.nullValue = value, false
	return r
}

// WithNullKey returns a copy whose key is null. A sink writes it with a null
// key, so the producer picks the partition.
func (r Record[K, V]) WithNullKey() Record[K, V] {
	var zero K
	r.key, r.nullKey = zero, true
	return r
}

// WithNullValue returns a copy whose value is null: a tombstone.
func (r Record[K, V]) WithNullValue() Record[K, V] {
	var zero V
	r.value, r.nullValue = zero, true
	return r
}

// WithTimestamp returns a copy with the timestamp replaced. A negative
// timestamp is rejected with ErrNegativeTimestamp and r is returned unchanged.
func (r Record[K, V]) WithTimestamp(timestamp int64) (Record[K, V], error) {
	if timestamp < 0 {
		return r, negativeTimestamp(timestamp)
	}
	r.timestamp = timestamp
	return r, nil
}

// WithHeaders returns a copy carrying h.
func (r Record[K, V]) WithHeaders(h Headers) Record[K, V] {
	r.headers = h
	return r
}

// String formats the record for logs and test failures.
func (r Record[K, V]) String() string {
	k, v := any(r.key), any(r.value)
	if r.nullKey {
		k = "<null>"
	}
	if r.nullValue {
		v = "<null>"
	}
	if len(r.headers) == 0 {
		return fmt.Sprintf("Record{key=%v, value=%v, ts=%d}", k, v, r.timestamp)
	}
	return fmt.Sprintf("Record{key=%v, value=%v, ts=%d, headers=%v}", k, v, r.timestamp, r.headers)
}

// WithKey returns a copy of r whose key is key, of a possibly different type;
// the value, timestamp, headers and value nullness are kept.
func WithKey[K2, K, V any](r Record[K, V], key K2) Record[K2, V] {
	return Record[K2, V]{key: key, value: r.value, timestamp: r.timestamp, headers: r.headers, nullValue: r.nullValue}
}

// WithValue returns a copy of r whose value is value, of a possibly different
// type; the key, timestamp, headers and key nullness are kept.
func WithValue[V2, K, V any](r Record[K, V], value V2) Record[K, V2] {
	return Record[K, V2]{key: r.key, value: value, timestamp: r.timestamp, headers: r.headers, nullKey: r.nullKey}
}

// Metadata locates the source record being processed: the topic, partition
// and offset it was consumed from. It is absent inside punctuators.
type Metadata struct {
	Topic     string
	Partition int32
	Offset    int64
}

// String formats the metadata as topic-partition@offset.
func (m Metadata) String() string {
	return fmt.Sprintf("%s-%d@%d", m.Topic, m.Partition, m.Offset)
}
