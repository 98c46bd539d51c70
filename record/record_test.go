package record_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/millrace/millrace/record"
)

func mustNew[K, V any](t *testing.T, k K, v V, ts int64) record.Record[K, V] {
	t.Helper()
	r, err := record.New(k, v, ts)
	if err != nil {
		t.Fatalf("New(%v, %v, %d): %v", k, v, ts, err)
	}
	return r
}

func TestNewAcceptsNonNegativeTimestampsAndRejectsNegativeWithErrNegativeTimestamp(t *testing.T) {
	tests := []struct {
		ts      int64
		wantErr bool
	}{
		{ts: 0},
		{ts: 1},
		{ts: 1_700_000_000_000},
		{ts: math.MaxInt64},
		{ts: -1, wantErr: true},
		{ts: record.UnknownTime, wantErr: true},
		{ts: math.MinInt64, wantErr: true},
	}
	for _, tc := range tests {
		r, err := record.New("k", "v", tc.ts)
		if tc.wantErr {
			if !errors.Is(err, record.ErrNegativeTimestamp) {
				t.Errorf("New(ts=%d) error = %v, want one wrapping ErrNegativeTimestamp", tc.ts, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(ts=%d) error = %v, want nil", tc.ts, err)
			continue
		}
		if r.Key() != "k" || r.Value() != "v" || r.Timestamp() != tc.ts {
			t.Errorf("New(ts=%d) = %v, want key k, value v, ts %d", tc.ts, r, tc.ts)
		}
		if r.KeyIsNull() || r.ValueIsNull() || r.Headers() != nil {
			t.Errorf("New(ts=%d) = %v: want non-null key and value and no headers", tc.ts, r)
		}
	}
}

func TestZeroRecordHasNonNullZeroKeyAndValueAtTimestampZero(t *testing.T) {
	var r record.Record[string, int64]
	if r.Key() != "" || r.Value() != 0 || r.Timestamp() != 0 {
		t.Errorf("zero record = %v, want key \"\", value 0, ts 0", r)
	}
	if r.KeyIsNull() || r.ValueIsNull() {
		t.Errorf("zero record nullness = (%v, %v), want (false, false)", r.KeyIsNull(), r.ValueIsNull())
	}
}

func TestWithTimestampRejectsNegativeAndReturnsRecordUnchanged(t *testing.T) {
	orig := mustNew(t, "k", 7, 100).WithHeaders(record.Headers{{Key: "h", Value: []byte("x")}})
	for _, ts := range []int64{-1, math.MinInt64} {
		got, err := orig.WithTimestamp(ts)
		if !errors.Is(err, record.ErrNegativeTimestamp) {
			t.Errorf("WithTimestamp(%d) error = %v, want one wrapping ErrNegativeTimestamp", ts, err)
		}
		if got.Timestamp() != 100 || got.Key() != "k" || got.Value() != 7 || !got.Headers().Equal(orig.Headers()) {
			t.Errorf("WithTimestamp(%d) returned %v, want the record unchanged: %v", ts, got, orig)
		}
	}
}

func TestWithTimestampReturnsChangedCopyAndLeavesOriginalUntouched(t *testing.T) {
	orig := mustNew(t, "k", 7, 100)
	for _, ts := range []int64{0, 99, 101, math.MaxInt64} {
		got, err := orig.WithTimestamp(ts)
		if err != nil {
			t.Fatalf("WithTimestamp(%d): %v", ts, err)
		}
		if got.Timestamp() != ts {
			t.Errorf("WithTimestamp(%d).Timestamp() = %d", ts, got.Timestamp())
		}
		if orig.Timestamp() != 100 {
			t.Errorf("original timestamp changed to %d after WithTimestamp(%d)", orig.Timestamp(), ts)
		}
	}
}

func TestWithKeyAndWithValueReturnChangedCopiesAndLeaveOriginalUntouched(t *testing.T) {
	h := record.Headers{{Key: "h", Value: []byte("1")}}
	orig := mustNew(t, "k1", 1, 5).WithHeaders(h)

	k := orig.WithKey("k2")
	if k.Key() != "k2" || k.Value() != 1 || k.Timestamp() != 5 || !k.Headers().Equal(h) {
		t.Errorf("WithKey(k2) = %v, want key k2 and everything else kept", k)
	}
	v := orig.WithValue(2)
	if v.Key() != "k1" || v.Value() != 2 || v.Timestamp() != 5 || !v.Headers().Equal(h) {
		t.Errorf("WithValue(2) = %v, want value 2 and everything else kept", v)
	}
	hh := orig.WithHeaders(record.Headers{{Key: "other"}})
	if len(hh.Headers()) != 1 || hh.Headers()[0].Key != "other" {
		t.Errorf("WithHeaders = %v, want the new headers", hh)
	}
	if orig.Key() != "k1" || orig.Value() != 1 || orig.Timestamp() != 5 || !orig.Headers().Equal(h) {
		t.Errorf("original changed to %v", orig)
	}
}

func TestWithKeyAndWithValueClearNullFlags(t *testing.T) {
	null := mustNew(t, "k", "v", 1).WithNullKey().WithNullValue()
	if !null.KeyIsNull() || !null.ValueIsNull() {
		t.Fatalf("setup: %v should have a null key and value", null)
	}

	k := null.WithKey("")
	if k.KeyIsNull() {
		t.Errorf("WithKey(\"\") on a null key: KeyIsNull() = true, want false (empty is not null)")
	}
	if !k.ValueIsNull() {
		t.Errorf("WithKey must not touch value nullness: ValueIsNull() = false")
	}

	v := null.WithValue("")
	if v.ValueIsNull() {
		t.Errorf("WithValue(\"\") on a null value: ValueIsNull() = true, want false (empty is not null)")
	}
	if !v.KeyIsNull() {
		t.Errorf("WithValue must not touch key nullness: KeyIsNull() = false")
	}
	if !null.KeyIsNull() || !null.ValueIsNull() {
		t.Errorf("original lost its null flags: %v", null)
	}
}

func TestWithNullKeyAndWithNullValueSetFlagsAndZeroTheField(t *testing.T) {
	orig := mustNew(t, "k", int64(9), 3)

	nk := orig.WithNullKey()
	if !nk.KeyIsNull() || nk.Key() != "" {
		t.Errorf("WithNullKey() = %v: KeyIsNull=%v Key=%q, want true and \"\"", nk, nk.KeyIsNull(), nk.Key())
	}
	if nk.ValueIsNull() || nk.Value() != 9 || nk.Timestamp() != 3 {
		t.Errorf("WithNullKey() changed value or timestamp: %v", nk)
	}

	nv := orig.WithNullValue()
	if !nv.ValueIsNull() || nv.Value() != 0 {
		t.Errorf("WithNullValue() = %v: ValueIsNull=%v Value=%d, want true and 0", nv, nv.ValueIsNull(), nv.Value())
	}
	if nv.KeyIsNull() || nv.Key() != "k" || nv.Timestamp() != 3 {
		t.Errorf("WithNullValue() changed key or timestamp: %v", nv)
	}

	if orig.KeyIsNull() || orig.ValueIsNull() || orig.Key() != "k" || orig.Value() != 9 {
		t.Errorf("original changed to %v", orig)
	}
}

func TestPackageWithKeyChangesKeyTypeAndKeepsTimestampHeadersAndValueNullness(t *testing.T) {
	h := record.Headers{{Key: "trace", Value: []byte("abc")}}
	base := mustNew(t, "k", "v", 42).WithHeaders(h)
	tests := []struct {
		name      string
		in        record.Record[string, string]
		wantValue string
		wantNullV bool
	}{
		{name: "non-null value", in: base, wantValue: "v"},
		{name: "null value", in: base.WithNullValue(), wantNullV: true},
		{name: "null key becomes non-null", in: base.WithNullKey(), wantValue: "v"},
	}
	for _, tc := range tests {
		got := record.WithKey(tc.in, int64(7)) // Record[int64, string]
		if got.Key() != 7 || got.KeyIsNull() {
			t.Errorf("%s: key = %d (null=%v), want 7 (non-null)", tc.name, got.Key(), got.KeyIsNull())
		}
		if got.Value() != tc.wantValue || got.ValueIsNull() != tc.wantNullV {
			t.Errorf("%s: value = %q (null=%v), want %q (null=%v)", tc.name, got.Value(), got.ValueIsNull(), tc.wantValue, tc.wantNullV)
		}
		if got.Timestamp() != 42 || !got.Headers().Equal(h) {
			t.Errorf("%s: ts=%d headers=%v, want 42 and %v", tc.name, got.Timestamp(), got.Headers(), h)
		}
	}
}

func TestPackageWithValueChangesValueTypeAndKeepsTimestampHeadersAndKeyNullness(t *testing.T) {
	h := record.Headers{{Key: "trace", Value: []byte("abc")}}
	base := mustNew(t, "k", "v", 42).WithHeaders(h)
	tests := []struct {
		name      string
		in        record.Record[string, string]
		wantKey   string
		wantNullK bool
	}{
		{name: "non-null key", in: base, wantKey: "k"},
		{name: "null key", in: base.WithNullKey(), wantNullK: true},
		{name: "null value becomes non-null", in: base.WithNullValue(), wantKey: "k"},
	}
	for _, tc := range tests {
		got := record.WithValue(tc.in, 3.5) // Record[string, float64]
		if got.Value() != 3.5 || got.ValueIsNull() {
			t.Errorf("%s: value = %v (null=%v), want 3.5 (non-null)", tc.name, got.Value(), got.ValueIsNull())
		}
		if got.Key() != tc.wantKey || got.KeyIsNull() != tc.wantNullK {
			t.Errorf("%s: key = %q (null=%v), want %q (null=%v)", tc.name, got.Key(), got.KeyIsNull(), tc.wantKey, tc.wantNullK)
		}
		if got.Timestamp() != 42 || !got.Headers().Equal(h) {
			t.Errorf("%s: ts=%d headers=%v, want 42 and %v", tc.name, got.Timestamp(), got.Headers(), h)
		}
	}
}

func TestRecordStringMarksNullKeyAndValue(t *testing.T) {
	base := mustNew(t, "k", "v", 5)
	tests := []struct {
		name string
		r    record.Record[string, string]
		want string
	}{
		{name: "plain", r: base, want: "Record{key=k, value=v, ts=5}"},
		{name: "null key", r: base.WithNullKey(), want: "Record{key=<null>, value=v, ts=5}"},
		{name: "null value", r: base.WithNullValue(), want: "Record{key=k, value=<null>, ts=5}"},
		{name: "both null", r: base.WithNullKey().WithNullValue(), want: "Record{key=<null>, value=<null>, ts=5}"},
		{name: "empty is not null", r: base.WithKey("").WithValue(""), want: "Record{key=, value=, ts=5}"},
		{
			name: "headers",
			r:    base.WithHeaders(record.Headers{{Key: "a", Value: []byte("1")}, {Key: "b"}}),
			want: `Record{key=k, value=v, ts=5, headers=[a="1", b=<null>]}`,
		},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMetadataStringIsTopicDashPartitionAtOffset(t *testing.T) {
	m := record.Metadata{Topic: "orders", Partition: 3, Offset: 17}
	if got, want := m.String(), "orders-3@17"; got != want {
		t.Errorf("Metadata.String() = %q, want %q", got, want)
	}
}

func headerKeys(h record.Headers) string {
	keys := make([]string, len(h))
	for i, x := range h {
		keys[i] = x.Key + "=" + string(x.Value)
	}
	return strings.Join(keys, ",")
}

func TestHeadersKeepInsertionOrderAndAllowDuplicateKeys(t *testing.T) {
	var h record.Headers
	h = h.Add("b", []byte("1")).Add("a", []byte("2")).Add("b", []byte("3")).Add("c", nil)
	if got, want := headerKeys(h), "b=1,a=2,b=3,c="; got != want {
		t.Errorf("headers = %s, want %s", got, want)
	}
	if h[3].Value != nil {
		t.Errorf("Add(c, nil) stored %v, want a nil (null) value", h[3].Value)
	}
}

func TestHeadersLastReturnsValueOfLastHeaderWithKey(t *testing.T) {
	h := record.Headers{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Value: []byte("x")},
		{Key: "a", Value: []byte("2")},
		{Key: "n", Value: []byte("set")},
		{Key: "n", Value: nil},
	}
	tests := []struct {
		key     string
		want    []byte
		wantOK  bool
		wantNil bool
	}{
		{key: "a", want: []byte("2"), wantOK: true},
		{key: "b", want: []byte("x"), wantOK: true},
		{key: "n", wantOK: true, wantNil: true}, // last "n" has a null value: present, nil
		{key: "missing", wantOK: false, wantNil: true},
	}
	for _, tc := range tests {
		got, ok := h.Last(tc.key)
		if ok != tc.wantOK || !bytes.Equal(got, tc.want) || (got == nil) != tc.wantNil {
			t.Errorf("Last(%q) = %q, %v; want %q, %v (nil=%v)", tc.key, got, ok, tc.want, tc.wantOK, tc.wantNil)
		}
	}
}

func TestHeadersValuesReturnsAllValuesOfKeyInOrder(t *testing.T) {
	h := record.Headers{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Value: []byte("x")},
		{Key: "a", Value: nil},
		{Key: "a", Value: []byte("3")},
	}
	got := h.Values("a")
	want := [][]byte{[]byte("1"), nil, []byte("3")}
	if len(got) != len(want) {
		t.Fatalf("Values(a) = %q, want %q", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Errorf("Values(a)[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if got := h.Values("missing"); len(got) != 0 {
		t.Errorf("Values(missing) = %q, want none", got)
	}
}

func TestHeadersAddNeverWritesIntoReceiverBackingArray(t *testing.T) {
	base := make(record.Headers, 1, 8) // spare capacity an in-place append would use
	base[0] = record.Header{Key: "base", Value: []byte("0")}

	a := base.Add("x", []byte("1"))
	b := base.Add("y", []byte("2"))

	if got, want := headerKeys(a), "base=0,x=1"; got != want {
		t.Errorf("first Add = %s, want %s", got, want)
	}
	if got, want := headerKeys(b), "base=0,y=2"; got != want {
		t.Errorf("second Add from the same base = %s, want %s (the first result was overwritten?)", got, want)
	}
	if got, want := headerKeys(base), "base=0"; got != want {
		t.Errorf("base = %s, want %s", got, want)
	}
	if spare := base[:cap(base)][1]; spare.Key != "" || spare.Value != nil {
		t.Errorf("Add wrote %v into the receiver's spare capacity", spare)
	}
}

func TestHeadersRemoveNeverWritesIntoReceiverBackingArray(t *testing.T) {
	base := make(record.Headers, 0, 8)
	base = append(base,
		record.Header{Key: "a", Value: []byte("1")},
		record.Header{Key: "b", Value: []byte("2")},
		record.Header{Key: "a", Value: []byte("3")},
		record.Header{Key: "c", Value: []byte("4")},
	)

	withoutA := base.Remove("a")
	if got, want := headerKeys(withoutA), "b=2,c=4"; got != want {
		t.Errorf("Remove(a) = %s, want %s (every header named a removed)", got, want)
	}
	withoutB := base.Remove("b")
	if got, want := headerKeys(withoutB), "a=1,a=3,c=4"; got != want {
		t.Errorf("Remove(b) = %s, want %s", got, want)
	}
	if got, want := headerKeys(base), "a=1,b=2,a=3,c=4"; got != want {
		t.Errorf("base after Remove = %s, want %s", got, want)
	}
	if got, want := headerKeys(withoutA), "b=2,c=4"; got != want {
		t.Errorf("first Remove result changed by the second to %s, want %s", got, want)
	}

	same := base.Remove("missing")
	if got, want := headerKeys(same), headerKeys(base); got != want {
		t.Errorf("Remove(missing) = %s, want %s", got, want)
	}
	if &same[0] == &base[0] {
		t.Errorf("Remove(missing) returned the receiver's backing array, want a copy")
	}
	added := withoutA.Add("z", nil)
	if got, want := headerKeys(base), "a=1,b=2,a=3,c=4"; got != want || headerKeys(added) != "b=2,c=4,z=" {
		t.Errorf("Add after Remove: base = %s, added = %s", got, headerKeys(added))
	}
}

func TestHeadersCloneIsDeep(t *testing.T) {
	orig := record.Headers{
		{Key: "a", Value: []byte("abc")},
		{Key: "null", Value: nil},
		{Key: "empty", Value: []byte{}},
	}
	c := orig.Clone()
	if !c.Equal(orig) {
		t.Fatalf("Clone() = %v, want %v", c, orig)
	}
	if c[1].Value != nil {
		t.Errorf("Clone turned a null header value into %q", c[1].Value)
	}
	if c[2].Value == nil {
		t.Errorf("Clone turned an empty header value into null")
	}
	c[0].Value[0] = 'X'
	c[0].Key = "changed"
	if string(orig[0].Value) != "abc" || orig[0].Key != "a" {
		t.Errorf("changing the clone changed the original: %v", orig)
	}
	if got := (record.Headers{}).Clone(); got != nil {
		t.Errorf("Clone of empty headers = %#v, want nil", got)
	}
	if got := record.Headers(nil).Clone(); got != nil {
		t.Errorf("Clone of nil headers = %#v, want nil", got)
	}
}

func TestHeadersEqualDistinguishesNilValueFromEmptyValue(t *testing.T) {
	tests := []struct {
		name string
		a, b record.Headers
		want bool
	}{
		{name: "both nil", a: nil, b: nil, want: true},
		{name: "nil and empty headers", a: nil, b: record.Headers{}, want: true},
		{name: "same", a: record.Headers{{Key: "k", Value: []byte("v")}}, b: record.Headers{{Key: "k", Value: []byte("v")}}, want: true},
		{name: "null values", a: record.Headers{{Key: "k", Value: nil}}, b: record.Headers{{Key: "k", Value: nil}}, want: true},
		{name: "empty values", a: record.Headers{{Key: "k", Value: []byte{}}}, b: record.Headers{{Key: "k", Value: []byte{}}}, want: true},
		{name: "null vs empty value", a: record.Headers{{Key: "k", Value: nil}}, b: record.Headers{{Key: "k", Value: []byte{}}}, want: false},
		{name: "empty vs null value", a: record.Headers{{Key: "k", Value: []byte{}}}, b: record.Headers{{Key: "k", Value: nil}}, want: false},
		{name: "different value", a: record.Headers{{Key: "k", Value: []byte("v")}}, b: record.Headers{{Key: "k", Value: []byte("w")}}, want: false},
		{name: "different key", a: record.Headers{{Key: "k", Value: []byte("v")}}, b: record.Headers{{Key: "j", Value: []byte("v")}}, want: false},
		{name: "different length", a: record.Headers{{Key: "k", Value: nil}}, b: record.Headers{{Key: "k", Value: nil}, {Key: "k", Value: nil}}, want: false},
		{name: "order matters", a: record.Headers{{Key: "a", Value: nil}, {Key: "b", Value: nil}}, b: record.Headers{{Key: "b", Value: nil}, {Key: "a", Value: nil}}, want: false},
	}
	for _, tc := range tests {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.b.Equal(tc.a); got != tc.want {
			t.Errorf("%s (reversed): Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHeadersStringMarksNullValues(t *testing.T) {
	h := record.Headers{{Key: "a", Value: []byte("1")}, {Key: "n", Value: nil}, {Key: "e", Value: []byte{}}}
	if got, want := h.String(), `[a="1", n=<null>, e=""]`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}
