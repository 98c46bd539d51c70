package window

import (
	"encoding/binary"
	"fmt"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Windowed is a key with its window; see store.Windowed. Its String form is
// [key@start/end].
type Windowed[K any] = store.Windowed[K]

// Change is what aggregations forward: the new aggregate and the one it
// replaced. HasOld is false for a window's first result; HasNew is false
// for a tombstone (a session merged away).
type Change[V any] struct {
	New, Old       V
	HasNew, HasOld bool
}

// String formats the change as old->new.
func (c Change[V]) String() string {
	o, n := any(c.Old), any(c.New)
	if !c.HasOld {
		o = "<none>"
	}
	if !c.HasNew {
		n = "<none>"
	}
	return fmt.Sprintf("%v->%v", o, n)
}

// TimeWindowedSerde encodes a time-windowed key as the key's bytes followed
// by the 8-byte big-endian window start, as Kafka Streams'
// TimeWindowedSerializer does; the end is start + windowSize (ms), clamped at
// math.MaxInt64 as the windows' ends are. Input shorter than 8 bytes is an
// error wrapping record.ErrSerde; with a nil keys serde every call is.
func TimeWindowedSerde[K any](keys record.Serde[K], windowSize int64) record.Serde[Windowed[K]] {
	if keys == nil {
		return noKeySerde[K]{}
	}
	return timeWindowedSerde[K]{keys: keys, size: windowSize}
}

type timeWindowedSerde[K any] struct {
	keys record.Serde[K]
	size int64
}

// KeySerde returns the serde of the plain keys.
func (s timeWindowedSerde[K]) KeySerde() record.Serde[K] { return s.keys }

func (s timeWindowedSerde[K]) Serialize(dst []byte, w Windowed[K]) ([]byte, error) {
	out, err := s.keys.Serialize(dst, w.Key)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = dst[:len(dst):len(dst)]
	}
	return binary.BigEndian.AppendUint64(out, uint64(w.Start)), nil
}

func (s timeWindowedSerde[K]) Deserialize(b []byte) (Windowed[K], error) {
	if len(b) < 8 {
		return Windowed[K]{}, fmt.Errorf("%w: windowed key needs at least 8 bytes, got %d", record.ErrSerde, len(b))
	}
	k, err := s.keys.Deserialize(b[:len(b)-8])
	if err != nil {
		return Windowed[K]{}, err
	}
	start := int64(binary.BigEndian.Uint64(b[len(b)-8:]))
	return Windowed[K]{Key: k, Start: start, End: record.SaturatingAdd(start, s.size)}, nil
}

// SessionWindowedSerde encodes a session key as the key's bytes, then the
// end and the start (8 bytes big-endian each), as Kafka Streams'
// SessionWindowedSerializer does. Input shorter than 16 bytes is an error
// wrapping record.ErrSerde; with a nil keys serde every call is.
func SessionWindowedSerde[K any](keys record.Serde[K]) record.Serde[Windowed[K]] {
	if keys == nil {
		return noKeySerde[K]{}
	}
	return sessionWindowedSerde[K]{keys: keys}
}

type sessionWindowedSerde[K any] struct{ keys record.Serde[K] }

// KeySerde returns the serde of the plain keys.
func (s sessionWindowedSerde[K]) KeySerde() record.Serde[K] { return s.keys }

func (s sessionWindowedSerde[K]) Serialize(dst []byte, w Windowed[K]) ([]byte, error) {
	out, err := s.keys.Serialize(dst, w.Key)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = dst[:len(dst):len(dst)]
	}
	out = binary.BigEndian.AppendUint64(out, uint64(w.End))
	return binary.BigEndian.AppendUint64(out, uint64(w.Start)), nil
}

func (s sessionWindowedSerde[K]) Deserialize(b []byte) (Windowed[K], error) {
	if len(b) < 16 {
		return Windowed[K]{}, fmt.Errorf("%w: session key needs at least 16 bytes, got %d", record.ErrSerde, len(b))
	}
	k, err := s.keys.Deserialize(b[:len(b)-16])
	if err != nil {
		return Windowed[K]{}, err
	}
	return Windowed[K]{Key: k, End: int64(binary.BigEndian.Uint64(b[len(b)-16:])),
		Start: int64(binary.BigEndian.Uint64(b[len(b)-8:]))}, nil
}

// noKeySerde is a windowed serde made without a key serde: a type of its
// own, so the real ones need no per-record nil check.
type noKeySerde[K any] struct{}

var errNoKeySerde = fmt.Errorf("%w: windowed serde made with a nil key serde", record.ErrSerde)

func (noKeySerde[K]) Serialize([]byte, Windowed[K]) ([]byte, error) { return nil, errNoKeySerde }
func (noKeySerde[K]) Deserialize([]byte) (Windowed[K], error)       { return Windowed[K]{}, errNoKeySerde }

// KeySerdeOf returns the plain key serde a TimeWindowedSerde or
// SessionWindowedSerde was made with, or nil.
func KeySerdeOf[K any](s record.Serde[Windowed[K]]) record.Serde[K] {
	if ks, ok := s.(interface{ KeySerde() record.Serde[K] }); ok {
		return ks.KeySerde()
	}
	return nil
}

// Unwindow returns a record keyed by the plain key of a windowed result,
// for rekeying windowed results (the window is dropped; keep it in the value
// if it matters).
func Unwindow[K, V any](r record.Record[Windowed[K], V]) record.Record[K, V] {
	return record.WithKey(r, r.Key().Key)
}
