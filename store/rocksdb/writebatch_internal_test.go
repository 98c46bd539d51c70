package rocksdb

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/linxGnu/grocksdb"

	"github.com/millrace/millrace/store"
)

// TestEncodedWriteBatchIsRocksDBsOwn builds the same batches with RocksDB's
// WriteBatch and with encodeWriteBatch and wants the same bytes: puts and
// deletes, an empty key, an empty value (a put, not a delete), and lengths
// whose varints take one, two, three and four bytes.
func TestEncodedWriteBatchIsRocksDBsOwn(t *testing.T) {
	long := func(n int) []byte { return bytes.Repeat([]byte{0xab}, n) }
	cases := map[string][]store.Entry{
		"empty batch":      nil,
		"one put":          {{Key: []byte("k"), Value: []byte("v")}},
		"one delete":       {{Key: []byte("k")}},
		"empty value":      {{Key: []byte("k"), Value: []byte{}}},
		"empty key":        {{Key: []byte{}, Value: []byte("v")}},
		"empty key delete": {{Key: []byte{}}},
		"varint lengths": {
			{Key: long(127), Value: long(128)},
			{Key: long(16383), Value: long(16384)},
			{Key: long(3), Value: long(2 << 20)},
			{Key: long(300)},
		},
		"mixed": {
			{Key: []byte("a"), Value: []byte("1")},
			{Key: []byte("b")},
			{Key: []byte("c"), Value: []byte{}},
			{Key: []byte("d"), Value: []byte{0, 0xff, 0}},
		},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			wb := grocksdb.NewWriteBatch()
			defer wb.Destroy()
			for _, e := range entries {
				if e.Value == nil {
					wb.Delete(e.Key)
				} else {
					wb.Put(e.Key, e.Value)
				}
			}
			got, err := encodeWriteBatch("s", entries)
			if err != nil {
				t.Fatal(err)
			}
			if want := wb.Data(); !bytes.Equal(got, want) {
				t.Fatalf("encoded batch differs from RocksDB's:\n got %x\nwant %x", head(got), head(want))
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func TestEncodingANullKeyIsAnErrorNamingTheStore(t *testing.T) {
	_, err := encodeWriteBatch("counts", []store.Entry{{Key: []byte("k"), Value: []byte("v")}, {Key: nil, Value: []byte("v")}})
	if !errors.Is(err, store.ErrNullKey) || !strings.Contains(err.Error(), `"counts"`) {
		t.Fatalf("err = %v, want ErrNullKey naming store \"counts\"", err)
	}
}
