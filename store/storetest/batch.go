package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// errBadKey is what badKeys fails to serialize "bad" with.
var errBadKey = errors.New("storetest: key that does not serialize")

// badKeys is a string serde that cannot serialize "bad" and maps "null" to
// a null key.
func badKeys() record.Serde[string] {
	return record.SerdeFuncs(func(s string) ([]byte, error) {
		switch s {
		case "bad":
			return nil, errBadKey
		case "null":
			return nil, nil
		}
		return []byte(s), nil
	}, func(b []byte) (string, error) { return string(b), nil })
}

// Batches checks that PutAll and the byte-level Write are all or nothing:
// a batch with a key that is null or does not serialize, anywhere in it,
// writes nothing (to the store, its cache or its changelog), and a good
// batch writes every entry, later entries winning.
func Batches(t *testing.T, b Backend, cached bool) {
	log := &recordingLog{}
	ctx := initCtx(t, t.TempDir())
	ctx.Changelog = log
	bl := store.NewKeyValueBuilder(b.KeyValue("batch"), badKeys(), record.String())
	if cached {
		bl.WithCaching()
	}
	s := openWith[store.KeyValueStore[string, string]](t, bl, ctx)
	raw, ok := store.Inner(s)
	if !ok {
		t.Fatal("store.Inner: not a typed store")
	}
	must(t, s.Put("keep", "old"))
	must(t, s.Flush())
	logged := len(log.entries)
	contents := func() string {
		t.Helper()
		it, err := s.All()
		return drain(t, it, err, func(k, v string) string { return k + "=" + v })
	}
	const before = "keep=old"
	kv := func(k, v string) store.KeyValue[string, string] {
		return store.KeyValue[string, string]{Key: k, Value: v}
	}
	for _, c := range []struct {
		name  string
		batch []store.KeyValue[string, string]
		want  error
	}{
		{"null key in the middle", []store.KeyValue[string, string]{kv("a", "1"), kv("keep", "new"), kv("null", "2"), kv("b", "3")}, store.ErrNullKey},
		{"null key last", []store.KeyValue[string, string]{kv("a", "1"), kv("null", "2")}, store.ErrNullKey},
		{"unserializable key in the middle", []store.KeyValue[string, string]{kv("a", "1"), kv("bad", "2"), kv("b", "3")}, errBadKey},
	} {
		if err := s.PutAll(c.batch); !errors.Is(err, c.want) {
			t.Errorf("PutAll with a %s: %v, want %v", c.name, err, c.want)
		}
		must(t, s.Flush())
		if got := contents(); got != before {
			t.Errorf("PutAll with a %s wrote part of it: %s, want %s", c.name, got, before)
		}
	}
	for _, c := range []struct {
		name  string
		batch []store.Entry
	}{
		{"nil key in the middle", []store.Entry{{Key: []byte("a"), Value: []byte("1")}, {Key: nil, Value: []byte("2")}, {Key: []byte("b"), Value: []byte("3")}}},
		{"nil key last", []store.Entry{{Key: []byte("keep"), Value: nil}, {Key: nil}}},
	} {
		if err := raw.Write(c.batch); !errors.Is(err, store.ErrNullKey) {
			t.Errorf("Write with a %s: %v, want ErrNullKey", c.name, err)
		}
		must(t, s.Flush())
		if got := contents(); got != before {
			t.Errorf("Write with a %s wrote part of it: %s, want %s", c.name, got, before)
		}
	}
	if len(log.entries) != logged {
		t.Errorf("refused batches were logged: %v", log.entries[logged:])
	}
	// A good batch writes every entry, in order: later entries win, and a
	// null value deletes.
	must(t, s.PutAll([]store.KeyValue[string, string]{kv("a", "1"), kv("b", "2"), kv("a", "3"), kv("keep", "new")}))
	if got, want := contents(), "a=3 b=2 keep=new"; got != want {
		t.Errorf("good PutAll: %s, want %s", got, want)
	}
	must(t, s.Flush())
	if got, want := contents(), "a=3 b=2 keep=new"; got != want {
		t.Errorf("good PutAll after flush: %s, want %s", got, want)
	}
	if len(log.entries) == logged {
		t.Error("a good PutAll logged nothing")
	}

	// Window and session stores take byte batches too (restoration writes
	// them); one with a nil key writes none of it.
	w := openWith[store.WindowStore[string, string]](t,
		store.NewWindowBuilder(b.Window("batch-win", time.Minute, time.Second, false), record.String(), record.String()), ctx)
	must(t, w.Put("k", "v", 1000))
	must(t, w.Flush())
	wraw, ok := w.(interface{ Inner() store.KeyValueBytes })
	if !ok {
		t.Fatalf("%T has no byte store", w)
	}
	it, err := wraw.Inner().Range(nil, nil, false)
	must(t, err)
	if !it.Next() {
		t.Fatal("window store holds nothing")
	}
	key := append([]byte(nil), it.Key()...)
	must(t, it.Close())
	logged = len(log.entries)
	if err := wraw.Inner().Write([]store.Entry{{Key: key, Value: nil}, {Key: nil, Value: []byte("x")}}); !errors.Is(err, store.ErrNullKey) {
		t.Errorf("window Write with a nil key: %v, want ErrNullKey", err)
	}
	must(t, w.Flush())
	if v, ok, err := w.Fetch("k", 1000); err != nil || !ok || v != "v" {
		t.Errorf("window Write with a nil key deleted part of the batch: %q %v %v", v, ok, err)
	}
	if len(log.entries) != logged {
		t.Errorf("the refused window batch was logged: %v", log.entries[logged:])
	}
}
