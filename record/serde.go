package record

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// ErrSerde is wrapped by every error the built-in serdes return, so callers
// can tell bad bytes from other failures with errors.Is.
var ErrSerde = errors.New("record: serde")

// Serializer encodes a T.
//
// Serialize appends the encoding of v to dst and returns the extended slice,
// as strconv.AppendInt does, so callers can reuse one buffer per sink or store
// and the hot path does not allocate. Callers always pass a non-nil dst, so an
// empty encoding is a non-nil empty slice; returning nil means null.
// Implementations must append to dst rather than return a slice they keep:
// callers reuse the result as their next dst. SerdeFuncs adapts functions
// that return fresh slices.
type Serializer[T any] interface {
	Serialize(dst []byte, v T) ([]byte, error)
}

// Deserializer decodes a T. The runtime never calls it with nil: null bytes
// become a null key or value on the record. Data is not modified afterwards,
// so Deserialize may keep references into it.
type Deserializer[T any] interface {
	Deserialize(data []byte) (T, error)
}

// Retainer is implemented by deserializers that say whether what they
// return may share memory with the data they decoded. Deserializer lets
// Deserialize keep references into data, so a caller that passes memory it
// will reuse, or that others may write (a store's buffers), copies it first
// unless the deserializer implements Retainer and returns false. The
// built-in serdes implement it: Bytes retains its data, the others copy.
// Saying false is worth it: a store then decodes its own bytes in place
// instead of copying every value it reads first.
type Retainer interface {
	// Retains reports whether Deserialize's results may refer to its data.
	Retains() bool
}

// Retains reports whether results of d may keep references into the data
// given to its Deserialize: true unless d implements Retainer and says
// otherwise.
func Retains[T any](d Deserializer[T]) bool {
	r, ok := d.(Retainer)
	return !ok || r.Retains()
}

// Serde is a Serializer and a Deserializer for one type.
type Serde[T any] interface {
	Serializer[T]
	Deserializer[T]
}

// SerdeFuncs builds a Serde from two functions; ser's result is appended to
// dst. Use it for one-off formats. A nil function makes its method return
// an error wrapping ErrSerde (a deserialize-only serde, for example),
// rather than panic.
func SerdeFuncs[T any](ser func(v T) ([]byte, error), de func(data []byte) (T, error)) Serde[T] {
	// Replaced here, once, so Serialize and Deserialize need no nil check.
	if ser == nil {
		ser = func(T) ([]byte, error) { return nil, fmt.Errorf("%w: SerdeFuncs was given no serializer", ErrSerde) }
	}
	if de == nil {
		de = func([]byte) (T, error) {
			var zero T
			return zero, fmt.Errorf("%w: SerdeFuncs was given no deserializer", ErrSerde)
		}
	}
	return funcSerde[T]{ser: ser, de: de}
}

type funcSerde[T any] struct {
	ser func(T) ([]byte, error)
	de  func([]byte) (T, error)
}

func (s funcSerde[T]) Serialize(dst []byte, v T) ([]byte, error) {
	b, err := s.ser(v)
	if err != nil || b == nil {
		return nil, err
	}
	return append(dst, b...), nil
}

func (s funcSerde[T]) Deserialize(data []byte) (T, error) { return s.de(data) }

// Bytes returns the identity serde for []byte. A nil slice serializes to null
// and Deserialize(nil) returns nil; an empty slice stays empty (not null).
// Deserialize returns data itself, without copying.
func Bytes() Serde[[]byte] { return &bytesSingleton }

// The built-in serdes are singletons with pointer receivers, so an
// interface call reaches the method itself rather than a generated
// value-receiver wrapper, on every record a source or sink handles.
var (
	bytesSingleton   bytesSerde
	stringSingleton  stringSerde
	int64Singleton   int64Serde
	int32Singleton   int32Serde
	float64Singleton float64Serde
)

type bytesSerde struct{}

func (*bytesSerde) Serialize(dst []byte, v []byte) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return append(dst, v...), nil
}

func (*bytesSerde) Deserialize(data []byte) ([]byte, error) { return data, nil }

