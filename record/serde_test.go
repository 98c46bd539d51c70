package record_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/millrace/millrace/record"
)

// unhex decodes a hex string that may contain spaces, for readable byte
// fixtures.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad fixture %q: %v", s, err)
	}
	return b
}

// ser serializes v into a fresh non-nil dst, as the runtime does.
func ser[T any](t *testing.T, s record.Serializer[T], v T) []byte {
	t.Helper()
	b, err := s.Serialize(make([]byte, 0, 16), v)
	if err != nil {
		t.Fatalf("Serialize(%v): %v", v, err)
	}
	return b
}

// The fixtures below are the bytes Kafka's Java LongSerializer writes.
func TestInt64SerdeIsBigEndianLikeKafkaLongSerde(t *testing.T) {
	tests := []struct {
		v   int64
		hex string
	}{
		{0, "00 00 00 00 00 00 00 00"},
		{1, "00 00 00 00 00 00 00 01"},
		{-1, "ff ff ff ff ff ff ff ff"},
		{256, "00 00 00 00 00 00 01 00"},
		{0x0102030405060708, "01 02 03 04 05 06 07 08"},
		{1_700_000_000_000, "00 00 01 8b cf e5 68 00"},
		{math.MaxInt64, "7f ff ff ff ff ff ff ff"},
		{math.MinInt64, "80 00 00 00 00 00 00 00"},
	}
	s := record.Int64()
	for _, tc := range tests {
		want := unhex(t, tc.hex)
		if got := ser(t, s, tc.v); !bytes.Equal(got, want) {
			t.Errorf("Int64 Serialize(%d) = % x, want % x", tc.v, got, want)
		}
		got, err := s.Deserialize(want)
		if err != nil || got != tc.v {
			t.Errorf("Int64 Deserialize(% x) = %d, %v; want %d", want, got, err, tc.v)
		}
	}
}

// The fixtures below are the bytes Kafka's Java IntegerSerializer writes.
func TestInt32SerdeIsBigEndianLikeKafkaIntegerSerde(t *testing.T) {
	tests := []struct {
		v   int32
		hex string
	}{
		{0, "00 00 00 00"},
		{1, "00 00 00 01"},
		{-1, "ff ff ff ff"},
		{256, "00 00 01 00"},
		{0x01020304, "01 02 03 04"},
		{math.MaxInt32, "7f ff ff ff"},
		{math.MinInt32, "80 00 00 00"},
	}
	s := record.Int32()
	for _, tc := range tests {
		want := unhex(t, tc.hex)
		if got := ser(t, s, tc.v); !bytes.Equal(got, want) {
			t.Errorf("Int32 Serialize(%d) = % x, want % x", tc.v, got, want)
		}
		got, err := s.Deserialize(want)
		if err != nil || got != tc.v {
			t.Errorf("Int32 Deserialize(% x) = %d, %v; want %d", want, got, err, tc.v)
		}
	}
}

// The fixtures below are the bytes Kafka's Java DoubleSerializer writes
// (Double.doubleToLongBits, big-endian).
func TestFloat64SerdeIsIEEE754BigEndianLikeKafkaDoubleSerde(t *testing.T) {
	tests := []struct {
		v   float64
		hex string
	}{
		{0, "00 00 00 00 00 00 00 00"},
		{math.Copysign(0, -1), "80 00 00 00 00 00 00 00"},
		{1, "3f f0 00 00 00 00 00 00"},
		{1.5, "3f f8 00 00 00 00 00 00"},
		{-2, "c0 00 00 00 00 00 00 00"},
		{0.1, "3f b9 99 99 99 99 99 9a"},
		{math.MaxFloat64, "7f ef ff ff ff ff ff ff"},
		{math.SmallestNonzeroFloat64, "00 00 00 00 00 00 00 01"},
		{math.Inf(1), "7f f0 00 00 00 00 00 00"},
		{math.Inf(-1), "ff f0 00 00 00 00 00 00"},
	}
	s := record.Float64()
	for _, tc := range tests {
		want := unhex(t, tc.hex)
		if got := ser(t, s, tc.v); !bytes.Equal(got, want) {
			t.Errorf("Float64 Serialize(%v) = % x, want % x", tc.v, got, want)
		}
		got, err := s.Deserialize(want)
		if err != nil || math.Float64bits(got) != math.Float64bits(tc.v) {
			t.Errorf("Float64 Deserialize(% x) = %v, %v; want %v", want, got, err, tc.v)
		}
	}
}

