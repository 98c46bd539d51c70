package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func initCtx() store.InitContext { return store.InitContext{TaskID: "0_0", Logger: zap.NewNop()} }

// openKV returns an initialized typed in-memory store that is closed when the
// test ends.
func openKV[K, V any](t testing.TB, ks record.Serde[K], vs record.Serde[V]) store.KeyValueStore[K, V] {
	t.Helper()
	s := store.NewKeyValueStore(store.NewInMemoryKeyValueBytes("kv"), ks, vs)
	if err := s.Init(initCtx()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openBytes returns an initialized in-memory byte store.
func openBytes(t *testing.T) store.KeyValueBytes {
	t.Helper()
	s := store.NewInMemoryKeyValueBytes("bytes")
	if err := s.Init(initCtx()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// drained is what drain read from an iterator.
type drained[K, V any] struct {
	kvs []store.KeyValue[K, V]
	err error
}

// drain reads an iterator to its end and closes it. Call it as
// drain(s.All()).must(t).
func drain[K, V any](it store.Iterator[K, V], err error) drained[K, V] {
	if err != nil {
		return drained[K, V]{err: fmt.Errorf("opening iterator: %w", err)}
	}
	var out []store.KeyValue[K, V]
	for it.Next() {
		out = append(out, store.KeyValue[K, V]{Key: it.Key(), Value: it.Value()})
	}
	if err := it.Err(); err != nil {
		it.Close()
		return drained[K, V]{err: fmt.Errorf("iterator: %w", err)}
	}
	if err := it.Close(); err != nil {
		return drained[K, V]{err: fmt.Errorf("iterator Close: %w", err)}
	}
	return drained[K, V]{kvs: out}
}

// must fails the test on any error while draining.
func (d drained[K, V]) must(t *testing.T) []store.KeyValue[K, V] {
	t.Helper()
	if d.err != nil {
		t.Fatal(d.err)
	}
	return d.kvs
}

func keysOf[K, V any](kvs []store.KeyValue[K, V]) []K {
	out := make([]K, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, kv.Key)
	}
	return out
}

func putAll[K, V any](t *testing.T, s store.KeyValueStore[K, V], kvs ...store.KeyValue[K, V]) {
	t.Helper()
	if err := s.PutAll(kvs); err != nil {
		t.Fatalf("PutAll: %v", err)
	}
}

func kv[K, V any](k K, v V) store.KeyValue[K, V] { return store.KeyValue[K, V]{Key: k, Value: v} }

func TestInMemoryGetReturnsWhatPutStoredAndAbsentForMissingKeys(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	if v, ok, err := s.Get("a"); err != nil || ok || v != 0 {
		t.Errorf("Get(a) on empty store = %d, %v, %v; want 0, false, nil", v, ok, err)
	}
	if err := s.Put("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("a", 2); err != nil { // overwrite
		t.Fatal(err)
	}
	if err := s.Put("b", -3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key    string
		want   int64
		wantOK bool
	}{{"a", 2, true}, {"b", -3, true}, {"c", 0, false}, {"A", 0, false}} {
		if v, ok, err := s.Get(tc.key); err != nil || ok != tc.wantOK || v != tc.want {
			t.Errorf("Get(%q) = %d, %v, %v; want %d, %v, nil", tc.key, v, ok, err, tc.want, tc.wantOK)
		}
	}
}

func TestInMemoryPutIfAbsentReturnsExistingValueAndTrueElseStores(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	old, existed, err := s.PutIfAbsent("a", 1)
	if err != nil || existed || old != 0 {
		t.Fatalf("PutIfAbsent(a, 1) on absent key = %d, %v, %v; want 0, false, nil", old, existed, err)
	}
	if v, ok, _ := s.Get("a"); !ok || v != 1 {
		t.Fatalf("after PutIfAbsent(a, 1): Get(a) = %d, %v; want 1, true", v, ok)
	}
	old, existed, err = s.PutIfAbsent("a", 2)
	if err != nil || !existed || old != 1 {
		t.Errorf("PutIfAbsent(a, 2) on present key = %d, %v, %v; want 1, true, nil", old, existed, err)
	}
	if v, _, _ := s.Get("a"); v != 1 {
		t.Errorf("PutIfAbsent overwrote a present key: Get(a) = %d, want 1", v)
	}
}

func TestInMemoryPutAllPutsEveryEntryInOrderSoLaterDuplicatesWin(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)), kv("a", int64(3)))
	got := drain(s.All()).must(t)
	want := []store.KeyValue[string, int64]{kv("a", int64(3)), kv("b", int64(2))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All() after PutAll = %v, want %v", got, want)
	}
	if err := s.PutAll(nil); err != nil {
		t.Errorf("PutAll(nil) = %v, want nil", err)
	}
}

