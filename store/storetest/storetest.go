// Package storetest is the conformance suite every state-store backend
// passes: the same timelines and exact expectations run against the
// in-memory stores and the RocksDB stores, with and without the write-back
// cache, so the backends cannot drift apart.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Backend makes the byte-level suppliers of one backend.
type Backend struct {
	Name     string
	KeyValue func(name string) store.KeyValueBytesSupplier
	Window   func(name string, retention, size time.Duration, retainDuplicates bool) store.WindowBytesSupplier
	Session  func(name string, retention time.Duration) store.SessionBytesSupplier
}

// Run runs the whole suite against b, with and without cache.
func Run(t *testing.T, b Backend) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			t.Run("KeyValue", func(t *testing.T) { KeyValue(t, b, cached) })
			t.Run("Window", func(t *testing.T) { Window(t, b, cached) })
			t.Run("Session", func(t *testing.T) { Session(t, b, cached) })
			t.Run("Isolation", func(t *testing.T) { Isolation(t, b, cached) })
			t.Run("Batches", func(t *testing.T) { Batches(t, b, cached) })
			t.Run("Lifecycle", func(t *testing.T) { Lifecycle(t, b, cached) })
			t.Run("IteratorEnds", func(t *testing.T) { IteratorEnds(t, b, cached) })
		})
	}
	t.Run("Timestamped", func(t *testing.T) { Timestamped(t, b) })
	t.Run("Cache", func(t *testing.T) { Cache(t, b) })
	t.Run("Changelog", func(t *testing.T) { Changelog(t, b) })
}

func initCtx(t *testing.T, dir string) store.InitContext {
	return store.InitContext{TaskID: "0_0", ApplicationID: "conformance", StateDir: dir,
		Logger: zap.NewNop(), Cache: store.NewCache(1 << 20)}
}

// open builds a store with sb, opens it in dir and closes it when the test
// ends.
func open[S store.StateStore](t *testing.T, sb store.Builder, dir string) S {
	t.Helper()
	return openWith[S](t, sb, initCtx(t, dir))
}

// openWith is open with a context of the caller's.
func openWith[S store.StateStore](t *testing.T, sb store.Builder, ctx store.InitContext) S {
	t.Helper()
	st, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, ok := st.(S)
	if !ok {
		t.Fatalf("built %T", st)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func drain[K, V any](t *testing.T, it store.Iterator[K, V], err error, format func(K, V) string) string {
	t.Helper()
	must(t, err)
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, format(it.Key(), it.Value()))
	}
	must(t, it.Err())
	return strings.Join(out, " ")
}

func kvs(k, v string) string                       { return fmt.Sprintf("%q=%s", k, v) }
func win(k store.Windowed[string], v int64) string { return fmt.Sprintf("%s=%d", k, v) }
func at(ts int64, v int64) string                  { return fmt.Sprintf("%d=%d", ts, v) }