// Java's DoubleSerializer uses Double.doubleToLongBits, which collapses every
// NaN to the canonical 0x7ff8000000000000. Go's math.NaN() has the bits
// 0x7ff8000000000001, so writing the raw bits would give a Go producer's NaN
// key different bytes from a Java producer's.
func TestFloat64SerdeWritesEveryNaNAsJavaCanonicalNaNLikeDoubleToLongBits(t *testing.T) {
	want := unhex(t, "7f f8 00 00 00 00 00 00")
	nans := []float64{
		math.NaN(),
		math.Float64frombits(0x7ff8000000000000),
		math.Float64frombits(0x7ff0000000000001), // signalling NaN
		math.Float64frombits(0xfff8000000000000), // negative quiet NaN
		math.Float64frombits(0x7fffffffffffffff),
	}
	for _, v := range nans {
		if got := ser(t, record.Float64(), v); !bytes.Equal(got, want) {
			t.Errorf("Float64 Serialize(NaN with bits %#x) = % x, want % x", math.Float64bits(v), got, want)
		}
	}
}

func TestFloat64SerdeRoundTripsNaNNegativeZeroAndInfinities(t *testing.T) {
	s := record.Float64()
	for _, v := range []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.SmallestNonzeroFloat64} {
		got, err := s.Deserialize(ser(t, s, v))
		if err != nil {
			t.Fatalf("round trip of %v: %v", v, err)
		}
		switch {
		case math.IsNaN(v):
			if !math.IsNaN(got) {
				t.Errorf("NaN round-tripped to %v", got)
			}
		case math.Float64bits(got) != math.Float64bits(v):
			t.Errorf("%v round-tripped to %v (bits %#x, want %#x)", v, got, math.Float64bits(got), math.Float64bits(v))
		}
	}
	// Bytes read from Kafka keep their NaN bits on decode.
	for _, bits := range []uint64{0x7ff8000000000000, 0x7ff8000000000001, 0xfff0000000000001} {
		b := unhex(t, strings.Repeat("00", 8))
		for i := range 8 {
			b[i] = byte(bits >> (56 - 8*i))
		}
		got, err := s.Deserialize(b)
		if err != nil || math.Float64bits(got) != bits {
			t.Errorf("Deserialize(% x) bits = %#x, %v; want %#x", b, math.Float64bits(got), err, bits)
		}
	}
}

func TestIntegerSerdesRoundTripEdgeValues(t *testing.T) {
	for _, v := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64, math.MaxInt32 + 1, math.MinInt32 - 1} {
		got, err := record.Int64().Deserialize(ser(t, record.Int64(), v))
		if err != nil || got != v {
			t.Errorf("Int64 round trip of %d = %d, %v", v, got, err)
		}
	}
	for _, v := range []int32{0, 1, -1, math.MaxInt32, math.MinInt32} {
		got, err := record.Int32().Deserialize(ser(t, record.Int32(), v))
		if err != nil || got != v {
			t.Errorf("Int32 round trip of %d = %d, %v", v, got, err)
		}
	}
}

// Kafka's StringSerializer writes UTF-8 by default.
func TestStringSerdeIsUTF8LikeKafkaStringSerde(t *testing.T) {
	tests := []struct {
		v   string
		hex string
	}{
		{"", ""},
		{"abc", "61 62 63"},
		{"é", "c3 a9"},
		{"日本", "e6 97 a5 e6 9c ac"},
		{"€1", "e2 82 ac 31"},
		{"😀", "f0 9f 98 80"},
		{"a\x00b", "61 00 62"},
	}
	s := record.String()
	for _, tc := range tests {
		want := unhex(t, tc.hex)
		if got := ser(t, s, tc.v); !bytes.Equal(got, want) {
			t.Errorf("String Serialize(%q) = % x, want % x", tc.v, got, want)
		}
		got, err := s.Deserialize(want)
		if err != nil || got != tc.v {
			t.Errorf("String Deserialize(% x) = %q, %v; want %q", want, got, err, tc.v)
		}
	}
}

func TestStringSerdeMapsEmptyStringToNonNullEmptyBytesAndNilToEmptyString(t *testing.T) {
	s := record.String()
	b, err := s.Serialize([]byte{}, "")
	if err != nil || b == nil || len(b) != 0 {
		t.Errorf("Serialize(\"\") = %#v, %v; want non-nil empty bytes (not null)", b, err)
	}
	for _, in := range [][]byte{nil, {}} {
		got, err := s.Deserialize(in)
		if err != nil || got != "" {
			t.Errorf("Deserialize(%#v) = %q, %v; want \"\", nil", in, got, err)
		}
	}
}

