package record_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/millrace/millrace/record"
)

// seedBytes adds the inputs every deserializer fuzz test starts from: empty,
// every length from 1 to 9 bytes (around the 4- and 8-byte fixed widths),
// overlong inputs and some text.
func seedBytes(f *testing.F) {
	f.Add([]byte{})
	for n := 1; n <= 9; n++ {
		f.Add(bytes.Repeat([]byte{0xff}, n))
		f.Add(make([]byte, n))
	}
	f.Add(bytes.Repeat([]byte{0x7f}, 17))
	f.Add(bytes.Repeat([]byte{0xa5}, 1024))
	f.Add([]byte(`{"a":1,"b":[1,2,{"c":null}]}`))
	f.Add([]byte(`{"a":`))
	f.Add([]byte("\xff\xfe garbage \x00"))
}

// checkDeserializer fails unless Deserialize of data returns a value or an
// error wrapping ErrSerde; a panic fails the fuzz run by itself.
func checkDeserializer[T any](t *testing.T, d record.Deserializer[T], data []byte) (T, bool) {
	t.Helper()
	v, err := d.Deserialize(data)
	if err != nil && !errors.Is(err, record.ErrSerde) {
		t.Fatalf("Deserialize(%x) error %v does not wrap ErrSerde", data, err)
	}
	return v, err == nil
}

// fuzzFixedWidth checks a fixed-width serde: exactly width bytes decode and
// re-encode to the same bytes, anything else is an error.
func fuzzFixedWidth[T any](f *testing.F, s record.Serde[T], width int, canonical func([]byte) bool) {
	seedBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := checkDeserializer(t, s, data)
		if ok != (len(data) == width) {
			t.Fatalf("Deserialize of %d bytes: ok = %v, want ok only for %d bytes", len(data), ok, width)
		}
		if !ok || !canonical(data) {
			return
		}
		out, err := s.Serialize(make([]byte, 0, width), v)
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("round trip of %x = %x, %v", data, out, err)
		}
	})
}

func always([]byte) bool { return true }

func FuzzInt64SerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	fuzzFixedWidth(f, record.Int64(), 8, always)
}

func FuzzInt32SerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	fuzzFixedWidth(f, record.Int32(), 4, always)
}

func FuzzFloat64SerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	// Every NaN is written back as Java's canonical NaN, so only non-NaN
	// bit patterns round-trip exactly.
	notNaN := func(b []byte) bool {
		exp := (uint16(b[0]&0x7f)<<4 | uint16(b[1]>>4))
		mant := b[1]&0x0f != 0 || b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0
		return exp != 0x7ff || !mant
	}
	fuzzFixedWidth(f, record.Float64(), 8, notNaN)
}

func FuzzStringSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := checkDeserializer(t, record.String(), data)
		if !ok || v != string(data) {
			t.Fatalf("String Deserialize(%x) = %q, %v", data, v, ok)
		}
	})
}

func FuzzBytesSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := checkDeserializer(t, record.Bytes(), data)
		if !ok || !bytes.Equal(v, data) {
			t.Fatalf("Bytes Deserialize(%x) = %x, %v", data, v, ok)
		}
	})
}

type jsonFuzzValue struct {
	A int            `json:"a"`
	B []any          `json:"b"`
	M map[string]int `json:"m"`
	P *float64       `json:"p"`
}

func FuzzJSONSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDeserializer(t, record.JSON[jsonFuzzValue](), data)
		checkDeserializer(t, record.JSON[*jsonFuzzValue](), data)
		checkDeserializer(t, record.JSON[any](), data)
		checkDeserializer(t, record.JSON[[]int64](), data)
		checkDeserializer(t, record.JSON[map[string]string](), data)
		checkDeserializer(t, record.JSON[chan int](), data) // not decodable: an error
	})
}