// KeyValue checks the key-value store contract.
func KeyValue(t *testing.T, b Backend, cached bool) {
	newStore := func(t *testing.T, dir string) store.KeyValueStore[string, []byte] {
		bl := store.NewKeyValueBuilder(b.KeyValue("kv"), record.String(), record.Bytes())
		if cached {
			bl.WithCaching()
		}
		return open[store.KeyValueStore[string, []byte]](t, bl, dir)
	}
	dir := t.TempDir()
	s := newStore(t, dir)
	// Keys chosen to prove byte order: "" < "a" < "a\x00" < "ab" < "b".
	for _, k := range []string{"b", "a\x00", "", "ab", "a"} {
		must(t, s.Put(k, []byte("v"+k)))
	}
	must(t, s.Put("empty-value", []byte{}))
	if v, ok, err := s.Get("empty-value"); err != nil || !ok || v == nil || len(v) != 0 {
		t.Errorf("empty value: %q %v %v, want a present, empty value", v, ok, err)
	}
	must(t, s.Put("empty-value", nil)) // a null value deletes
	if _, ok, _ := s.Get("empty-value"); ok {
		t.Error("putting a null value did not delete")
	}
	if _, ok, _ := s.Get("missing"); ok {
		t.Error("missing key present")
	}
	if v, ok, err := s.Get(""); err != nil || !ok || string(v) != "v" {
		t.Errorf(`empty key: %q %v %v`, v, ok, err)
	}
	str := func(k string, v []byte) string { return kvs(k, string(v)) }
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	it, err := s.All()
	check("All", drain(t, it, err, str), `""=v "a"=va "a\x00"=va`+"\x00"+` "ab"=vab "b"=vb`)
	it, err = s.ReverseAll()
	check("ReverseAll", drain(t, it, err, str), `"b"=vb "ab"=vab "a\x00"=va`+"\x00"+` "a"=va ""=v`)
	it, err = s.Range("a", "ab")
	check("Range inclusive", drain(t, it, err, str), `"a"=va "a\x00"=va`+"\x00"+` "ab"=vab`)
	it, err = s.ReverseRange("a", "ab")
	check("ReverseRange inclusive", drain(t, it, err, str), `"ab"=vab "a\x00"=va`+"\x00"+` "a"=va`)
	it, err = s.Range("aa", "b") // "aa" is absent: the bound still applies
	check("Range from absent key", drain(t, it, err, str), `"ab"=vab "b"=vb`)
	it, err = s.Range("b", "a")
	check("Range from > to", drain(t, it, err, str), "")
	it, err = s.PrefixScan([]byte("a"))
	check("PrefixScan", drain(t, it, err, str), `"a"=va "a\x00"=va`+"\x00"+` "ab"=vab`)

	if old, ok, err := s.Delete("ab"); err != nil || !ok || string(old) != "vab" {
		t.Errorf("Delete: %q %v %v", old, ok, err)
	}
	if _, ok, err := s.Delete("ab"); err != nil || ok {
		t.Errorf("second Delete: %v %v", ok, err)
	}
	if v, ok, err := s.PutIfAbsent("a", []byte("other")); err != nil || !ok || string(v) != "va" {
		t.Errorf("PutIfAbsent on present key: %q %v %v", v, ok, err)
	}
	if _, ok, err := s.PutIfAbsent("c", []byte("vc")); err != nil || ok {
		t.Errorf("PutIfAbsent on absent key: %v %v", ok, err)
	}
	must(t, s.PutAll([]store.KeyValue[string, []byte]{{Key: "d", Value: []byte("1")}, {Key: "d", Value: []byte("2")}}))
	if v, _, _ := s.Get("d"); string(v) != "2" {
		t.Errorf("PutAll: later entry must win, got %q", v)
	}
	must(t, s.Flush())
	// Mixed: flushed entries, then cached updates and a delete on top.
	must(t, s.Put("a", []byte("new")))
	_, _, err = s.Delete("b")
	must(t, err)
	must(t, s.Put("bb", []byte("vbb")))
	it, err = s.All()
	check("All after mixed writes", drain(t, it, err, str), `""=v "a"=new "a\x00"=va`+"\x00"+` "bb"=vbb "c"=vc "d"=2`)
	it, err = s.ReverseRange("a", "c")
	check("ReverseRange after mixed writes", drain(t, it, err, str), `"c"=vc "bb"=vbb "a\x00"=va`+"\x00"+` "a"=new`)
	if n, err := s.ApproximateNumEntries(); err != nil || n < 0 {
		t.Errorf("ApproximateNumEntries: %d %v", n, err)
	}

	// Null keys are errors, never panics.
	nb := open[store.KeyValueStore[[]byte, []byte]](t, store.NewKeyValueBuilder(b.KeyValue("nullkeys"), record.Bytes(), record.Bytes()), dir)
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("null key panicked: %v", p)
			}
		}()
		for name, err := range map[string]error{
			"Put":    nb.Put(nil, []byte("v")),
			"Get":    second(nb.Get(nil)),
			"Delete": second(nb.Delete(nil)),
			"Range":  second(nb.Range(nil, []byte("z"))),
		} {
			if !errors.Is(err, store.ErrNullKey) {
				t.Errorf("%s with a null key: %v, want ErrNullKey", name, err)
			}
		}
	}()

	// Persistent stores keep what was flushed across close and reopen.
	if s.Persistent() {
		must(t, s.Flush())
		must(t, s.Close())
		r := newStore(t, dir)
		it, err := r.All()
		check("All after reopen", drain(t, it, err, str), `""=v "a"=new "a\x00"=va`+"\x00"+` "bb"=vbb "c"=vc "d"=2`)
	}
}

func second[A, B any](_ A, b B, c ...error) error {
	if e, ok := any(b).(error); ok {
		return e
	}
	if len(c) > 0 {
		return c[0]
	}
	return nil
}

