package dsl

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/millrace/millrace/record"
)

// Flags of the first byte of an encoded Change.
const (
	changeHasNew byte = 1 << 0
	changeHasOld byte = 1 << 1
)

// changeSerde encodes a Change[V] for the repartition topic of a grouped
// table (Kafka Streams' ChangedSerializer plays this part):
//
//	flags (1 byte: 1 = new present, 2 = old present)
//	new and old present: 4-byte big-endian length of new, new, old
//	one present: its bytes
//
// A Change with neither value serializes to null (a tombstone), and a
// value the inner serde serializes to null counts as absent. Deserialize
// never panics (a panicking inner deserializer is an error too); every
// error wraps record.ErrSerde.
type changeSerde[V any] struct {
	inner record.Serde[V]
}

// newChangeSerde returns the Change serde over values; nil for a nil one.
func newChangeSerde[V any](values record.Serde[V]) record.Serde[Change[V]] {
	if values == nil {
		return nil
	}
	return changeSerde[V]{inner: values}
}

func (s changeSerde[V]) Serialize(dst []byte, c Change[V]) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0)
	var flags byte
	switch {
	case c.HasNew && c.HasOld:
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		out, err := s.inner.Serialize(dst, c.New)
		if err != nil {
			return nil, fmt.Errorf("change serde: new value: %w", err)
		}
		if out == nil { // a null new value: only the old one is present
			dst = dst[:lenAt]
		} else {
			n := len(out) - lenAt - 4
			if n > math.MaxUint32 {
				return nil, fmt.Errorf("%w: change serde: new value of %d bytes", record.ErrSerde, n)
			}
			binary.BigEndian.PutUint32(out[lenAt:], uint32(n))
			dst, flags = out, changeHasNew
		}
		mark := len(dst)
		out, err = s.inner.Serialize(dst, c.Old)
		if err != nil {
			return nil, fmt.Errorf("change serde: old value: %w", err)
		}
		switch {
		case out != nil:
			dst, flags = out, flags|changeHasOld
		case flags == changeHasNew: // only new after all: drop its length prefix
			dst = append(dst[:lenAt], dst[lenAt+4:mark]...)
		}
	case c.HasNew:
		out, err := s.inner.Serialize(dst, c.New)
		if err != nil {
			return nil, fmt.Errorf("change serde: new value: %w", err)
		}
		if out != nil {
			dst, flags = out, changeHasNew
		}
	case c.HasOld:
		out, err := s.inner.Serialize(dst, c.Old)
		if err != nil {
			return nil, fmt.Errorf("change serde: old value: %w", err)
		}
		if out != nil {
			dst, flags = out, changeHasOld
		}
	}
	if flags == 0 {
		return nil, nil
	}
	dst[start] = flags
	return dst, nil
}

func (s changeSerde[V]) Deserialize(data []byte) (c Change[V], err error) {
	if len(data) == 0 {
		return c, fmt.Errorf("%w: change serde: empty data", record.ErrSerde)
	}
	flags, body := data[0], data[1:]
	defer func() {
		if p := recover(); p != nil {
			c, err = Change[V]{}, fmt.Errorf("%w: change serde: value deserializer panicked: %v", record.ErrSerde, p)
		}
	}()
	switch flags {
	case changeHasNew:
		c.New, err = s.value(body, "new")
		c.HasNew = err == nil
	case changeHasOld:
		c.Old, err = s.value(body, "old")
		c.HasOld = err == nil
	case changeHasNew | changeHasOld:
		if len(body) < 4 {
			return Change[V]{}, fmt.Errorf("%w: change serde: %d bytes, too short for a length", record.ErrSerde, len(body))
		}
		n := binary.BigEndian.Uint32(body)
		body = body[4:]
		if uint64(n) > uint64(len(body)) {
			return Change[V]{}, fmt.Errorf("%w: change serde: new value of %d bytes in %d", record.ErrSerde, n, len(body))
		}
		if c.New, err = s.value(body[:n:n], "new"); err != nil {
			return Change[V]{}, err
		}
		if c.Old, err = s.value(body[n:], "old"); err != nil {
			return Change[V]{}, err
		}
		c.HasNew, c.HasOld = true, true
	default:
		return c, fmt.Errorf("%w: change serde: invalid flags %#x", record.ErrSerde, flags)
	}
	if err != nil {
		return Change[V]{}, err
	}
	return c, nil
}

func (s changeSerde[V]) value(data []byte, which string) (V, error) {
	v, err := s.inner.Deserialize(data)
	if err != nil {
		return v, fmt.Errorf("%w: change serde: %s value: %w", record.ErrSerde, which, err)
	}
	return v, nil
}

// Retains is the inner deserializer's: results share memory with data
// exactly when its results do.
func (s changeSerde[V]) Retains() bool { return record.Retains[V](s.inner) }
