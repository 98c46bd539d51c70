package dsl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/millrace/millrace/record"
)

func TestMurmur3MatchesTheReferenceVectors(t *testing.T) {
	for _, tc := range []struct {
		in     string
		h1, h2 uint64
	}{
		{"", 0, 0},
		{"hello", 0xcbd8a7b341bd9b02, 0x5b1e906a48ae1d19},
	} {
		if h1, h2 := murmur3x64_128([]byte(tc.in), 0); h1 != tc.h1 || h2 != tc.h2 {
			t.Errorf("murmur3(%q) = %x %x, want %x %x", tc.in, h1, h2, tc.h1, tc.h2)
		}
	}
	// mmh3.hash_bytes("foo"): h1 and h2 little-endian.
	h1, h2 := murmur3x64_128([]byte("foo"), 0)
	var got [16]byte
	binary.LittleEndian.PutUint64(got[:8], h1)
	binary.LittleEndian.PutUint64(got[8:], h2)
	if want := "aE\xf5\x01W\x86q\xe2\x87}\xba+\xe4\x87\xaf~"; string(got[:]) != want {
		t.Errorf("murmur3(foo) = %q, want %q", got, want)
	}
}

func TestForeignKeyWrappersRoundTrip(t *testing.T) {
	subs := fkSubscriptionSerde[string]{keys: record.String()}
	for _, in := range []fkSubscription[string]{
		{instruction: fkSubscribe, hash: hashValue([]byte("v")), partition: 7, key: "order-1"},
		{instruction: fkUnsubscribe, partition: 0, key: ""},
	} {
		b, err := subs.Serialize([]byte("prefix"), in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := subs.Deserialize(b[len("prefix"):])
		if err != nil || out != in {
			t.Errorf("subscription %+v -> %+v, %v", in, out, err)
		}
		raw, err := fkSubscriptionSerde[[]byte]{keys: record.Bytes()}.Deserialize(b[len("prefix"):])
		if err != nil || string(raw.key) != in.key {
			t.Errorf("raw left key %q, %v", raw.key, err)
		}
	}
	resps := fkResponseSerde[string]{values: record.String()}
	for _, in := range []fkResponse[string]{
		{hash: hashValue([]byte("v")), hasHash: true, value: "alice", hasValue: true, partition: 2},
		{hash: hashValue([]byte("v")), hasHash: true, partition: 1},
		{},
	} {
		b, err := resps.Serialize(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := resps.Deserialize(b)
		if err != nil || out != in {
			t.Errorf("response %+v -> %+v, %v", in, out, err)
		}
	}
	st := fkStored{hash: hashValue([]byte("x")), partition: 3}
	b, _ := fkStoredSerde{}.Serialize(nil, st)
	if out, err := (fkStoredSerde{}).Deserialize(b); err != nil || out != st {
		t.Errorf("stored %+v -> %+v, %v", st, out, err)
	}
	key := append(fkPrefix(nil, []byte("c1")), "o1"...)
	if pk, ok := fkLeftKey(key); !ok || string(pk) != "o1" {
		t.Errorf("left key of %x: %q %v", key, pk, ok)
	}
	if bytes.HasPrefix(append(fkPrefix(nil, []byte("c10")), "o"...), fkPrefix(nil, []byte("c1"))) {
		t.Error("c10's subscriptions start with c1's prefix")
	}
}

// panicky is a serde whose deserializer panics on a leading 0xff.
type panicky struct{}

func (panicky) Serialize(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (panicky) Deserialize(b []byte) (string, error) {
	if len(b) > 0 && b[0] == 0xff {
		panic("boom")
	}
	if len(b) > 0 && b[0] == 0xfe {
		return "", errors.New("bad")
	}
	return string(b), nil
}

func FuzzForeignKeyWrapperDeserializersNeverPanic(f *testing.F) {
	subs := fkSubscriptionSerde[string]{keys: panicky{}}
	resps := fkResponseSerde[string]{values: panicky{}}
	seed, _ := subs.Serialize(nil, fkSubscription[string]{instruction: fkSubscribe, partition: 1, key: "k"})
	f.Add(seed)
	seed, _ = resps.Serialize(nil, fkResponse[string]{hasHash: true, hasValue: true, value: "v"})
	f.Add(seed)
	f.Add([]byte{})
	f.Add(append(make([]byte, 22), 0xff))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, record.ErrSerde) {
				t.Errorf("%s: error %v does not wrap record.ErrSerde", what, err)
			}
		}
		if s, err := subs.Deserialize(data); err == nil {
			b, err := subs.Serialize(nil, s)
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("subscription %x -> %+v -> %x, %v", data, s, b, err)
			}
		} else {
			check("subscription", err)
		}
		if r, err := resps.Deserialize(data); err == nil {
			if _, err := resps.Serialize(nil, r); err != nil {
				t.Errorf("response %+v does not serialize: %v", r, err)
			}
		} else {
			check("response", err)
		}
		_, err := fkStoredSerde{}.Deserialize(data)
		check("stored", err)
		_, _ = fkLeftKey(data)
		_ = fmt.Sprint(hashValue(data))
	})
}
