package store_test

import (
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func TestValuesOnlyReadsATimestampedStoresValuesInKeyOrder(t *testing.T) {
	s := openKV(t, record.String(), store.TimestampedSerde(record.Int64()))
	for i, k := range []string{"b", "a", "c"} {
		if err := s.Put(k, store.ValueAndTimestamp[int64]{Value: int64(i + 1), Timestamp: int64(100 * i)}); err != nil {
			t.Fatal(err)
		}
	}
	v := store.ValuesOnly(store.ReadOnlyKeyValue(s))
	if n, ok, err := v.Get("a"); err != nil || !ok || n != 2 {
		t.Errorf("Get(a) = %d, %v, %v; want 2", n, ok, err)
	}
	if n, ok, err := v.Get("z"); err != nil || ok || n != 0 {
		t.Errorf("Get(z) = %d, %v, %v; want absent", n, ok, err)
	}
	collect := func(it store.Iterator[string, int64], err error) (out []int64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		for it.Next() {
			out = append(out, it.Value())
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for name, c := range map[string]struct {
		got  []int64
		want []int64
	}{
		"All":          {collect(v.All()), []int64{2, 1, 3}},
		"ReverseAll":   {collect(v.ReverseAll()), []int64{3, 1, 2}},
		"Range":        {collect(v.Range("a", "b")), []int64{2, 1}},
		"ReverseRange": {collect(v.ReverseRange("b", "c")), []int64{3, 1}},
		"PrefixScan":   {collect(v.PrefixScan([]byte("c"))), []int64{3}},
	} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
			continue
		}
		for i := range c.got {
			if c.got[i] != c.want[i] {
				t.Errorf("%s = %v, want %v", name, c.got, c.want)
				break
			}
		}
	}
}