func TestInMemoryDeleteReturnsOldValueAndWhetherKeyExisted(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(10)))
	old, ok, err := s.Delete("a")
	if err != nil || !ok || old != 10 {
		t.Errorf("Delete(a) = %d, %v, %v; want 10, true, nil", old, ok, err)
	}
	if _, ok, _ := s.Get("a"); ok {
		t.Errorf("Get(a) after Delete: present, want absent")
	}
	old, ok, err = s.Delete("a")
	if err != nil || ok || old != 0 {
		t.Errorf("second Delete(a) = %d, %v, %v; want 0, false, nil", old, ok, err)
	}
}

func TestInMemoryApproximateNumEntriesCountsLiveKeys(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	check := func(want int64) {
		t.Helper()
		if n, err := s.ApproximateNumEntries(); err != nil || n != want {
			t.Errorf("ApproximateNumEntries = %d, %v; want %d", n, err, want)
		}
	}
	check(0)
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)), kv("c", int64(3)))
	check(3)
	putAll(t, s, kv("a", int64(4))) // overwrite does not add
	check(3)
	if _, _, err := s.Delete("b"); err != nil {
		t.Fatal(err)
	}
	check(2)
	if _, _, err := s.Delete("missing"); err != nil {
		t.Fatal(err)
	}
	check(2)
}

func TestInMemoryRangeAndReverseRangeAreInclusiveAtBothEnds(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	for i, k := range []string{"b", "d", "f", "h"} {
		putAll(t, s, kv(k, int64(i)))
	}
	tests := []struct {
		from, to string
		want     []string
	}{
		{"b", "h", []string{"b", "d", "f", "h"}},
		{"d", "f", []string{"d", "f"}},
		{"d", "d", []string{"d"}},
		{"c", "g", []string{"d", "f"}},           // bounds not present
		{"a", "z", []string{"b", "d", "f", "h"}}, // bounds outside
		{"d", "e", []string{"d"}},
		{"c", "d", []string{"d"}},
		{"", "b", []string{"b"}}, // empty string is the smallest key
		{"c", "c", nil},
		{"i", "z", nil},
		{"f", "d", nil}, // from > to
		{"z", "a", nil},
	}
	for _, tc := range tests {
		got := keysOf(drain(s.Range(tc.from, tc.to)).must(t))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Range(%q, %q) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
		rev := keysOf(drain(s.ReverseRange(tc.from, tc.to)).must(t))
		want := slices.Clone(tc.want)
		slices.Reverse(want)
		if !slices.Equal(rev, want) {
			t.Errorf("ReverseRange(%q, %q) = %q, want %q", tc.from, tc.to, rev, want)
		}
	}
}

func TestInMemoryRangeReturnsValuesWithKeys(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)), kv("c", int64(3)))
	got := drain(s.Range("b", "c")).must(t)
	want := []store.KeyValue[string, int64]{kv("b", int64(2)), kv("c", int64(3))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Range(b, c) = %v, want %v", got, want)
	}
}

