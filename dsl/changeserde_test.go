package dsl

import (
	"bytes"
	"errors"
	"testing"

	"github.com/millrace/millrace/record"
)

func TestChangeSerdeRoundTripsEveryShape(t *testing.T) {
	s := newChangeSerde(record.String())
	for _, c := range []Change[string]{
		{New: "n", HasNew: true},
		{Old: "o", HasOld: true},
		{New: "new", Old: "old", HasNew: true, HasOld: true},
		{New: "", Old: "", HasNew: true, HasOld: true},
		{New: "", HasNew: true},
	} {
		data, err := s.Serialize(make([]byte, 0, 8), c)
		if err != nil || data == nil {
			t.Fatalf("Serialize(%v) = %x, %v", c, data, err)
		}
		got, err := s.Deserialize(data)
		if err != nil || got != c {
			t.Errorf("round trip of %v: %v, %v", c, got, err)
		}
	}
}

func TestChangeSerdeWritesAChangeWithoutValuesAsNull(t *testing.T) {
	data, err := newChangeSerde(record.String()).Serialize(make([]byte, 0, 8), Change[string]{})
	if err != nil || data != nil {
		t.Errorf("Serialize(empty change) = %x, %v; want null", data, err)
	}
}

// A value the inner serde writes as null counts as absent.
func TestChangeSerdeTreatsANullInnerValueAsAbsent(t *testing.T) {
	s := newChangeSerde(record.Bytes())
	for _, tc := range []struct {
		in   Change[[]byte]
		want Change[[]byte]
	}{
		{Change[[]byte]{New: []byte("x"), HasNew: true, HasOld: true}, Change[[]byte]{New: []byte("x"), HasNew: true}},
		{Change[[]byte]{Old: []byte("y"), HasNew: true, HasOld: true}, Change[[]byte]{Old: []byte("y"), HasOld: true}},
	} {
		data, err := s.Serialize(make([]byte, 0, 8), tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Deserialize(data)
		if err != nil || got.HasNew != tc.want.HasNew || got.HasOld != tc.want.HasOld ||
			!bytes.Equal(got.New, tc.want.New) || !bytes.Equal(got.Old, tc.want.Old) {
			t.Errorf("%v: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if data, _ := s.Serialize(make([]byte, 0, 8), Change[[]byte]{HasNew: true, HasOld: true}); data != nil {
		t.Errorf("both values null: %x, want null", data)
	}
}

func TestChangeSerdeRejectsBadBytesWithErrSerde(t *testing.T) {
	s := newChangeSerde(record.Int64())
	for _, data := range [][]byte{
		{},
		{0},
		{4, 1},
		{3, 0, 0},
		{3, 0, 0, 0, 9, 1},
		{3, 0xff, 0xff, 0xff, 0xff},
		{1, 1, 2},                // int64 of 2 bytes
		{3, 0, 0, 0, 8, 1, 2, 3}, // new shorter than its length
	} {
		if c, err := s.Deserialize(data); !errors.Is(err, record.ErrSerde) {
			t.Errorf("Deserialize(%x) = %v, %v; want ErrSerde", data, c, err)
		}
	}
}

type panickySerde struct{}

func (panickySerde) Serialize(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (panickySerde) Deserialize([]byte) (string, error)             { panic("boom") }

func TestChangeSerdeTurnsAPanickingDeserializerIntoAnError(t *testing.T) {
	if _, err := newChangeSerde[string](panickySerde{}).Deserialize([]byte{1, 'x'}); !errors.Is(err, record.ErrSerde) {
		t.Errorf("err %v, want ErrSerde", err)
	}
}

func FuzzChangeSerdeDeserialize(f *testing.F) {
	s := newChangeSerde(record.Int64())
	for _, c := range []Change[int64]{{New: 1, HasNew: true}, {Old: 2, HasOld: true}, {New: 3, Old: 4, HasNew: true, HasOld: true}} {
		data, _ := s.Serialize(make([]byte, 0, 32), c)
		f.Add(data)
	}
	f.Add([]byte{3, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := s.Deserialize(data)
		if err != nil {
			if !errors.Is(err, record.ErrSerde) {
				t.Fatalf("error %v does not wrap ErrSerde", err)
			}
			return
		}
		again, err := s.Serialize(make([]byte, 0, len(data)), c)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%x decoded to %v re-encodes to %x, %v", data, c, again, err)
		}
	})
}
