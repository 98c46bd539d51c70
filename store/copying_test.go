package store

import (
	"bytes"
	"testing"
)

func TestCopiesAreDistinctEvenWhenTheyShareAChunk(t *testing.T) {
	var c copies
	a := c.of([]byte("first"))
	b := c.of([]byte("second"))
	e := c.of([]byte{})
	big := c.of(bytes.Repeat([]byte("x"), copyChunk))
	if e == nil || len(e) != 0 {
		t.Errorf("copy of an empty value = %#v, want empty and non-nil", e)
	}
	a = append(a, "-grown"...) // capped: reallocates, does not run into b
	a[0] = 'F'
	if string(b) != "second" {
		t.Errorf("appending to and writing into one copy changed the next: %q", b)
	}
	if len(big) != copyChunk || &big[0] == &b[0] {
		t.Error("a large value was not copied on its own")
	}
	// A full chunk starts a new one; earlier copies keep their bytes.
	var keep [][]byte
	for i := range 2 * copyChunk / 100 {
		keep = append(keep, c.of(bytes.Repeat([]byte{byte(i)}, 100)))
	}
	for i, k := range keep {
		if !bytes.Equal(k, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("copy %d changed", i)
		}
	}
}