func TestInMemoryAllAndReverseAllIterateEveryEntryInSerializedKeyOrder(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	// Inserted out of order; "B" < "a" and "a" < "ab" < "b" < "é" in UTF-8 bytes.
	in := []string{"é", "b", "ab", "a", "B", ""}
	for i, k := range in {
		putAll(t, s, kv(k, int64(i)))
	}
	want := []string{"", "B", "a", "ab", "b", "é"}
	if got := keysOf(drain(s.All()).must(t)); !slices.Equal(got, want) {
		t.Errorf("All() keys = %q, want %q", got, want)
	}
	slices.Reverse(want)
	if got := keysOf(drain(s.ReverseAll()).must(t)); !slices.Equal(got, want) {
		t.Errorf("ReverseAll() keys = %q, want %q", got, want)
	}

	empty := openKV(t, record.String(), record.Int64())
	if got := drain(empty.All()).must(t); len(got) != 0 {
		t.Errorf("All() on an empty store = %v, want nothing", got)
	}
}

func TestInMemoryInt64KeysSortNegativeAfterPositiveBecauseOfTheSignBit(t *testing.T) {
	s := openKV(t, record.Int64(), record.String())
	for _, k := range []int64{-1, 5, math64Min, 0, -100, 1 << 40, 1} {
		putAll(t, s, kv(k, fmt.Sprint(k)))
	}
	// Big-endian two's complement: 0x00.. < 0x7f.. < 0x80.. (MinInt64) < 0xff.. (-1).
	want := []int64{0, 1, 5, 1 << 40, math64Min, -100, -1}
	if got := keysOf(drain(s.All()).must(t)); !slices.Equal(got, want) {
		t.Errorf("All() keys = %v, want %v (negatives after positives)", got, want)
	}
	// A range from -1 to 1 is empty: -1 serializes after 1.
	if got := keysOf(drain(s.Range(-1, 1)).must(t)); len(got) != 0 {
		t.Errorf("Range(-1, 1) = %v, want nothing: ff.. > 00..01", got)
	}
	if got, want := keysOf(drain(s.Range(1, -1)).must(t)), []int64{1, 5, 1 << 40, math64Min, -100, -1}; !slices.Equal(got, want) {
		t.Errorf("Range(1, -1) = %v, want %v", got, want)
	}
}

const math64Min = -1 << 63

