package window

import (
	"bytes"
	"errors"
	"testing"

	"github.com/millrace/millrace/record"
)

// seedWindowedBytes adds empty, 1..17-byte and overlong inputs: around the
// 8-byte window start, the 16-byte session suffix and the 17-byte buffer
// entry header.
func seedWindowedBytes(f *testing.F) {
	f.Add([]byte{})
	for n := 1; n <= 17; n++ {
		f.Add(bytes.Repeat([]byte{0xff}, n))
		f.Add(make([]byte, n))
	}
	f.Add(append([]byte("key"), bytes.Repeat([]byte{0x7f}, 16)...))
	f.Add(bytes.Repeat([]byte{0xa5}, 512))
}

// wantSerdeErr fails unless err is nil or wraps record.ErrSerde.
func wantSerdeErr(t *testing.T, data []byte, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, record.ErrSerde) {
		t.Fatalf("Deserialize(%x): error %v does not wrap ErrSerde", data, err)
	}
}

func FuzzTimeWindowedSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedWindowedBytes(f)
	strs := TimeWindowedSerde(record.String(), 10)
	ints := TimeWindowedSerde(record.Int64(), 1<<62)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := strs.Deserialize(data)
		wantSerdeErr(t, data, err)
		if (err == nil) != (len(data) >= 8) {
			t.Fatalf("Deserialize of %d bytes: err = %v", len(data), err)
		}
		if err == nil {
			out, err := strs.Serialize(make([]byte, 0, len(data)), w)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("round trip of %x = %x, %v", data, out, err)
			}
			if w.End < w.Start && w.Start >= 0 {
				t.Fatalf("window %v ends before it starts", w)
			}
		}
		_, err = ints.Deserialize(data)
		wantSerdeErr(t, data, err)
	})
}

func FuzzSessionWindowedSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedWindowedBytes(f)
	strs := SessionWindowedSerde(record.String())
	ints := SessionWindowedSerde(record.Int32())
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := strs.Deserialize(data)
		wantSerdeErr(t, data, err)
		if (err == nil) != (len(data) >= 16) {
			t.Fatalf("Deserialize of %d bytes: err = %v", len(data), err)
		}
		if err == nil {
			out, err := strs.Serialize(make([]byte, 0, len(data)), w)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("round trip of %x = %x, %v", data, out, err)
			}
		}
		_, err = ints.Deserialize(data)
		wantSerdeErr(t, data, err)
	})
}

func FuzzSuppressionBufferSerdeDeserializeReturnsAValueOrAnErrorNeverPanics(f *testing.F) {
	seedWindowedBytes(f)
	strs := bufferedSerde[string]{values: record.String()}
	ints := bufferedSerde[int64]{values: record.Int64()}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := strs.Deserialize(data)
		wantSerdeErr(t, data, err)
		if (err == nil) != (len(data) >= 17) {
			t.Fatalf("Deserialize of %d bytes: err = %v", len(data), err)
		}
		// Entries the serializer writes (null flag 0, or 1 with nothing
		// after it) come back byte for byte.
		if err == nil && (data[16] == 0 || (data[16] == 1 && len(data) == 17)) {
			out, err := strs.Serialize(make([]byte, 0, len(data)), b)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("round trip of %x = %x, %v", data, out, err)
			}
		}
		_, err = ints.Deserialize(data)
		wantSerdeErr(t, data, err)
	})
}