// Window checks the window store contract: ranges, order, retention,
// expired puts and duplicates.
func Window(t *testing.T, b Backend, cached bool) {
	newStore := func(t *testing.T, name string, dups bool) store.WindowStore[string, int64] {
		sup := b.Window(name, 100*time.Millisecond, 10*time.Millisecond, dups)
		sup.SegmentInterval = 50 * time.Millisecond
		bl := store.NewWindowBuilder(sup, record.String(), record.Int64())
		if cached {
			bl.WithCaching()
		}
		return open[store.WindowStore[string, int64]](t, bl, t.TempDir())
	}
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	s := newStore(t, "w", false)
	for _, p := range []struct {
		k  string
		ts int64
		v  int64
	}{{"b", 20, 1}, {"a", 30, 2}, {"a", 10, 3}, {"c", 10, 4}, {"a", 20, 5}, {"a\x00", 10, 6}} {
		must(t, s.Put(p.k, p.v, p.ts))
	}
	if v, ok, err := s.Fetch("a", 20); err != nil || !ok || v != 5 {
		t.Errorf("Fetch(a, 20) = %d %v %v", v, ok, err)
	}
	if _, ok, _ := s.Fetch("a", 21); ok {
		t.Error("Fetch of an absent window found one")
	}
	it, err := s.FetchRange("a", 10, 20)
	check("FetchRange inclusive, oldest first", drain(t, it, err, at), "10=3 20=5")
	it, err = s.BackwardFetchRange("a", 10, 30)
	check("BackwardFetchRange", drain(t, it, err, at), "30=2 20=5 10=3")
	it, err = s.FetchRange("a", 11, 19)
	check("FetchRange between windows", drain(t, it, err, at), "")
	wit, err := s.FetchKeyRange("a", "b", 10, 20)
	check("FetchKeyRange by key then time", drain(t, wit, err, win),
		"[a@10/20]=3 [a@20/30]=5 [a\x00@10/20]=6 [b@20/30]=1")
	wit, err = s.BackwardFetchKeyRange("a", "b", 10, 20)
	check("BackwardFetchKeyRange", drain(t, wit, err, win),
		"[b@20/30]=1 [a\x00@10/20]=6 [a@20/30]=5 [a@10/20]=3")
	wit, err = s.FetchAll(10, 10)
	check("FetchAll", drain(t, wit, err, win), "[a@10/20]=3 [a\x00@10/20]=6 [c@10/20]=4")
	wit, err = s.All()
	check("All", drain(t, wit, err, win), "[a@10/20]=3 [a@20/30]=5 [a@30/40]=2 [a\x00@10/20]=6 [b@20/30]=1 [c@10/20]=4")
	wit, err = s.BackwardAll()
	check("BackwardAll", drain(t, wit, err, win), "[c@10/20]=4 [b@20/30]=1 [a\x00@10/20]=6 [a@30/40]=2 [a@20/30]=5 [a@10/20]=3")

	// Retention 100 ms: once a window starts at 200, windows starting at or
	// before 100 are gone, and their segments (50 ms each) are dropped.
	must(t, s.Put("a", 7, 200))
	must(t, s.Flush())
	wit, err = s.All()
	check("All after retention passed", drain(t, wit, err, win), "[a@200/210]=7")
	if n, _ := store.ApproximateEntries(s); n != 1 {
		t.Errorf("after expiry the store holds %d entries, want 1 (expired segments dropped whole)", n)
	}
	must(t, s.Put("a", 8, 100)) // 100 <= 200 - 100: expired
	must(t, s.Put("a", 9, 101)) // still live
	if s.ExpiredDrops() != 1 {
		t.Errorf("ExpiredDrops = %d, want 1", s.ExpiredDrops())
	}
	if _, ok, _ := s.Fetch("a", 100); ok {
		t.Error("an expired put is visible")
	}
	it, err = s.FetchRange("a", 0, 1000)
	check("FetchRange after expired put", drain(t, it, err, at), "101=9 200=7")
	must(t, s.Put("a", 0, 101)) // int64 0 is not null: an update
	var zero int64
	if v, ok, _ := s.Fetch("a", 101); !ok || v != zero {
		t.Errorf("Fetch after update to 0: %d %v", v, ok)
	}

	// Retained duplicates (join buffers) keep every put, in put order.
	d := newStore(t, "dups", true)
	must(t, d.Put("k", 1, 10))
	must(t, d.Put("k", 2, 10))
	must(t, d.Put("k", 3, 5))
	it, err = d.FetchRange("k", 0, 20)
	check("duplicates", drain(t, it, err, at), "5=3 10=1 10=2")

	// An empty value is a value, not null, even as a store's first put.
	ev := open[store.WindowStore[string, string]](t, store.NewWindowBuilder(b.Window("empty", time.Minute, time.Second, false),
		record.String(), record.String()), t.TempDir())
	must(t, ev.Put("k", "", 1000))
	if v, ok, err := ev.Fetch("k", 1000); err != nil || !ok || v != "" {
		t.Errorf("Fetch after putting an empty value first = %q %v %v, want a present empty value", v, ok, err)
	}

	// Null keys are errors.
	nb := open[store.WindowStore[[]byte, int64]](t, store.NewWindowBuilder(b.Window("nk", time.Second, time.Second, false), record.Bytes(), record.Int64()), t.TempDir())
	if err := nb.Put(nil, 1, 0); !errors.Is(err, store.ErrNullKey) {
		t.Errorf("Put with null key: %v", err)
	}
	if _, err := nb.FetchRange(nil, 0, 1); !errors.Is(err, store.ErrNullKey) {
		t.Errorf("FetchRange with null key: %v", err)
	}
}