func TestInMemoryPrefixScanMatchesSerializedKeyBytesInAscendingOrder(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	for i, k := range []string{"user:2:b", "user:1:a", "user:10", "user:1", "user", "usex", "a", "user:1:\xff", "user:2"} {
		putAll(t, s, kv(k, int64(i)))
	}
	tests := []struct {
		prefix []byte
		want   []string
	}{
		{[]byte("user:1"), []string{"user:1", "user:10", "user:1:a", "user:1:\xff"}}, // '0' (0x30) sorts before ':' (0x3a)
		{[]byte("user:1:"), []string{"user:1:a", "user:1:\xff"}},
		{[]byte("user:2"), []string{"user:2", "user:2:b"}},
		{[]byte("user"), []string{"user", "user:1", "user:10", "user:1:a", "user:1:\xff", "user:2", "user:2:b"}},
		{[]byte("zzz"), nil},
		{[]byte("user:3"), nil},
		{[]byte{}, []string{"a", "user", "user:1", "user:10", "user:1:a", "user:1:\xff", "user:2", "user:2:b", "usex"}},
		{nil, []string{"a", "user", "user:1", "user:10", "user:1:a", "user:1:\xff", "user:2", "user:2:b", "usex"}},
	}
	for _, tc := range tests {
		if got := keysOf(drain(s.PrefixScan(tc.prefix)).must(t)); !slices.Equal(got, tc.want) {
			t.Errorf("PrefixScan(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestInMemoryPrefixScanOnInt64KeysUsesSerializedBytes(t *testing.T) {
	s := openKV(t, record.Int64(), record.String())
	for _, k := range []int64{1, 2, 255, 256, 257, 1 << 16, -1} {
		putAll(t, s, kv(k, ""))
	}
	// Keys 256 and 257 serialize to 00 00 00 00 00 00 01 0x.
	prefix := []byte{0, 0, 0, 0, 0, 0, 1}
	if got, want := keysOf(drain(s.PrefixScan(prefix)).must(t)), []int64{256, 257}; !slices.Equal(got, want) {
		t.Errorf("PrefixScan(% x) = %v, want %v", prefix, got, want)
	}
	if got, want := keysOf(drain(s.PrefixScan([]byte{0xff})).must(t)), []int64{-1}; !slices.Equal(got, want) {
		t.Errorf("PrefixScan(ff) = %v, want %v", got, want)
	}
}

func TestInMemoryIteratorSeesSnapshotOfKeysAndSkipsKeysDeletedAfterCreation(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)), kv("c", int64(3)), kv("d", int64(4)))

	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if _, _, err := s.Delete("c"); err != nil {
		t.Fatal(err)
	}
	putAll(t, s, kv("bb", int64(5)), kv("e", int64(6))) // added after creation: not in the snapshot

	var got []string
	for it.Next() {
		got = append(got, it.Key())
		if it.Key() == "a" {
			if _, _, err := s.Delete("d"); err != nil { // deleted while iterating
				t.Fatal(err)
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("iterator keys = %q, want %q (snapshot minus deleted keys)", got, want)
	}
}

func TestInMemoryIteratorAllowsWritesDuringIteration(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)), kv("c", int64(3)))
	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() { // read-modify-write each entry
		if err := s.Put(it.Key(), it.Value()*10); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	got := drain(s.All()).must(t)
	want := []store.KeyValue[string, int64]{kv("a", int64(10)), kv("b", int64(20)), kv("c", int64(30))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after read-modify-write: %v, want %v", got, want)
	}
}

