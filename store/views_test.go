package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// foreignKV is a KeyValueStore the store package did not build.
type foreignKV struct {
	store.KeyValueStore[string, int64]
}

func TestGlobalViewOfAStoreItDidNotBuildIsAnErrorNamingTheStoreAndItsType(t *testing.T) {
	s := openKV(t, record.String(), record.Int64())
	v, err := store.GlobalView[string, int64](foreignKV{s})
	if err == nil || v != nil {
		t.Fatalf("GlobalView(foreign store) = %v, %v; want an error", v, err)
	}
	for _, want := range []string{`"kv"`, "store_test.foreignKV"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := store.GlobalView[string, int64](nil); err == nil {
		t.Error("GlobalView(nil) is not an error")
	}
	// A store it built gives a view that reads and refuses writes.
	if err := s.Put("a", 1); err != nil {
		t.Fatal(err)
	}
	g, err := store.GlobalView(s)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok, err := g.Get("a"); err != nil || !ok || n != 1 {
		t.Errorf("view Get(a) = %d %v %v", n, ok, err)
	}
	if err := g.Put("b", 2); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("view Put = %v, want ErrReadOnly", err)
	}
}

func TestTimestampedSerdeWithoutAValueSerdeFailsInsteadOfPanicking(t *testing.T) {
	s := store.TimestampedSerde[int64](nil)
	if _, err := s.Serialize(nil, store.ValueAndTimestamp[int64]{Value: 1, Timestamp: 2}); !errors.Is(err, record.ErrSerde) {
		t.Errorf("Serialize: %v, want ErrSerde", err)
	}
	if _, err := s.Deserialize(make([]byte, 16)); !errors.Is(err, record.ErrSerde) {
		t.Errorf("Deserialize: %v, want ErrSerde", err)
	}
}
