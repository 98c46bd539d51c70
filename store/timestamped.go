package store

import (
	"encoding/binary"
	"fmt"

	"github.com/millrace/millrace/record"
)

// ValueAndTimestamp is a value with the timestamp of the record that last
// wrote it, as timestamped stores keep (Kafka Streams' ValueAndTimestamp).
type ValueAndTimestamp[V any] struct {
	Value     V
	Timestamp int64
}

// TimestampedKeyValueStore is a key-value store whose values carry a
// timestamp.
type TimestampedKeyValueStore[K, V any] = KeyValueStore[K, ValueAndTimestamp[V]]

// TimestampedSerde encodes a ValueAndTimestamp as 8 bytes of big-endian
// timestamp followed by the value's encoding (Kafka Streams' layout). A value
// that serializes to null makes the whole entry null (a delete).
// A nil values serde gives a serde whose every call fails with an error
// wrapping record.ErrSerde.
func TimestampedSerde[V any](values record.Serde[V]) record.Serde[ValueAndTimestamp[V]] {
	if values == nil {
		err := fmt.Errorf("%w: TimestampedSerde needs a values serde, got nil", record.ErrSerde)
		return record.SerdeFuncs(
			func(ValueAndTimestamp[V]) ([]byte, error) { return nil, err },
			func([]byte) (ValueAndTimestamp[V], error) { return ValueAndTimestamp[V]{}, err })
	}
	return &tsSerde[V]{vs: values}
}

type tsSerde[V any] struct{ vs record.Serde[V] }

// Retains reports whether the value deserializer retains its input.
func (s *tsSerde[V]) Retains() bool { return record.Retains[V](s.vs) }

func (s *tsSerde[V]) Serialize(dst []byte, v ValueAndTimestamp[V]) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.Timestamp))
	out, err := s.vs.Serialize(dst, v.Value)
	if err != nil || out == nil {
		return nil, err
	}
	return out, nil
}

func (s *tsSerde[V]) Deserialize(data []byte) (ValueAndTimestamp[V], error) {
	if len(data) < 8 {
		return ValueAndTimestamp[V]{}, fmt.Errorf("%w: timestamped value needs at least 8 bytes, got %d", record.ErrSerde, len(data))
	}
	v, err := s.vs.Deserialize(data[8:])
	return ValueAndTimestamp[V]{Value: v, Timestamp: int64(binary.BigEndian.Uint64(data))}, err
}

// NewTimestampedKeyValueBuilder returns a builder of timestamped key-value
// stores over supplier.
func NewTimestampedKeyValueBuilder[K, V any](supplier KeyValueBytesSupplier, keys record.Serde[K], values record.Serde[V]) *KeyValueBuilder[K, ValueAndTimestamp[V]] {
	return NewKeyValueBuilder(supplier, keys, TimestampedSerde(values))
}