func TestInMemoryClosedIteratorYieldsNothing(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	putAll(t, s, kv("a", int64(1)), kv("b", int64(2)))
	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() || it.Key() != "a" {
		t.Fatalf("first Next: key %q, want a", it.Key())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if it.Next() {
		t.Errorf("Next after Close = true (key %q), want false", it.Key())
	}
	if err := it.Close(); err != nil {
		t.Errorf("second iterator Close = %v, want nil", err)
	}
}

func TestInMemoryIteratorStopsWithoutPanicWhenStoreIsClosed(t *testing.T) {
	s := store.NewKeyValueStore(store.NewInMemoryKeyValueBytes("kv"), record.String(), record.Int64())
	if err := s.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAll([]store.KeyValue[string, int64]{kv("a", int64(1)), kv("b", int64(2))}); err != nil {
		t.Fatal(err)
	}
	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if it.Next() {
		t.Errorf("Next on an iterator of a closed store = true, want false")
	}
}

func TestInMemoryEmptyValueIsStoredAndReturnedAsPresent(t *testing.T) {
	bs := openKV(t, record.String(), record.Bytes())
	if err := bs.Put("k", []byte{}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := bs.Get("k")
	if err != nil || !ok || v == nil || len(v) != 0 {
		t.Errorf("Get after Put(k, []byte{}) = %#v, %v, %v; want non-nil empty, true, nil", v, ok, err)
	}
	if v, ok, _ := bs.Get("absent"); ok || v != nil {
		t.Errorf("Get(absent) = %#v, %v; want nil, false", v, ok)
	}
	if got := drain(bs.All()).must(t); len(got) != 1 || got[0].Value == nil || len(got[0].Value) != 0 {
		t.Errorf("All() = %#v, want one entry with an empty, non-nil value", got)
	}

	ss := openKV(t, record.String(), record.String())
	if err := ss.Put("k", ""); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := ss.Get("k"); err != nil || !ok || v != "" {
		t.Errorf("Get after Put(k, \"\") = %q, %v, %v; want \"\", true, nil", v, ok, err)
	}
	if n, _ := ss.ApproximateNumEntries(); n != 1 {
		t.Errorf("ApproximateNumEntries = %d, want 1", n)
	}
}

func TestInMemoryPutOfValueSerializingToNullDeletesKey(t *testing.T) {
	bs := openKV(t, record.String(), record.Bytes())
	if err := bs.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := bs.Put("k", nil); err != nil {
		t.Fatalf("Put(k, nil) = %v, want nil", err)
	}
	if v, ok, _ := bs.Get("k"); ok {
		t.Errorf("Get(k) after Put(k, nil) = %q, present; want absent (null value deletes)", v)
	}
	if err := bs.Put("never", nil); err != nil {
		t.Errorf("Put(absent, nil) = %v, want nil", err)
	}
	if n, _ := bs.ApproximateNumEntries(); n != 0 {
		t.Errorf("ApproximateNumEntries = %d, want 0", n)
	}

	type point struct{ X int }
	js := openKV(t, record.String(), record.JSON[*point]())
	if err := js.Put("p", &point{X: 1}); err != nil {
		t.Fatal(err)
	}
	if err := js.Put("p", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := js.Get("p"); ok {
		t.Errorf("Get(p) after Put(p, nil pointer) = %v, present; want absent", v)
	}
}

// noPanic runs f and turns a panic into a test failure.
func noPanic(t *testing.T, name string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", name, r)
			err = nil
		}
	}()
	return f()
}

func TestInMemoryRejectsNullKeyWithErrNullKeyNeverPanics(t *testing.T) {
	s := openKV(t, record.Bytes(), record.String())
	if err := s.Put([]byte("real"), "v"); err != nil {
		t.Fatal(err)
	}
	k := []byte("real")
	ops := []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, _, err := s.Get(nil); return err }},
		{"Put", func() error { return s.Put(nil, "v") }},
		{"PutIfAbsent", func() error { _, _, err := s.PutIfAbsent(nil, "v"); return err }},
		{"PutAll", func() error { return s.PutAll([]store.KeyValue[[]byte, string]{{Key: nil, Value: "v"}}) }},
		{"Delete", func() error { _, _, err := s.Delete(nil); return err }},
		{"Range(nil, k)", func() error { _, err := s.Range(nil, k); return err }},
		{"Range(k, nil)", func() error { _, err := s.Range(k, nil); return err }},
		{"ReverseRange(nil, k)", func() error { _, err := s.ReverseRange(nil, k); return err }},
		{"ReverseRange(k, nil)", func() error { _, err := s.ReverseRange(k, nil); return err }},
	}
	for _, op := range ops {
		if err := noPanic(t, op.name, op.f); !errors.Is(err, store.ErrNullKey) {
			t.Errorf("%s with a null key: error = %v, want one wrapping ErrNullKey", op.name, err)
		}
	}
	if v, ok, _ := s.Get(k); !ok || v != "v" {
		t.Errorf("the real key was disturbed: Get = %q, %v", v, ok)
	}
	if n, _ := s.ApproximateNumEntries(); n != 1 {
		t.Errorf("ApproximateNumEntries = %d after rejected null-key writes, want 1", n)
	}
}

func TestInMemoryByteStoreRejectsNilKeyWithErrNullKey(t *testing.T) {
	s := openBytes(t)
	ops := []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, _, err := s.Get(nil); return err }},
		{"Put", func() error { return s.Put(nil, []byte("v")) }},
		{"Put null value", func() error { return s.Put(nil, nil) }},
		{"Delete", func() error { _, _, err := s.Delete(nil); return err }},
	}
	for _, op := range ops {
		if err := noPanic(t, op.name, op.f); !errors.Is(err, store.ErrNullKey) {
			t.Errorf("byte store %s(nil key): error = %v, want one wrapping ErrNullKey", op.name, err)
		}
	}
}