// Retains is true: Deserialize returns data itself.
func (*bytesSerde) Retains() bool { return true }

// String returns the UTF-8 serde for string, byte-compatible with Kafka's
// StringSerde. A string is never null: Deserialize(nil) returns "" and ""
// serializes to empty (non-null) bytes; use Record.KeyIsNull and ValueIsNull
// to see null.
func String() Serde[string] { return &stringSingleton }

type stringSerde struct{}

func (*stringSerde) Serialize(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }

func (*stringSerde) Deserialize(data []byte) (string, error) {
	if len(data) == 0 {
		return "", nil
	}
	return string(data), nil
}

// Retains is false: the result shares no memory with data.
func (*stringSerde) Retains() bool { return false }

// Int64 returns the 8-byte big-endian serde for int64, byte-compatible with
// Kafka's LongSerde. Deserialize of anything but 8 bytes (nil included) is an
// error wrapping ErrSerde.
func Int64() Serde[int64] { return &int64Singleton }

type int64Serde struct{}

func (*int64Serde) Serialize(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}

func (*int64Serde) Deserialize(data []byte) (int64, error) {
	if len(data) != 8 {
		return 0, fmt.Errorf("%w: int64 needs 8 bytes, got %d", ErrSerde, len(data))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// Retains is false: the result shares no memory with data.
func (*int64Serde) Retains() bool { return false }

// Int32 returns the 4-byte big-endian serde for int32, byte-compatible with
// Kafka's IntegerSerde. Deserialize of anything but 4 bytes (nil included) is
// an error wrapping ErrSerde.
func Int32() Serde[int32] { return &int32Singleton }

type int32Serde struct{}

func (*int32Serde) Serialize(dst []byte, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
}

func (*int32Serde) Deserialize(data []byte) (int32, error) {
	if len(data) != 4 {
		return 0, fmt.Errorf("%w: int32 needs 4 bytes, got %d", ErrSerde, len(data))
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// Retains is false: the result shares no memory with data.
func (*int32Serde) Retains() bool { return false }

// Float64 returns the 8-byte big-endian IEEE 754 serde for float64,
// byte-compatible with Kafka's DoubleSerde. Deserialize of anything but 8
// bytes (nil included) is an error wrapping ErrSerde.
func Float64() Serde[float64] { return &float64Singleton }

type float64Serde struct{}

func (*float64Serde) Serialize(dst []byte, v float64) ([]byte, error) {
	bits := math.Float64bits(v)
	if math.IsNaN(v) {
		// Java's Double.doubleToLongBits writes every NaN as the canonical
		// 0x7ff8000000000000; Go's math.NaN() has other bits.
		bits = 0x7ff8000000000000
	}
	return binary.BigEndian.AppendUint64(dst, bits), nil
}

func (*float64Serde) Deserialize(data []byte) (float64, error) {
	if len(data) != 8 {
		return 0, fmt.Errorf("%w: float64 needs 8 bytes, got %d", ErrSerde, len(data))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(data)), nil
}

// Retains is false: the result shares no memory with data.
func (*float64Serde) Retains() bool { return false }

// JSON returns a serde that encodes T with encoding/json. A nil pointer, map,
// slice or interface serializes to null bytes (not the text "null");
// Deserialize(nil) and Deserialize of empty bytes return the zero T; malformed
// JSON is an error wrapping ErrSerde.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(dst []byte, v T) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: json: %w", ErrSerde, err)
	}
	return append(dst, b...), nil
}

func (jsonSerde[T]) Deserialize(data []byte) (T, error) {
	var v T
	if len(data) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%w: json: %w", ErrSerde, err)
	}
	return v, nil
}

// Retains is false: encoding/json copies what it decodes (and a
// json.Unmarshaler must copy what it keeps).
func (jsonSerde[T]) Retains() bool { return false }

// isNil reports whether v is a nil pointer, map, slice, interface, channel or
// function. Only JSON uses it; it costs one interface conversion.
func isNil[T any](v T) bool {
	rv := reflect.ValueOf(&v).Elem()
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func:
		return rv.IsNil()
	}
	return false
}