// Session checks the session store contract.
func Session(t *testing.T, b Backend, cached bool) {
	sup := b.Session("s", 100*time.Millisecond)
	sup.SegmentInterval = 50 * time.Millisecond
	bl := store.NewSessionBuilder(sup, record.String(), record.Int64())
	if cached {
		bl.WithCaching()
	}
	s := open[store.SessionStore[string, int64]](t, bl, t.TempDir())
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	sess := func(k string, start, end int64) store.Windowed[string] {
		return store.Windowed[string]{Key: k, Start: start, End: end}
	}
	must(t, s.Put(sess("a", 0, 10), 1))
	must(t, s.Put(sess("a", 20, 30), 2))
	must(t, s.Put(sess("a", 60, 60), 3))
	must(t, s.Put(sess("b", 5, 15), 4))
	if err := s.Put(sess("a", 9, 8), 1); err == nil {
		t.Error("a session ending before it starts was accepted")
	}
	// Sessions a record at 25 with gap 5 could merge with: end >= 20, start <= 30.
	it, err := s.FindSessions("a", 20, 30)
	check("FindSessions overlap", drain(t, it, err, win), "[a@20/30]=2")
	it, err = s.FindSessions("a", 8, 25)
	check("FindSessions spanning two", drain(t, it, err, win), "[a@0/10]=1 [a@20/30]=2")
	it, err = s.BackwardFindSessions("a", 0, 100)
	check("BackwardFindSessions", drain(t, it, err, win), "[a@60/60]=3 [a@20/30]=2 [a@0/10]=1")
	it, err = s.FindSessions("a", 31, 59)
	check("FindSessions in a gap", drain(t, it, err, win), "")
	it, err = s.FindSessionsKeyRange("a", "b", 10, 12)
	check("FindSessionsKeyRange", drain(t, it, err, win), "[a@0/10]=1 [b@5/15]=4")
	it, err = s.Fetch("a")
	check("Fetch", drain(t, it, err, win), "[a@0/10]=1 [a@20/30]=2 [a@60/60]=3")
	if v, ok, err := s.FetchSession("b", 5, 15); err != nil || !ok || v != 4 {
		t.Errorf("FetchSession = %d %v %v", v, ok, err)
	}
	must(t, s.Remove(sess("a", 20, 30)))
	it, err = s.Fetch("a")
	check("Fetch after Remove", drain(t, it, err, win), "[a@0/10]=1 [a@60/60]=3")
	// An empty value is a value, not null, even as a store's first put.
	ev := open[store.SessionStore[string, string]](t, store.NewSessionBuilder(b.Session("empty", time.Minute),
		record.String(), record.String()), t.TempDir())
	must(t, ev.Put(sess("k", 1, 2), ""))
	if v, ok, err := ev.FetchSession("k", 1, 2); err != nil || !ok || v != "" {
		t.Errorf("FetchSession after putting an empty value first = %q %v %v, want a present empty value", v, ok, err)
	}
	// Retention counts from the session end.
	must(t, s.Put(sess("c", 150, 200), 5))
	must(t, s.Flush())
	it, err = s.FindSessionsKeyRange("a", "c", 0, 1000)
	check("after retention passed", drain(t, it, err, win), "[c@150/200]=5")
	must(t, s.Put(sess("a", 90, 100), 6)) // end 100 <= 200 - 100: expired
	if s.ExpiredDrops() != 1 {
		t.Errorf("ExpiredDrops = %d, want 1", s.ExpiredDrops())
	}
	if _, ok, _ := s.FetchSession("a", 90, 100); ok {
		t.Error("an expired session is visible")
	}
}

// Timestamped checks that timestamped stores keep value and timestamp.
func Timestamped(t *testing.T, b Backend) {
	s := open[store.TimestampedKeyValueStore[string, string]](t,
		store.NewTimestampedKeyValueBuilder(b.KeyValue("ts"), record.String(), record.String()), t.TempDir())
	must(t, s.Put("k", store.ValueAndTimestamp[string]{Value: "v", Timestamp: 42}))
	v, ok, err := s.Get("k")
	if err != nil || !ok || v.Value != "v" || v.Timestamp != 42 {
		t.Errorf("Get = %+v %v %v", v, ok, err)
	}
}