func TestInMemoryEmptyStringKeyIsValidAndDistinctFromAbsent(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	if _, ok, err := s.Get(""); err != nil || ok {
		t.Fatalf("Get(\"\") on empty store = %v, %v; want absent, nil", ok, err)
	}
	if err := s.Put("", 7); err != nil {
		t.Fatalf("Put(\"\", 7) = %v; an empty key is not null", err)
	}
	if v, ok, err := s.Get(""); err != nil || !ok || v != 7 {
		t.Errorf("Get(\"\") = %d, %v, %v; want 7, true, nil", v, ok, err)
	}
	putAll(t, s, kv("a", int64(1)))
	if got := drain(s.All()).must(t); !reflect.DeepEqual(got, []store.KeyValue[string, int64]{kv("", int64(7)), kv("a", int64(1))}) {
		t.Errorf("All() = %v, want the empty key first", got)
	}
	if got := keysOf(drain(s.Range("", "")).must(t)); !slices.Equal(got, []string{""}) {
		t.Errorf("Range(\"\", \"\") = %q, want [\"\"]", got)
	}
	if old, ok, err := s.Delete(""); err != nil || !ok || old != 7 {
		t.Errorf("Delete(\"\") = %d, %v, %v; want 7, true, nil", old, ok, err)
	}
	if _, ok, _ := s.Get(""); ok {
		t.Errorf("Get(\"\") after Delete: present, want absent")
	}
}

func TestInMemoryEmptyBytesKeyIsValidAndIteratesAsNonNil(t *testing.T) {
	s := openKV(t, record.Bytes(), record.Int64())
	if err := s.Put([]byte{}, 1); err != nil {
		t.Fatalf("Put([]byte{}, 1) = %v; an empty key is not null", err)
	}
	if v, ok, err := s.Get([]byte{}); err != nil || !ok || v != 1 {
		t.Errorf("Get([]byte{}) = %d, %v, %v; want 1, true, nil", v, ok, err)
	}
	got := drain(s.All()).must(t)
	if len(got) != 1 || got[0].Key == nil || len(got[0].Key) != 0 {
		t.Errorf("All() = %#v, want one entry with an empty, non-nil key", got)
	}
}

