package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// calm runs f and turns a panic into a test failure.
func calm(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
		}
	}()
	f()
}

// wrapperKV is a store of the user's that passes Inner through from a store
// the store package built, so it looks cached without being a typed store.
type wrapperKV struct {
	store.KeyValueStore[string, int64]
	inner store.KeyValueBytes
}

func (w wrapperKV) Inner() store.KeyValueBytes { return w.inner }

func TestFlushListenerOnAStoreThePackageDidNotBuildIsErrNotCachedNotAPanic(t *testing.T) {
	st, err := store.NewKeyValueBuilder(store.InMemoryKeyValue("c"), record.String(), record.Int64()).WithCaching().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := st.(store.KeyValueStore[string, int64])
	inner, _ := store.Inner(kv)
	calm(t, "SetFlushListener on a wrapper", func() {
		err := store.SetFlushListener[string, int64](wrapperKV{kv, inner}, false, func(string, *int64, *int64, int64) error { return nil })
		if !errors.Is(err, store.ErrNotCached) || !strings.Contains(err.Error(), "wrapperKV") {
			t.Errorf("SetFlushListener on a wrapper = %v, want ErrNotCached naming its type", err)
		}
	})
	calm(t, "SetFlushListener on nil", func() {
		err := store.SetFlushListener[string, int64](nil, false, func(string, *int64, *int64, int64) error { return nil })
		if !errors.Is(err, store.ErrNotCached) {
			t.Errorf("SetFlushListener on nil = %v, want ErrNotCached", err)
		}
	})
	if err := store.SetFlushListener(kv, false, func(string, *int64, *int64, int64) error { return nil }); err != nil {
		t.Errorf("SetFlushListener on the cached store itself: %v", err)
	}
}

func TestWindowAndSessionByteStoresRefuseKeysTooShortToHoldTheirTime(t *testing.T) {
	wst, err := store.NewWindowBuilder(store.InMemoryWindow("w", time.Minute, time.Second, false), record.String(), record.Int64()).Build()
	if err != nil {
		t.Fatal(err)
	}
	sst, err := store.NewSessionBuilder(store.InMemorySession("s", time.Minute), record.String(), record.Int64()).Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.StateStore{wst, sst} {
		if err := st.Init(initCtx()); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// Restoration writes changelog bytes here as they come.
		target, ok := store.RestoreTarget(st)
		if !ok {
			t.Fatalf("%s: no restore target", st.Name())
		}
		for n := range 18 {
			short := make([]byte, n)
			calls := map[string]func() error{
				"Write":  func() error { return target.Write([]store.Entry{{Key: short, Value: []byte("v")}}) },
				"Put":    func() error { return target.Put(short, []byte("v")) },
				"Get":    func() error { _, _, err := target.Get(short); return err },
				"Delete": func() error { _, _, err := target.Delete(short); return err },
				"Range":  func() error { _, err := target.Range(short, short, false); return err },
			}
			if st == wst && n >= 14 || st == sst && n >= 18 {
				continue // long enough to be a composite key
			}
			for name, call := range calls {
				calm(t, fmt.Sprintf("%s: %s of a %d-byte key", st.Name(), name, n), func() {
					if err := call(); err == nil {
						t.Errorf("%s: %s of a %d-byte key succeeded", st.Name(), name, n)
					}
				})
			}
		}
	}
}

func TestZeroValueBuildersAndNilPartsGiveErrorsNotPanics(t *testing.T) {
	calm(t, "zero KeyValueBuilder", func() {
		var b store.KeyValueBuilder[string, int64]
		if b.Name() != "" {
			t.Errorf("Name = %q", b.Name())
		}
		if _, err := b.Build(); err == nil {
			t.Error("Build of a zero builder succeeded")
		}
	})
	calm(t, "zero WindowBuilder", func() {
		var b store.WindowBuilder[string, int64]
		if _, err := b.Build(); err == nil {
			t.Error("Build of a zero builder succeeded")
		}
	})
	calm(t, "zero SessionBuilder", func() {
		var b store.SessionBuilder[string, int64]
		if _, err := b.Build(); err == nil {
			t.Error("Build of a zero builder succeeded")
		}
	})
	calm(t, "ApproximateEntries(nil)", func() {
		if _, err := store.ApproximateEntries(nil); err == nil {
			t.Error("ApproximateEntries(nil) succeeded")
		}
	})
	for name, s := range map[string]store.KeyValueStore[string, int64]{
		"nil byte store":  store.NewKeyValueStore[string, int64](nil, record.String(), record.Int64()),
		"nil key serde":   store.NewKeyValueStore[string, int64](store.NewInMemoryKeyValueBytes("x"), nil, record.Int64()),
		"nil value serde": store.NewKeyValueStore[string, int64](store.NewInMemoryKeyValueBytes("x"), record.String(), nil),
	} {
		calm(t, "NewKeyValueStore with a "+name, func() {
			_ = s.Name()
			errs := map[string]error{"Init": s.Init(initCtx()), "Put": s.Put("k", 1)}
			_, _, errs["Get"] = s.Get("k")
			_, errs["All"] = s.All()
			for op, err := range errs {
				if err == nil {
					t.Errorf("NewKeyValueStore with a %s: %s succeeded", name, op)
				}
			}
			_ = s.Close()
		})
	}
}