// countingSupplier counts the entries written to the stores it makes.
type countingSupplier struct {
	store.KeyValueBytesSupplier
	writes *atomic.Int64
}

func (c countingSupplier) Get() store.KeyValueBytes {
	return &countingKV{KeyValueBytes: c.KeyValueBytesSupplier.Get(), writes: c.writes}
}

type countingKV struct {
	store.KeyValueBytes
	writes *atomic.Int64
}

func (c *countingKV) Put(k, v []byte) error {
	c.writes.Add(1)
	return c.KeyValueBytes.Put(k, v)
}

func (c *countingKV) Write(batch []store.Entry) error {
	c.writes.Add(int64(len(batch)))
	return c.KeyValueBytes.Write(batch)
}

// tinyCached opens a cached key-value store whose cache has room for two
// entries, over a store that counts the entries written to it in writes;
// it returns the store and its cache.
func tinyCached(t *testing.T, b Backend, name string, writes *atomic.Int64) (store.KeyValueStore[string, int64], *store.Cache) {
	t.Helper()
	ctx := initCtx(t, t.TempDir())
	ctx.Cache = store.NewCache(250)
	bl := store.NewKeyValueBuilder(countingSupplier{b.KeyValue(name), writes}, record.String(), record.Int64()).WithCaching()
	return openWith[store.KeyValueStore[string, int64]](t, bl, ctx), ctx.Cache
}