func TestInMemoryByteStoreCopiesKeysAndValuesItKeeps(t *testing.T) {
	s := openBytes(t)
	key := []byte("key")
	val := []byte("value")
	if err := s.Put(key, val); err != nil {
		t.Fatal(err)
	}
	copy(key, "XXX")
	copy(val, "XXXXX")

	got, ok, err := s.Get([]byte("key"))
	if err != nil || !ok || string(got) != "value" {
		t.Errorf("Get(key) after mutating the Put buffers = %q, %v, %v; want value, true", got, ok, err)
	}
	if _, ok, _ := s.Get([]byte("XXX")); ok {
		t.Errorf("the mutated key buffer became a stored key")
	}

	// Overwriting an existing key copies the new value too.
	val2 := []byte("second")
	if err := s.Put([]byte("key"), val2); err != nil {
		t.Fatal(err)
	}
	copy(val2, "######")
	if got, _, _ := s.Get([]byte("key")); string(got) != "second" {
		t.Errorf("Get(key) after overwrite and mutating the buffer = %q, want second", got)
	}

	// Iterated keys are the stored copies as well.
	it, err := s.Range(nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.Next() || string(it.Key()) != "key" || string(it.Value()) != "second" {
		t.Errorf("iterator = %q=%q, want key=second", it.Key(), it.Value())
	}
}

func TestInMemoryTypedStoreReusesBuffersWithoutCorruptingStoredKeys(t *testing.T) {
	s := openKV(t, record.String(), record.String())
	// The façade serializes every key into one buffer; stored keys must not
	// alias it.
	putAll(t, s, kv("long-key-1", "a"), kv("k2", "b"), kv("long-key-3", "c"))
	got := drain(s.All()).must(t)
	want := []store.KeyValue[string, string]{kv("k2", "b"), kv("long-key-1", "a"), kv("long-key-3", "c")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All() = %v, want %v", got, want)
	}
}

func TestInMemoryByteStoreRangeTreatsNilBoundsAsOpen(t *testing.T) {
	s := openBytes(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := s.Put([]byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		from, to []byte
		want     string
	}{
		{nil, nil, "abcd"},
		{b("b"), nil, "bcd"},
		{nil, b("c"), "abc"},
		{b("b"), b("c"), "bc"},
		{b("bb"), b("cc"), "c"},
		{b("c"), b("b"), ""},
		{b("e"), nil, ""},
		{nil, b("0"), ""},
		{b(""), b("a"), "a"},
	}
	for _, tc := range tests {
		for _, reverse := range []bool{false, true} {
			it, err := s.Range(tc.from, tc.to, reverse)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for it.Next() {
				got = append(got, it.Key()...) // Key is valid until Next
			}
			if err := errors.Join(it.Err(), it.Close()); err != nil {
				t.Fatal(err)
			}
			want := []byte(tc.want)
			if reverse {
				slices.Reverse(want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Range(%q, %q, reverse=%v) = %q, want %q", tc.from, tc.to, reverse, got, want)
			}
		}
	}
}

func TestInMemoryTypedStoreReportsUndecodableStoredBytesAsErrSerde(t *testing.T) {
	inner := store.NewInMemoryKeyValueBytes("kv")
	s := store.NewKeyValueStore(inner, record.String(), record.Int64())
	if err := s.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := inner.Put([]byte("bad"), []byte{1, 2, 3}); err != nil { // not 8 bytes
		t.Fatal(err)
	}
	if _, ok, err := s.Get("bad"); !errors.Is(err, record.ErrSerde) || ok {
		t.Errorf("Get of undecodable value: ok=%v err=%v; want false and an error wrapping ErrSerde", ok, err)
	}
	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if it.Next() {
		t.Errorf("Next over an undecodable value = true, want false")
	}
	if err := it.Err(); !errors.Is(err, record.ErrSerde) {
		t.Errorf("iterator Err = %v, want one wrapping ErrSerde", err)
	}
}

// lifecycleOps are every store operation, for the lifecycle tests.
func lifecycleOps(s store.KeyValueStore[string, int64]) []struct {
	name string
	f    func() error
} {
	it := func(i store.Iterator[string, int64], err error) error {
		if i != nil {
			i.Close()
		}
		return err
	}
	return []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, _, err := s.Get("a"); return err }},
		{"Put", func() error { return s.Put("a", 1) }},
		{"PutIfAbsent", func() error { _, _, err := s.PutIfAbsent("a", 1); return err }},
		{"PutAll", func() error { return s.PutAll([]store.KeyValue[string, int64]{kv("a", int64(1))}) }},
		{"Delete", func() error { _, _, err := s.Delete("a"); return err }},
		{"Range", func() error { return it(s.Range("a", "z")) }},
		{"ReverseRange", func() error { return it(s.ReverseRange("a", "z")) }},
		{"All", func() error { return it(s.All()) }},
		{"ReverseAll", func() error { return it(s.ReverseAll()) }},
		{"PrefixScan", func() error { return it(s.PrefixScan([]byte("a"))) }},
		{"ApproximateNumEntries", func() error { _, err := s.ApproximateNumEntries(); return err }},
		{"Flush", s.Flush},
	}
}

func TestInMemoryOperationsBeforeInitReturnErrNotOpen(t *testing.T) {
	s := store.NewKeyValueStore(store.NewInMemoryKeyValueBytes("kv"), record.String(), record.Int64())
	for _, op := range lifecycleOps(s) {
		if err := noPanic(t, op.name, op.f); !errors.Is(err, store.ErrNotOpen) {
			t.Errorf("%s before Init: error = %v, want one wrapping ErrNotOpen", op.name, err)
		}
	}
}

