package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// op is one call on a store, reduced to its error.
type op struct {
	name string
	call func() error
}

func errOf[A any](_ A, err error) error          { return err }
func errOf2[A, B any](_ A, _ B, err error) error { return err }

// kvOps lists every call of a key-value store.
func kvOps(s store.KeyValueStore[string, string]) []op {
	return []op{
		{"Get", func() error { return errOf2(s.Get("k")) }},
		{"Put", func() error { return s.Put("k", "v") }},
		{"PutIfAbsent", func() error { return errOf2(s.PutIfAbsent("k", "v")) }},
		{"PutAll", func() error { return s.PutAll([]store.KeyValue[string, string]{{Key: "k", Value: "v"}}) }},
		{"PutAll(empty)", func() error { return s.PutAll(nil) }},
		{"Delete", func() error { return errOf2(s.Delete("k")) }},
		{"Range", func() error { return errOf(s.Range("a", "z")) }},
		{"ReverseRange", func() error { return errOf(s.ReverseRange("a", "z")) }},
		{"All", func() error { return errOf(s.All()) }},
		{"ReverseAll", func() error { return errOf(s.ReverseAll()) }},
		{"PrefixScan", func() error { return errOf(s.PrefixScan([]byte("k"))) }},
		{"ApproximateNumEntries", func() error { return errOf(s.ApproximateNumEntries()) }},
		{"Flush", s.Flush},
	}
}

// windowOps lists every call of a window store.
func windowOps(s store.WindowStore[string, string]) []op {
	return []op{
		{"Put", func() error { return s.Put("k", "v", 1000) }},
		{"Fetch", func() error { return errOf2(s.Fetch("k", 1000)) }},
		{"FetchRange", func() error { return errOf(s.FetchRange("k", 0, 2000)) }},
		{"BackwardFetchRange", func() error { return errOf(s.BackwardFetchRange("k", 0, 2000)) }},
		{"FetchKeyRange", func() error { return errOf(s.FetchKeyRange("a", "z", 0, 2000)) }},
		{"BackwardFetchKeyRange", func() error { return errOf(s.BackwardFetchKeyRange("a", "z", 0, 2000)) }},
		{"FetchAll", func() error { return errOf(s.FetchAll(0, 2000)) }},
		{"BackwardFetchAll", func() error { return errOf(s.BackwardFetchAll(0, 2000)) }},
		{"All", func() error { return errOf(s.All()) }},
		{"BackwardAll", func() error { return errOf(s.BackwardAll()) }},
		{"Flush", s.Flush},
	}
}

// sessionOps lists every call of a session store.
func sessionOps(s store.SessionStore[string, string]) []op {
	sess := store.Windowed[string]{Key: "k", Start: 5, End: 9}
	return []op{
		{"Put", func() error { return s.Put(sess, "v") }},
		{"Remove", func() error { return s.Remove(sess) }},
		{"FetchSession", func() error { return errOf2(s.FetchSession("k", 5, 9)) }},
		{"FindSessions", func() error { return errOf(s.FindSessions("k", 0, 100)) }},
		{"BackwardFindSessions", func() error { return errOf(s.BackwardFindSessions("k", 0, 100)) }},
		{"FindSessionsKeyRange", func() error { return errOf(s.FindSessionsKeyRange("a", "z", 0, 100)) }},
		{"Fetch", func() error { return errOf(s.Fetch("k")) }},
		{"BackwardFetch", func() error { return errOf(s.BackwardFetch("k")) }},
		{"Flush", s.Flush},
	}
}

// Lifecycle checks that every call on a store of every kind, cached or
// not, fails with ErrNotOpen before Init and with ErrClosed after Close,
// never with a panic, and that Close is idempotent.
func Lifecycle(t *testing.T, b Backend, cached bool) {
	k := buildKinds(t, b, "life", record.String(), cached, nil)
	for _, c := range []struct {
		st  store.StateStore
		ops []op
	}{{k.kv, kvOps(k.kv)}, {k.win, windowOps(k.win)}, {k.ses, sessionOps(k.ses)}} {
		st, ops := c.st, c.ops
		t.Run(st.Name(), func(t *testing.T) {
			run := func(phase string, want error) {
				t.Helper()
				for _, o := range ops {
					err := func() (err error) {
						defer func() {
							if p := recover(); p != nil {
								err = fmt.Errorf("panic: %v", p)
							}
						}()
						return o.call()
					}()
					if !errors.Is(err, want) {
						t.Errorf("%s: %s = %v, want %v", phase, o.name, err, want)
					}
				}
			}
			run("before Init", store.ErrNotOpen)
			must(t, st.Init(initCtx(t, t.TempDir())))
			must(t, st.Close())
			run("after Close", store.ErrClosed)
			must(t, st.Close())
			if err := st.Init(initCtx(t, t.TempDir())); !errors.Is(err, store.ErrClosed) {
				t.Errorf("Init after Close = %v, want ErrClosed", err)
			}
		})
	}
}