// Cache checks the write-back cache over the backend.
func Cache(t *testing.T, b Backend) {
	t.Run("RepeatedPutsBetweenCommitsReachTheStoreOnce", func(t *testing.T) {
		var writes atomic.Int64
		s := open[store.KeyValueStore[string, int64]](t, store.NewKeyValueBuilder(
			countingSupplier{b.KeyValue("c"), &writes}, record.String(), record.Int64()).WithCaching(), t.TempDir())
		for i := int64(1); i <= 3; i++ {
			must(t, s.Put("k", i))
		}
		if v, ok, _ := s.Get("k"); !ok || v != 3 {
			t.Errorf("read before flush = %d %v, want the cached 3", v, ok)
		}
		if writes.Load() != 0 {
			t.Errorf("%d writes reached the store before the commit", writes.Load())
		}
		must(t, s.Flush())
		if writes.Load() != 1 {
			t.Errorf("%d writes reached the store at the commit, want 1", writes.Load())
		}
		must(t, s.Flush())
		if writes.Load() != 1 {
			t.Errorf("a second flush wrote again: %d", writes.Load())
		}
	})
	t.Run("EvictionUnderTinyBudgetFlushesTheOldest", func(t *testing.T) {
		var writes atomic.Int64
		s, _ := tinyCached(t, b, "e", &writes)
		var flushed []string
		must(t, store.SetFlushListener(s, true, func(k string, nv, ov *int64, ts int64) error {
			flushed = append(flushed, fmt.Sprintf("%s=%d(old %v)", k, *nv, ov))
			return nil
		}))
		must(t, s.Put("k1", 1))
		must(t, s.Put("k2", 2))
		if writes.Load() != 0 {
			t.Fatalf("two entries did not fit: %d writes", writes.Load())
		}
		must(t, s.Put("k3", 3)) // over budget: k1 (oldest) is evicted, flushing the dirty entries
		if writes.Load() == 0 || !slices.Contains(flushed, "k1=1(old <nil>)") {
			t.Errorf("eviction flushed %v (%d writes), want k1 flushed", flushed, writes.Load())
		}
		if v, ok, _ := s.Get("k1"); !ok || v != 1 {
			t.Errorf("evicted k1 reads %d %v from the store", v, ok)
		}
	})
	t.Run("ReadsNeverFlushSoListenersRunOnlyOnTheWritingGoroutine", func(t *testing.T) {
		// Interactive queries read from other goroutines: a read that
		// misses may cache what it found, but must not evict dirty entries
		// (a flush would run the listener, which forwards records, on the
		// reader's goroutine), as Kafka Streams caches reads only on the
		// stream thread.
		var writes atomic.Int64
		s, ctx := tinyCached(t, b, "r", &writes)
		var heard []string
		must(t, store.SetFlushListener(s, false, func(k string, nv, _ *int64, _ int64) error {
			heard = append(heard, fmt.Sprintf("%s=%d", k, *nv))
			return nil
		}))
		target, ok := store.RestoreTarget(s)
		if !ok {
			t.Fatal("no restore target")
		}
		for _, k := range []string{"r1", "r2", "r3"} {
			must(t, target.Put([]byte(k), []byte{0, 0, 0, 0, 0, 0, 0, 9}))
		}
		writes.Store(0)
		must(t, s.Put("dirty", 1))
		for _, k := range []string{"r1", "r2", "r3", "r1", "r2", "r3"} {
			if v, ok, err := s.Get(k); err != nil || !ok || v != 9 {
				t.Fatalf("Get(%s) = %d %v %v", k, v, ok, err)
			}
		}
		if len(heard) != 0 || writes.Load() != 0 {
			t.Errorf("reads flushed the cache: listener heard %v, %d writes reached the store", heard, writes.Load())
		}
		if used, max := ctx.UsedBytes(), ctx.MaxBytes(); used > max+200 {
			t.Errorf("reads grew the cache to %d bytes over a budget of %d", used, max)
		}
		must(t, s.Flush())
		if strings.Join(heard, " ") != "dirty=1" {
			t.Errorf("flush: listener heard %v, want dirty=1", heard)
		}
	})
	t.Run("FlushListenerGetsNewAndOldValuesInDirtyOrder", func(t *testing.T) {
		ts := int64(0)
		st, err := store.NewKeyValueBuilder(b.KeyValue("l"), record.String(), record.Int64()).WithCaching().Build()
		must(t, err)
		ctx := initCtx(t, t.TempDir())
		ctx.RecordTimestamp = func() int64 { return ts }
		must(t, st.Init(ctx))
		t.Cleanup(func() { st.Close() })
		s, ok := st.(store.KeyValueStore[string, int64])
		if !ok {
			t.Fatalf("built %T", st)
		}
		var got []string
		must(t, store.SetFlushListener(s, true, func(k string, nv, ov *int64, at int64) error {
			f := func(p *int64) string {
				if p == nil {
					return "null"
				}
				return fmt.Sprint(*p)
			}
			got = append(got, fmt.Sprintf("%s:%s->%s@%d", k, f(ov), f(nv), at))
			return nil
		}))
		ts = 1
		must(t, s.Put("b", 1))
		ts = 2
		must(t, s.Put("a", 1))
		must(t, s.Flush())
		ts = 3
		must(t, s.Put("a", 2))
		ts = 4
		_, _, err = s.Delete("b")
		must(t, err)
		ts = 5
		must(t, s.Put("a", 3))
		must(t, s.Flush())
		want := "b:null->1@1 a:null->1@2 a:1->3@5 b:1->null@4"
		if strings.Join(got, " ") != want {
			t.Errorf("listener heard\n %s\nwant\n %s", strings.Join(got, " "), want)
		}
	})
	t.Run("ListenerOnUncachedStoreIsAnError", func(t *testing.T) {
		s := open[store.KeyValueStore[string, int64]](t, store.NewKeyValueBuilder(b.KeyValue("u"), record.String(), record.Int64()), t.TempDir())
		err := store.SetFlushListener(s, false, func(string, *int64, *int64, int64) error { return nil })
		if !errors.Is(err, store.ErrNotCached) {
			t.Errorf("err = %v, want ErrNotCached", err)
		}
	})
	t.Run("WindowCacheCompactsAndFlushes", func(t *testing.T) {
		s := open[store.WindowStore[string, int64]](t, store.NewWindowBuilder(
			b.Window("wc", time.Minute, time.Second, false), record.String(), record.Int64()).WithCaching(), t.TempDir())
		var got []string
		must(t, store.SetWindowFlushListener(s, true, func(k store.Windowed[string], nv, ov *int64, _ int64) error {
			got = append(got, fmt.Sprintf("%s=%d", k, *nv))
			return nil
		}))
		for i := int64(1); i <= 3; i++ {
			must(t, s.Put("k", i, 1000))
		}
		must(t, s.Flush())
		if strings.Join(got, " ") != "[k@1000/2000]=3" {
			t.Errorf("window flush: %v", got)
		}
	})
}

// recordingLog is a ChangelogWriter that remembers what was logged, and
// when.
type recordingLog struct {
	entries []string
	stamps  []int64
}

func (r *recordingLog) Log(storeName string, key, value []byte, ts int64) error {
	v := "null"
	if value != nil {
		v = fmt.Sprintf("%dB", len(value))
	}
	r.entries = append(r.entries, fmt.Sprintf("%s:%x=%s", storeName, key, v))
	r.stamps = append(r.stamps, ts)
	return nil
}