func TestStringSerdeDeserializeCopiesSoLaterChangesToInputDoNotLeak(t *testing.T) {
	in := []byte("abc")
	got, err := record.String().Deserialize(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	if got != "abc" {
		t.Errorf("deserialized string changed to %q when its input changed", got)
	}
}

func TestBytesSerdeIsIdentity(t *testing.T) {
	s := record.Bytes()
	for _, v := range [][]byte{{0}, {0xff, 0x00, 0x80}, []byte("hello")} {
		if got := ser(t, s, v); !bytes.Equal(got, v) {
			t.Errorf("Bytes Serialize(% x) = % x", v, got)
		}
		got, err := s.Deserialize(v)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Bytes Deserialize(% x) = % x, %v", v, got, err)
		}
		if &got[0] != &v[0] {
			t.Errorf("Bytes Deserialize copied its input; the doc promises data itself")
		}
	}
}

func TestBytesSerdeMapsNilToNullAndKeepsEmptyNonNull(t *testing.T) {
	s := record.Bytes()
	b, err := s.Serialize(make([]byte, 0, 8), nil)
	if err != nil || b != nil {
		t.Errorf("Serialize(nil) = %#v, %v; want nil (null)", b, err)
	}
	b, err = s.Serialize(make([]byte, 0, 8), []byte{})
	if err != nil || b == nil || len(b) != 0 {
		t.Errorf("Serialize([]byte{}) = %#v, %v; want non-nil empty (not null)", b, err)
	}
	got, err := s.Deserialize(nil)
	if err != nil || got != nil {
		t.Errorf("Deserialize(nil) = %#v, %v; want nil", got, err)
	}
	got, err = s.Deserialize([]byte{})
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Deserialize([]byte{}) = %#v, %v; want non-nil empty", got, err)
	}
}

func TestFixedWidthSerdesRejectNilAndWrongLengthsWithErrSerde(t *testing.T) {
	deserializers := []struct {
		name  string
		width int
		de    func([]byte) error
	}{
		{"Int64", 8, func(b []byte) error { _, err := record.Int64().Deserialize(b); return err }},
		{"Int32", 4, func(b []byte) error { _, err := record.Int32().Deserialize(b); return err }},
		{"Float64", 8, func(b []byte) error { _, err := record.Float64().Deserialize(b); return err }},
	}
	for _, d := range deserializers {
		for _, n := range []int{-1, 0, 1, d.width - 1, d.width + 1, 2 * d.width} {
			var in []byte // n == -1 means nil
			if n >= 0 {
				in = make([]byte, n)
			}
			err := d.de(in)
			if !errors.Is(err, record.ErrSerde) {
				t.Errorf("%s Deserialize(%d bytes, nil=%v) error = %v, want one wrapping ErrSerde", d.name, len(in), in == nil, err)
			}
		}
		if err := d.de(make([]byte, d.width)); err != nil {
			t.Errorf("%s Deserialize(%d zero bytes) error = %v, want nil", d.name, d.width, err)
		}
	}
}

type jsonPoint struct {
	X    int      `json:"x"`
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
}

func TestJSONSerdeSerializesNilPointerMapSliceAndInterfaceToNullBytes(t *testing.T) {
	dst := []byte("prefix")
	checks := []struct {
		name string
		ser  func() ([]byte, error)
	}{
		{"nil pointer", func() ([]byte, error) { return record.JSON[*jsonPoint]().Serialize(dst, nil) }},
		{"nil map", func() ([]byte, error) { return record.JSON[map[string]int]().Serialize(dst, nil) }},
		{"nil slice", func() ([]byte, error) { return record.JSON[[]int]().Serialize(dst, nil) }},
		{"nil interface", func() ([]byte, error) { return record.JSON[any]().Serialize(dst, nil) }},
	}
	for _, c := range checks {
		b, err := c.ser()
		if err != nil || b != nil {
			t.Errorf("%s: Serialize = %q, %v; want nil bytes (null), not the text \"null\"", c.name, b, err)
		}
	}
}

func TestJSONSerdeSerializesEmptyNonNilContainersAsJSONNotNull(t *testing.T) {
	b, err := record.JSON[[]int]().Serialize([]byte{}, []int{})
	if err != nil || string(b) != "[]" {
		t.Errorf("Serialize([]int{}) = %q, %v; want \"[]\"", b, err)
	}
	b, err = record.JSON[map[string]int]().Serialize([]byte{}, map[string]int{})
	if err != nil || string(b) != "{}" {
		t.Errorf("Serialize(map{}) = %q, %v; want \"{}\"", b, err)
	}
}

