package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// scribble overwrites every byte of each slice, as a caller that reuses or
// edits a buffer would.
func scribble(bs ...[]byte) {
	for _, b := range bs {
		for i := range b {
			b[i] = '#'
		}
	}
}

// Isolation checks that a store shares no memory with its callers: writing
// into any slice a store returned (Get, Delete's old value, iterator keys
// and values, flush-listener values), or into a slice after passing it to
// a write, changes nothing the store returns later, before or after a
// flush. It uses the Bytes serde, whose Deserialize hands back its input.
func Isolation(t *testing.T, b Backend, cached bool) {
	t.Run("KeyValue", func(t *testing.T) { isolationKeyValue(t, b, cached) })
	t.Run("Window", func(t *testing.T) { isolationWindow(t, b, cached) })
	t.Run("Session", func(t *testing.T) { isolationSession(t, b, cached) })
}

// heard records what a flush listener was told, as text, and scribbles
// over the values it was given.
type heard struct{ got []string }

func (h *heard) hear(key string, nv, ov *[]byte) {
	f := func(p *[]byte) string {
		if p == nil {
			return "null"
		}
		return string(*p)
	}
	h.got = append(h.got, fmt.Sprintf("%s:%s->%s", key, f(ov), f(nv)))
	if nv != nil {
		scribble(*nv)
	}
	if ov != nil {
		scribble(*ov)
	}
}

func isolationKeyValue(t *testing.T, b Backend, cached bool) {
	bl := store.NewKeyValueBuilder(b.KeyValue("iso"), record.Bytes(), record.Bytes())
	if cached {
		bl.WithCaching()
	}
	s := open[store.KeyValueStore[[]byte, []byte]](t, bl, t.TempDir())
	raw, ok := store.Inner(s)
	if !ok {
		t.Fatal("store.Inner: not a typed store")
	}
	var h heard
	if cached {
		must(t, store.SetFlushListener(s, true, func(k []byte, nv, ov *[]byte, _ int64) error {
			h.hear(string(k), nv, ov)
			scribble(k)
			return nil
		}))
	}
	want := map[string]string{}
	put := func(k, v string) {
		t.Helper()
		kb, vb := []byte(k), []byte(v)
		must(t, s.Put(kb, vb))
		scribble(kb, vb)
		want[k] = v
	}
	verify := func(phase string) {
		t.Helper()
		for _, k := range slices.Sorted(maps.Keys(want)) {
			v, ok, err := s.Get([]byte(k))
			if err != nil || !ok || string(v) != want[k] {
				t.Errorf("%s: Get(%q) = %q %v %v, want %q", phase, k, v, ok, err, want[k])
			}
			rv, ok, err := raw.Get([]byte(k))
			if err != nil || !ok || string(rv) != want[k] {
				t.Errorf("%s: byte Get(%q) = %q %v %v, want %q", phase, k, rv, ok, err, want[k])
			}
		}
		var exp []string
		for _, k := range slices.Sorted(maps.Keys(want)) {
			exp = append(exp, kvs(k, want[k]))
		}
		it, err := s.All()
		got := drain(t, it, err, func(k, v []byte) string { return kvs(string(k), string(v)) })
		if got != strings.Join(exp, " ") {
			t.Errorf("%s: All:\n got %s\nwant %s", phase, got, strings.Join(exp, " "))
		}
	}
	// readAndScribble writes into everything every read returns.
	readAndScribble := func() {
		t.Helper()
		for k := range want {
			v, _, err := s.Get([]byte(k))
			must(t, err)
			scribble(v)
			rv, _, err := raw.Get([]byte(k))
			must(t, err)
			scribble(rv)
		}
		typed := []func() (store.Iterator[[]byte, []byte], error){
			s.All, s.ReverseAll,
			func() (store.Iterator[[]byte, []byte], error) { return s.Range([]byte("a"), []byte("z")) },
			func() (store.Iterator[[]byte, []byte], error) { return s.ReverseRange([]byte("a"), []byte("z")) },
			func() (store.Iterator[[]byte, []byte], error) { return s.PrefixScan([]byte("k")) },
			func() (store.Iterator[[]byte, []byte], error) { return raw.Range(nil, nil, false) },
			func() (store.Iterator[[]byte, []byte], error) { return raw.Range(nil, nil, true) },
			func() (store.Iterator[[]byte, []byte], error) { return raw.Range([]byte("a"), []byte("z"), false) },
			func() (store.Iterator[[]byte, []byte], error) { return raw.PrefixScan([]byte("k")) },
		}
		for _, open := range typed {
			it, err := open()
			must(t, err)
			for it.Next() {
				scribble(it.Key(), it.Value())
			}
			must(t, it.Err())
			must(t, it.Close())
		}
	}

	put("k1", "v1")
	put("k2", "v2")
	kb, vb := []byte("k3"), []byte("v3")
	must(t, s.PutAll([]store.KeyValue[[]byte, []byte]{{Key: kb, Value: vb}}))
	scribble(kb, vb)
	want["k3"] = "v3"
	kb, vb = []byte("k4"), []byte("v4")
	must(t, raw.Put(kb, vb))
	scribble(kb, vb)
	want["k4"] = "v4"
	batch := []store.Entry{{Key: []byte("k5"), Value: []byte("v5")}, {Key: []byte("k6"), Value: []byte("v6")}}
	must(t, raw.Write(batch))
	for _, e := range batch {
		scribble(e.Key, e.Value)
	}
	want["k5"], want["k6"] = "v5", "v6"
	scribblePhases(t, s, verify, readAndScribble)

	// Delete's old value is the caller's, not the store's (nor what a
	// cache keeps to tell listeners the old value).
	old, ok, err := s.Delete([]byte("k1"))
	if err != nil || !ok || string(old) != "v1" {
		t.Errorf("Delete(k1) = %q %v %v", old, ok, err)
	}
	scribble(old)
	delete(want, "k1")
	old, ok, err = raw.Delete([]byte("k2"))
	if err != nil || !ok || string(old) != "v2" {
		t.Errorf("byte Delete(k2) = %q %v %v", old, ok, err)
	}
	scribble(old)
	delete(want, "k2")
	put("k3", "v3-new")
	verify("after deletes and an update")
	readAndScribble()
	must(t, s.Flush())
	verify("after the second flush")
	readAndScribble()
	verify("after the second flush and overwriting what reads returned")
	if cached {
		const want = "k1:null->v1 k2:null->v2 k3:null->v3 k4:null->v4 k5:null->v5 k6:null->v6 " +
			"k1:v1->null k2:v2->null k3:v3->v3-new"
		if got := strings.Join(h.got, " "); got != want {
			t.Errorf("flush listener heard\n %s\nwant\n %s", got, want)
		}
	}
}