// Changelog checks that every store kind logs its writes, once per key per
// flush when cached, each with the timestamp of its write, and that
// restoring through RestoreTarget logs nothing.
func Changelog(t *testing.T, b Backend) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v/EachRecordCarriesTheTimestampOfItsWrite", cached), func(t *testing.T) {
			changelogTimestamps(t, b, cached)
		})
		t.Run(fmt.Sprintf("cache=%v/RefusedLogWriteIsErrChangelogWriteAndLeavesTheStoreAsItWas", cached), func(t *testing.T) {
			changelogRefusals(t, b, cached)
		})
	}
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			log := &recordingLog{}
			ctx := initCtx(t, t.TempDir())
			ctx.Changelog = log
			k := buildKinds(t, b, "logged", record.Int64(), cached, &ctx)
			kv, win, ses, stores := k.kv, k.win, k.ses, k.all()
			for i := int64(1); i <= 2; i++ {
				must(t, kv.Put("k", i))
				must(t, win.Put("k", i, 1000))
				must(t, ses.Put(store.Windowed[string]{Key: "k", Start: 5, End: 9}, i))
			}
			if cached && len(log.entries) != 0 {
				t.Errorf("cached stores logged before the flush: %v", log.entries)
			}
			for _, st := range stores {
				must(t, st.Flush())
			}
			want := 6
			if cached {
				want = 3
			}
			if len(log.entries) != want {
				t.Errorf("logged %d entries, want %d: %v", len(log.entries), want, log.entries)
			}
			for _, name := range []string{"kv-logged", "win-logged", "ses-logged"} {
				found := false
				for _, e := range log.entries {
					found = found || strings.HasPrefix(e, name+":")
				}
				if !found {
					t.Errorf("store %s logged nothing: %v", name, log.entries)
				}
			}
			// Restoration writes under the changelog layer.
			target, ok := store.RestoreTarget(stores[0])
			if !ok {
				t.Fatal("no restore target")
			}
			n := len(log.entries)
			must(t, target.Write([]store.Entry{{Key: []byte("r"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}}}))
			if len(log.entries) != n {
				t.Errorf("restoring logged again: %v", log.entries[n:])
			}
			if v, ok, _ := kv.Get("r"); !ok || v != 7 {
				t.Errorf("restored value reads %d %v", v, ok)
			}
		})
	}
}

// changelogTimestamps puts k1 at record time 10 and k2 at 20 into each store
// kind, then flushes while the record time is 99: the changelog must see 10
// and 20, the times of the writes (Kafka Streams logs a cached entry with
// the context of the write that dirtied it), not the time of the flush.
func changelogTimestamps(t *testing.T, b Backend, cached bool) {
	log := &recordingLog{}
	now := int64(0)
	ctx := initCtx(t, t.TempDir())
	ctx.Changelog = log
	ctx.RecordTimestamp = func() int64 { return now }
	k := buildKinds(t, b, "ts", record.Int64(), cached, &ctx)
	puts := map[string]func(k string, v int64) error{
		k.kv.Name():  k.kv.Put,
		k.win.Name(): func(key string, v int64) error { return k.win.Put(key, v, 1000) },
		k.ses.Name(): func(key string, v int64) error {
			return k.ses.Put(store.Windowed[string]{Key: key, Start: 5, End: 9}, v)
		},
	}
	for _, st := range k.all() {
		log.entries, log.stamps = nil, nil
		now = 10
		must(t, puts[st.Name()]("k1", 1))
		now = 20
		must(t, puts[st.Name()]("k2", 2))
		now = 99
		must(t, st.Flush())
		if fmt.Sprint(log.stamps) != "[10 20]" {
			t.Errorf("%s: changelog timestamps %v, want [10 20] (the writes' times, not the flush's): %v",
				st.Name(), log.stamps, log.entries)
		}
	}
}

// errLogDown is what refusingLog refuses with.
var errLogDown = errors.New("storetest: changelog unavailable")

// refusingLog is a recordingLog that refuses every write while down.
type refusingLog struct {
	recordingLog
	down bool
}

func (r *refusingLog) Log(storeName string, key, value []byte, ts int64) error {
	if r.down {
		return errLogDown
	}
	return r.recordingLog.Log(storeName, key, value, ts)
}