func TestInMemoryOperationsAfterCloseReturnErrClosed(t *testing.T) {
	s := store.NewKeyValueStore(store.NewInMemoryKeyValueBytes("kv"), record.String(), record.Int64())
	if err := s.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, op := range lifecycleOps(s) {
		if err := noPanic(t, op.name, op.f); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: error = %v, want one wrapping ErrClosed", op.name, err)
		}
	}
	if err := s.Init(initCtx()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Init after Close = %v, want an error wrapping ErrClosed", err)
	}
}

func TestInMemoryCloseIsIdempotent(t *testing.T) {
	for _, initFirst := range []bool{true, false} {
		s := store.NewInMemoryKeyValueBytes("kv")
		if initFirst {
			if err := s.Init(initCtx()); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if err := s.Close(); err != nil {
				t.Errorf("Close #%d (initialized=%v) = %v, want nil", i+1, initFirst, err)
			}
		}
	}
}

func TestInMemoryInitTwiceIsAnError(t *testing.T) {
	s := store.NewInMemoryKeyValueBytes("kv")
	defer s.Close()
	if err := s.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(initCtx()); err == nil {
		t.Errorf("second Init = nil, want an error")
	}
	if v, ok, _ := s.Get([]byte("a")); !ok || string(v) != "1" {
		t.Errorf("second Init wiped the store: Get(a) = %q, %v", v, ok)
	}
}

func TestInMemoryKeyValueSupplierMakesFreshUnopenedNonPersistentStores(t *testing.T) {
	sup := store.InMemoryKeyValue("counts")
	if sup.Name() != "counts" {
		t.Errorf("supplier Name = %q, want counts", sup.Name())
	}
	a, b := sup.Get(), sup.Get()
	if a.Name() != "counts" || a.Persistent() {
		t.Errorf("store Name=%q Persistent=%v, want counts, false", a.Name(), a.Persistent())
	}
	if _, _, err := a.Get([]byte("k")); !errors.Is(err, store.ErrNotOpen) {
		t.Errorf("Get on a supplied store before Init = %v, want ErrNotOpen", err)
	}
	for _, s := range []store.KeyValueBytes{a, b} {
		if err := s.Init(initCtx()); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	if err := a.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get([]byte("k")); ok {
		t.Errorf("two supplied stores share data")
	}
}

func TestInMemoryKeyValueBuilderBuildsTypedStoresOverTheSupplier(t *testing.T) {
	bld := store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64())
	if bld.Name() != "counts" {
		t.Errorf("builder Name = %q", bld.Name())
	}
	kt, vt := bld.Types()
	if kt != reflect.TypeFor[string]() || vt != reflect.TypeFor[int64]() {
		t.Errorf("Types = %v, %v; want string, int64", kt, vt)
	}
	ss, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := ss.(store.KeyValueStore[string, int64])
	if !ok {
		t.Fatalf("Build returned %T, want a KeyValueStore[string, int64]", ss)
	}
	if err := s.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put("a", 1); err != nil {
		t.Fatal(err)
	}
	inner, ok := store.Inner(s)
	if !ok {
		t.Fatalf("Inner(typed store) = false")
	}
	if v, ok, _ := inner.Get([]byte("a")); !ok || !bytes.Equal(v, []byte{0, 0, 0, 0, 0, 0, 0, 1}) {
		t.Errorf("inner Get(a) = % x, %v; want the Int64 serde's bytes", v, ok)
	}
	if _, err := store.NewKeyValueBuilder[string, int64](store.InMemoryKeyValue("x"), nil, record.Int64()).Build(); err == nil {
		t.Errorf("Build with a nil serde = nil error, want an error")
	}
}

func BenchmarkInMemoryKeyValueGetPut(b *testing.B) {
	s := openKV(b, record.String(), record.Int64())
	const distinct = 10_000
	keys := make([]string, distinct)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%05d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := keys[i%distinct]
		n, _, err := s.Get(k)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Put(k, n+1); err != nil {
			b.Fatal(err)
		}
	}
}