func isolationWindow(t *testing.T, b Backend, cached bool) {
	bl := store.NewWindowBuilder(b.Window("iso-win", time.Minute, time.Second, false), record.Bytes(), record.Bytes())
	if cached {
		bl.WithCaching()
	}
	s := open[store.WindowStore[[]byte, []byte]](t, bl, t.TempDir())
	var h heard
	if cached {
		must(t, store.SetWindowFlushListener(s, true, func(k store.Windowed[[]byte], nv, ov *[]byte, _ int64) error {
			h.hear(fmt.Sprintf("%s@%d", k.Key, k.Start), nv, ov)
			scribble(k.Key)
			return nil
		}))
	}
	for _, p := range []struct {
		k, v string
		ts   int64
	}{{"a", "a1", 1000}, {"a", "a2", 2000}, {"b", "b1", 1000}} {
		kb, vb := []byte(p.k), []byte(p.v)
		must(t, s.Put(kb, vb, p.ts))
		scribble(kb, vb)
	}
	const want = "[a@1000/2000]=a1 [a@2000/3000]=a2 [b@1000/2000]=b1"
	verify := func(phase string) {
		t.Helper()
		it, err := s.All()
		got := drain(t, it, err, func(k store.Windowed[[]byte], v []byte) string {
			return fmt.Sprintf("[%s@%d/%d]=%s", k.Key, k.Start, k.End, v)
		})
		if got != want {
			t.Errorf("%s: All:\n got %s\nwant %s", phase, got, want)
		}
		if v, ok, err := s.Fetch([]byte("a"), 2000); err != nil || !ok || string(v) != "a2" {
			t.Errorf("%s: Fetch(a, 2000) = %q %v %v", phase, v, ok, err)
		}
	}
	readAndScribble := func() {
		t.Helper()
		v, _, err := s.Fetch([]byte("a"), 1000)
		must(t, err)
		scribble(v)
		for _, back := range []bool{false, true} {
			open := s.FetchRange
			if back {
				open = s.BackwardFetchRange
			}
			it, err := open([]byte("a"), 0, 5000)
			must(t, err)
			for it.Next() {
				scribble(it.Value())
			}
			must(t, it.Close())
		}
		scribbleWindowed(t, s.All, s.BackwardAll,
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) { return s.FetchAll(0, 5000) },
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) {
				return s.FetchKeyRange([]byte("a"), []byte("b"), 0, 5000)
			})
	}
	isolationPhases(t, s, verify, readAndScribble, &h, cached, "a@1000:null->a1 a@2000:null->a2 b@1000:null->b1")
}