// changelogRefusals checks that a write the ChangelogWriter refuses fails
// with an error wrapping store.ErrChangelogWrite (and the writer's error)
// from every write path, and leaves the local store as it was: the
// changelog is written first, so the store never holds what its changelog
// lacks. A cached store keeps the refused entries dirty, so the next flush
// logs and writes them.
func changelogRefusals(t *testing.T, b Backend, cached bool) {
	log := &refusingLog{}
	ctx := initCtx(t, t.TempDir())
	ctx.Changelog = log
	k := buildKinds(t, b, "refused", record.String(), cached, &ctx)
	kv, win, ses, stores := k.kv, k.win, k.ses, k.all()
	sess := store.Windowed[string]{Key: "k", Start: 5, End: 9}
	must(t, kv.Put("k", "old"))
	must(t, kv.Put("gone", "kept"))
	must(t, win.Put("k", "old", 1000))
	must(t, ses.Put(sess, "old"))
	for _, st := range stores {
		must(t, st.Flush())
	}
	refused := func(what string, err error) {
		t.Helper()
		if cached {
			// The cache takes the write; the flush is what the log refuses.
			must(t, err)
			return
		}
		if !errors.Is(err, store.ErrChangelogWrite) || !errors.Is(err, errLogDown) {
			t.Errorf("%s with the changelog down: %v, want ErrChangelogWrite wrapping the writer's error", what, err)
		}
	}
	log.down = true
	logged := len(log.entries)
	refused("Put", kv.Put("k", "new"))
	_, _, err := kv.Delete("gone")
	refused("Delete", err)
	refused("PutAll", kv.PutAll([]store.KeyValue[string, string]{{Key: "a", Value: "1"}, {Key: "k", Value: "new"}}))
	refused("window Put", win.Put("k", "new", 1000))
	refused("session Put", ses.Put(sess, "new"))
	if cached {
		for _, st := range stores {
			if err := st.Flush(); !errors.Is(err, store.ErrChangelogWrite) || !errors.Is(err, errLogDown) {
				t.Errorf("%s: Flush with the changelog down: %v, want ErrChangelogWrite wrapping the writer's error", st.Name(), err)
			} else if !strings.Contains(err.Error(), st.Name()) {
				t.Errorf("%s: the error does not name the store: %v", st.Name(), err)
			}
		}
	}
	if len(log.entries) != logged {
		t.Errorf("refused writes were logged: %v", log.entries[logged:])
	}
	// The store under the cache and the changelog holds what it held.
	target, ok := store.RestoreTarget(kv)
	if !ok {
		t.Fatal("no restore target")
	}
	for k, want := range map[string]string{"k": "old", "gone": "kept", "a": ""} {
		v, ok, err := target.Get([]byte(k))
		must(t, err)
		if string(v) != want || ok != (want != "") {
			t.Errorf("after refused writes the store holds %s=%q (present %v), want %q", k, v, ok, want)
		}
	}
	log.down = false
	for _, st := range stores {
		must(t, st.Flush())
	}
	if cached {
		// What the cache kept dirty reaches the store and the log now.
		if v, _, _ := kv.Get("k"); v != "new" {
			t.Errorf("after the changelog came back, k = %q, want new", v)
		}
		if len(log.entries) == logged {
			t.Error("after the changelog came back, the flush logged nothing")
		}
	}
}

// threeKinds are a key-value, a window and a session store of string keys.
type threeKinds[V any] struct {
	kv  store.KeyValueStore[string, V]
	win store.WindowStore[string, V]
	ses store.SessionStore[string, V]
}

// all returns the three stores.
func (k threeKinds[V]) all() []store.StateStore { return []store.StateStore{k.kv, k.win, k.ses} }

// buildKinds builds one store of each kind with V values, named
// kv-<suffix>, win-<suffix> and ses-<suffix> (window and session retention
// one minute, windows of one second), cached if asked, and opens them with
// ctx unless ctx is nil. They close when the test ends.
func buildKinds[V any](t *testing.T, b Backend, suffix string, vs record.Serde[V], cached bool, ctx *store.InitContext) threeKinds[V] {
	t.Helper()
	kvb := store.NewKeyValueBuilder(b.KeyValue("kv-"+suffix), record.String(), vs)
	wb := store.NewWindowBuilder(b.Window("win-"+suffix, time.Minute, time.Second, false), record.String(), vs)
	sb := store.NewSessionBuilder(b.Session("ses-"+suffix, time.Minute), record.String(), vs)
	if cached {
		kvb.WithCaching()
		wb.WithCaching()
		sb.WithCaching()
	}
	var stores []store.StateStore
	for _, bl := range []store.Builder{kvb, wb, sb} {
		st, err := bl.Build()
		must(t, err)
		if ctx != nil {
			must(t, st.Init(*ctx))
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	kv, ok1 := stores[0].(store.KeyValueStore[string, V])
	win, ok2 := stores[1].(store.WindowStore[string, V])
	ses, ok3 := stores[2].(store.SessionStore[string, V])
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("built %T, %T, %T", stores[0], stores[1], stores[2])
	}
	return threeKinds[V]{kv: kv, win: win, ses: ses}
}