func TestJSONSerdeRoundTripsStructsAndPointers(t *testing.T) {
	p := jsonPoint{X: 3, Name: "né", Tags: []string{"a", "b"}}
	b := ser(t, record.JSON[jsonPoint](), p)
	if got, want := string(b), `{"x":3,"name":"né","tags":["a","b"]}`; got != want {
		t.Errorf("Serialize = %s, want %s", got, want)
	}
	got, err := record.JSON[jsonPoint]().Deserialize(b)
	if err != nil || got.X != 3 || got.Name != "né" || len(got.Tags) != 2 || got.Tags[1] != "b" {
		t.Errorf("Deserialize(%s) = %+v, %v", b, got, err)
	}
	gp, err := record.JSON[*jsonPoint]().Deserialize(b)
	if err != nil || gp == nil || gp.X != 3 {
		t.Errorf("Deserialize into *jsonPoint = %+v, %v", gp, err)
	}
}

func TestJSONSerdeDeserializesNilAndEmptyBytesToZeroValue(t *testing.T) {
	for _, in := range [][]byte{nil, {}} {
		v, err := record.JSON[jsonPoint]().Deserialize(in)
		if err != nil || v.X != 0 || v.Name != "" || v.Tags != nil {
			t.Errorf("JSON[jsonPoint] Deserialize(%#v) = %+v, %v; want zero value", in, v, err)
		}
		p, err := record.JSON[*jsonPoint]().Deserialize(in)
		if err != nil || p != nil {
			t.Errorf("JSON[*jsonPoint] Deserialize(%#v) = %+v, %v; want nil pointer", in, p, err)
		}
		m, err := record.JSON[map[string]int]().Deserialize(in)
		if err != nil || m != nil {
			t.Errorf("JSON[map] Deserialize(%#v) = %v, %v; want nil map", in, m, err)
		}
	}
}

func TestJSONSerdeRejectsMalformedJSONWithErrSerde(t *testing.T) {
	for _, in := range []string{"{", "not json", `{"x":"str"}`, "[1,2", "\xff"} {
		_, err := record.JSON[jsonPoint]().Deserialize([]byte(in))
		if !errors.Is(err, record.ErrSerde) {
			t.Errorf("Deserialize(%q) error = %v, want one wrapping ErrSerde", in, err)
		}
	}
}

func TestJSONSerdeWrapsMarshalErrorsWithErrSerde(t *testing.T) {
	b, err := record.JSON[float64]().Serialize([]byte{}, math.Inf(1))
	if !errors.Is(err, record.ErrSerde) {
		t.Errorf("Serialize(+Inf) = %q, %v; want an error wrapping ErrSerde", b, err)
	}
	_, err = record.JSON[any]().Serialize([]byte{}, make(chan int))
	if !errors.Is(err, record.ErrSerde) {
		t.Errorf("Serialize(chan) error = %v, want one wrapping ErrSerde", err)
	}
}

func TestSerializeAppendsToDstAndKeepsItsPrefix(t *testing.T) {
	tests := []struct {
		name string
		ser  func(dst []byte) ([]byte, error)
		want string // hex of the appended part
	}{
		{"Int64", func(d []byte) ([]byte, error) { return record.Int64().Serialize(d, 1) }, "0000000000000001"},
		{"Int32", func(d []byte) ([]byte, error) { return record.Int32().Serialize(d, -1) }, "ffffffff"},
		{"Float64", func(d []byte) ([]byte, error) { return record.Float64().Serialize(d, 1.5) }, "3ff8000000000000"},
		{"String", func(d []byte) ([]byte, error) { return record.String().Serialize(d, "hé") }, "68c3a9"},
		{"String empty", func(d []byte) ([]byte, error) { return record.String().Serialize(d, "") }, ""},
		{"Bytes", func(d []byte) ([]byte, error) { return record.Bytes().Serialize(d, []byte{1, 2}) }, "0102"},
		{"Bytes empty", func(d []byte) ([]byte, error) { return record.Bytes().Serialize(d, []byte{}) }, ""},
		{"JSON", func(d []byte) ([]byte, error) { return record.JSON[[]int]().Serialize(d, []int{1}) }, hex.EncodeToString([]byte("[1]"))},
		{"SerdeFuncs", func(d []byte) ([]byte, error) {
			return record.SerdeFuncs(func(v string) ([]byte, error) { return []byte(v), nil }, nil).Serialize(d, "z")
		}, "7a"},
	}
	prefix := []byte{0xAA, 0xBB, 0xCC}
	for _, tc := range tests {
		for _, spare := range []int{0, 32} { // with and without room to append in place
			dst := make([]byte, len(prefix), len(prefix)+spare)
			copy(dst, prefix)
			got, err := tc.ser(dst)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			want := append(append([]byte{}, prefix...), unhex(t, tc.want)...)
			if !bytes.Equal(got, want) {
				t.Errorf("%s (spare %d): Serialize(dst=% x) = % x, want % x", tc.name, spare, prefix, got, want)
			}
		}
	}
}

func TestSerializeIntoReusedBufferDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 64)
	s64, s32, sf, ss := record.Int64(), record.Int32(), record.Float64(), record.String()
	allocs := testing.AllocsPerRun(100, func() {
		b, _ := s64.Serialize(buf[:0], 42)
		b, _ = s32.Serialize(b, 7)
		b, _ = sf.Serialize(b, 2.5)
		_, _ = ss.Serialize(b, "key")
	})
	if allocs != 0 {
		t.Errorf("serializing into a buffer with room allocated %v times per run, want 0", allocs)
	}
}

func TestSerdeFuncsAppendsSerializerOutputAndDelegatesDeserialize(t *testing.T) {
	var deCalls int
	s := record.SerdeFuncs(
		func(v int) ([]byte, error) { return []byte{byte(v)}, nil },
		func(data []byte) (int, error) { deCalls++; return int(data[0]) * 2, nil },
	)
	b, err := s.Serialize([]byte{9}, 5)
	if err != nil || !bytes.Equal(b, []byte{9, 5}) {
		t.Errorf("Serialize([9], 5) = % x, %v; want 09 05", b, err)
	}
	v, err := s.Deserialize([]byte{4})
	if err != nil || v != 8 || deCalls != 1 {
		t.Errorf("Deserialize([4]) = %d, %v (calls %d); want 8, nil (1 call)", v, err, deCalls)
	}
}

func TestSerdeFuncsNilOutputMeansNullAndEmptyOutputStaysNonNull(t *testing.T) {
	s := record.SerdeFuncs(
		func(v string) ([]byte, error) {
			if v == "null" {
				return nil, nil
			}
			return []byte(v), nil
		},
		func(data []byte) (string, error) { return string(data), nil },
	)
	b, err := s.Serialize([]byte("prefix"), "null")
	if err != nil || b != nil {
		t.Errorf("Serialize with nil output = %q, %v; want nil (null)", b, err)
	}
	b, err = s.Serialize(make([]byte, 0, 4), "")
	if err != nil || b == nil || len(b) != 0 {
		t.Errorf("Serialize with empty output = %#v, %v; want non-nil empty", b, err)
	}
}

func TestSerdeFuncsPassesErrorsThrough(t *testing.T) {
	boom := errors.New("boom")
	s := record.SerdeFuncs(
		func(int) ([]byte, error) { return []byte{1}, boom },
		func([]byte) (int, error) { return 0, boom },
	)
	if b, err := s.Serialize([]byte{}, 1); !errors.Is(err, boom) || b != nil {
		t.Errorf("Serialize = %v, %v; want nil, boom", b, err)
	}
	if _, err := s.Deserialize([]byte{1}); !errors.Is(err, boom) {
		t.Errorf("Deserialize error = %v, want boom", err)
	}
}

func TestOnlyBytesAndUnknownDeserializersAreAssumedToRetainTheirData(t *testing.T) {
	type point struct{ X int }
	cases := []struct {
		name    string
		retains bool
		got     bool
	}{
		{"Bytes", true, record.Retains[[]byte](record.Bytes())},
		{"String", false, record.Retains[string](record.String())},
		{"Int64", false, record.Retains[int64](record.Int64())},
		{"Int32", false, record.Retains[int32](record.Int32())},
		{"Float64", false, record.Retains[float64](record.Float64())},
		{"JSON", false, record.Retains[point](record.JSON[point]())},
		{"SerdeFuncs", true, record.Retains[string](record.SerdeFuncs(
			func(s string) ([]byte, error) { return []byte(s), nil },
			func(b []byte) (string, error) { return string(b), nil }))},
	}
	for _, c := range cases {
		if c.got != c.retains {
			t.Errorf("Retains(%s) = %v, want %v", c.name, c.got, c.retains)
		}
	}
	// Bytes really does hand back its input; String really does not.
	in := []byte("abc")
	b, _ := record.Bytes().Deserialize(in)
	s, _ := record.String().Deserialize(in)
	in[0] = 'X'
	if string(b) != "Xbc" || s != "abc" {
		t.Errorf("after writing the input: Bytes gave %q (want Xbc, it retains), String %q (want abc)", b, s)
	}
}