func isolationSession(t *testing.T, b Backend, cached bool) {
	bl := store.NewSessionBuilder(b.Session("iso-ses", time.Minute), record.Bytes(), record.Bytes())
	if cached {
		bl.WithCaching()
	}
	s := open[store.SessionStore[[]byte, []byte]](t, bl, t.TempDir())
	var h heard
	if cached {
		must(t, store.SetSessionFlushListener(s, true, func(k store.Windowed[[]byte], nv, ov *[]byte, _ int64) error {
			h.hear(fmt.Sprintf("%s@%d/%d", k.Key, k.Start, k.End), nv, ov)
			scribble(k.Key)
			return nil
		}))
	}
	for _, p := range []struct {
		k, v       string
		start, end int64
	}{{"a", "a1", 0, 10}, {"a", "a2", 20, 30}, {"b", "b1", 5, 15}} {
		kb, vb := []byte(p.k), []byte(p.v)
		must(t, s.Put(store.Windowed[[]byte]{Key: kb, Start: p.start, End: p.end}, vb))
		scribble(kb, vb)
	}
	format := func(k store.Windowed[[]byte], v []byte) string {
		return fmt.Sprintf("[%s@%d/%d]=%s", k.Key, k.Start, k.End, v)
	}
	verify := func(phase string) {
		t.Helper()
		it, err := s.FindSessionsKeyRange([]byte("a"), []byte("b"), 0, 100)
		if got, want := drain(t, it, err, format), "[a@0/10]=a1 [a@20/30]=a2 [b@5/15]=b1"; got != want {
			t.Errorf("%s: FindSessionsKeyRange:\n got %s\nwant %s", phase, got, want)
		}
		if v, ok, err := s.FetchSession([]byte("a"), 20, 30); err != nil || !ok || string(v) != "a2" {
			t.Errorf("%s: FetchSession(a, 20, 30) = %q %v %v", phase, v, ok, err)
		}
	}
	readAndScribble := func() {
		t.Helper()
		v, _, err := s.FetchSession([]byte("a"), 0, 10)
		must(t, err)
		scribble(v)
		scribbleWindowed(t,
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) { return s.Fetch([]byte("a")) },
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) { return s.BackwardFetch([]byte("a")) },
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) {
				return s.FindSessions([]byte("b"), 0, 100)
			},
			func() (store.Iterator[store.Windowed[[]byte], []byte], error) {
				return s.FindSessionsKeyRange([]byte("a"), []byte("b"), 0, 100)
			})
	}
	isolationPhases(t, s, verify, readAndScribble, &h, cached, "a@0/10:null->a1 a@20/30:null->a2 b@5/15:null->b1")
}

// windowedIter opens an iterator over windowed keys.
type windowedIter = func() (store.Iterator[store.Windowed[[]byte], []byte], error)

// scribbleWindowed writes into every key and value the iterators return.
func scribbleWindowed(t *testing.T, its ...windowedIter) {
	t.Helper()
	for _, open := range its {
		it, err := open()
		must(t, err)
		for it.Next() {
			scribble(it.Key().Key, it.Value())
		}
		must(t, it.Close())
	}
}

// scribblePhases verifies a store after its writes' buffers were
// overwritten, writes into everything its reads return and verifies again,
// then does both again after a flush.
func scribblePhases(t *testing.T, s store.StateStore, verify func(string), readAndScribble func()) {
	t.Helper()
	verify("after writes whose buffers were then overwritten")
	readAndScribble()
	verify("after overwriting what reads returned")
	must(t, s.Flush())
	verify("after flush")
	readAndScribble()
	verify("after flush and overwriting what reads returned")
}

// isolationPhases runs scribblePhases on a window or session store, then
// checks what its flush listener (if cached) heard.
func isolationPhases(t *testing.T, s store.StateStore, verify func(string), readAndScribble func(), h *heard, cached bool, heardWant string) {
	t.Helper()
	scribblePhases(t, s, verify, readAndScribble)
	if cached {
		if got := strings.Join(h.got, " "); got != heardWant {
			t.Errorf("flush listener heard %s, want %s", got, heardWant)
		}
		must(t, s.Flush())
		verify("after a flush listener overwrote what it heard")
	}
}
