package window

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func newTestBuffer(t *testing.T, retention time.Duration) *joinBuffer[string, string] {
	t.Helper()
	sb := newJoinBufferBuilder(store.InMemoryWindow("buf", retention, time.Millisecond, true), record.String(), record.String())
	s, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	b := s.(*joinBuffer[string, string])
	if err := b.Init(store.InitContext{Logger: zap.NewNop()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.load(); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJoinBufferIndexAgreesWithTheStoreAndStaysBounded puts records out of
// order (some already expired) and checks, at random commits, that every
// fetch from the index returns what the window store under it returns, and
// that the index never holds a record put more than a retention ago.
func TestJoinBufferIndexAgreesWithTheStoreAndStaysBounded(t *testing.T) {
	const retention = 50
	b := newTestBuffer(t, retention*time.Millisecond)
	rng := rand.New(rand.NewSource(1))
	var observedAt []int64 // observed stream time when each accepted record was put
	observed := int64(-1 << 62)
	base := int64(1000)
	compared := 0
	for i := range 20_000 {
		base += int64(rng.Intn(3))
		ts := max(0, base-int64(rng.Intn(70))) // up to 70 ms late: some expired
		key := fmt.Sprint("k", rng.Intn(7))
		observed = max(observed, ts)
		live := observed - retention + 1
		before := b.tail
		if err := b.Put(key, fmt.Sprint("v", i), ts); err != nil {
			t.Fatal(err)
		}
		if ts < live {
			if b.tail != before {
				t.Fatalf("expired put %d (ts %d < %d) was indexed", i, ts, live)
			}
		} else {
			observedAt = append(observedAt, observed)
		}
		// Bounded: every record put when stream time was a retention or
		// more behind has left the ring.
		for p := b.head; p < b.tail && observedAt[p] <= observed-retention; p++ {
			t.Fatalf("record %d put at stream time %d is still indexed at %d", p, observedAt[p], observed)
		}
		if len(b.index) > 7 {
			t.Fatalf("%d keys indexed", len(b.index))
		}
		if rng.Intn(200) != 0 {
			continue
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		for k := range 7 {
			key := fmt.Sprint("k", k)
			from := observed - int64(rng.Intn(80))
			to := from + int64(rng.Intn(60))
			hits, err := b.fetch(nil, key, from, to)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, h := range hits {
				got = append(got, fmt.Sprint(h.ts, "=", h.value))
			}
			it, err := b.inner.FetchRange(key, from, to)
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				want = append(want, fmt.Sprint(it.Key(), "=", it.Value()))
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			compared += len(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after put %d, fetch(%s, %d, %d):\n index %v\n store %v", i, key, from, to, got, want)
			}
		}
	}
	if compared < 500 {
		t.Errorf("only %d records compared", compared)
	}
}

// TestJoinBufferLoadRebuildsTheIndexFromTheStore writes through one buffer,
// then opens a second over the same store contents (as a restore leaves
// them) and checks the rebuilt index answers alike, in insertion order for
// equal timestamps.
func TestJoinBufferLoadRebuildsTheIndexFromTheStore(t *testing.T) {
	b := newTestBuffer(t, 100*time.Millisecond)
	for i, ts := range []int64{110, 130, 120, 120, 105, 200, 150, 101, 20} {
		if err := b.Put("k", fmt.Sprint("v", i), ts); err != nil {
			t.Fatal(err)
		}
	}
	before, err := b.fetch(nil, "k", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	b.loaded = false
	if err := b.load(); err != nil {
		t.Fatal(err)
	}
	after, err := b.fetch(nil, "k", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(after) || fmt.Sprint(after) != "[{101 v7} {105 v4} {110 v0} {120 v2} {120 v3} {130 v1} {150 v6} {200 v5}]" {
		t.Errorf("before %v, after the reload %v", before, after)
	}
}

// TestUnmatchedBufferBehavesAsTheStoreAndWritesOnlyTheNetChange applies
// random puts and deletes to the unmatched buffer and to a plain store,
// compares their ranges and prefix scans, and after each Flush checks the
// store under the buffer holds exactly the same entries.
func TestUnmatchedBufferBehavesAsTheStoreAndWritesOnlyTheNetChange(t *testing.T) {
	s, err := newUnmatchedBufferBuilder(store.InMemoryKeyValue("um")).Build()
	if err != nil {
		t.Fatal(err)
	}
	u := s.(*unmatchedBuffer)
	ctx := store.InitContext{Logger: zap.NewNop()}
	if err := u.Init(ctx); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	refS, err := store.NewKeyValueBuilder(store.InMemoryKeyValue("ref"), record.Bytes(), record.Bytes()).Build()
	if err != nil {
		t.Fatal(err)
	}
	ref := refS.(store.KeyValueStore[[]byte, []byte])
	if err := ref.Init(ctx); err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	dump := func(it store.Iterator[[]byte, []byte], err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		var out []string
		for it.Next() {
			out = append(out, string(it.Key())+"="+string(it.Value()))
		}
		return fmt.Sprint(out)
	}
	rng := rand.New(rand.NewSource(2))
	key := func() []byte { return []byte(fmt.Sprintf("%c%02d", 'a'+rng.Intn(3), rng.Intn(20))) }
	for i := range 5000 {
		k := key()
		if rng.Intn(3) == 0 {
			_, ok1, err1 := u.Delete(k)
			_, ok2, err2 := ref.Delete(k)
			if ok1 != ok2 || err1 != nil || err2 != nil {
				t.Fatalf("Delete(%s): %v %v, %v %v", k, ok1, err1, ok2, err2)
			}
		} else {
			v := []byte(fmt.Sprint(i))
			if err := u.Put(k, v); err != nil {
				t.Fatal(err)
			}
			if err := ref.Put(k, v); err != nil {
				t.Fatal(err)
			}
		}
		from, to := key(), key()
		if got, want := dump(u.Range(from, to)), dump(ref.Range(from, to)); got != want {
			t.Fatalf("Range(%s, %s): %s, want %s", from, to, got, want)
		}
		p := k[:2]
		if got, want := dump(u.PrefixScan(p)), dump(ref.PrefixScan(p)); got != want {
			t.Fatalf("PrefixScan(%s): %s, want %s", p, got, want)
		}
		if rng.Intn(50) == 0 {
			if err := u.Flush(); err != nil {
				t.Fatal(err)
			}
			if got, want := dump(u.inner.All()), dump(ref.All()); got != want {
				t.Fatalf("after Flush the store holds %s, want %s", got, want)
			}
		}
	}
}
