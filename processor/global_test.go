package processor_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// foreignKV is a KeyValueStore the store package did not build.
type foreignKV struct {
	store.KeyValueStore[string, int64]
}

func TestGlobalStoreViewOfAStoreItCannotWrapFailsReadsWithTheReasonInsteadOfPanicking(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("prices"), record.String(), record.Int64()),
		"prices-topic", record.String(), record.Int64())
	processor.AddSource(b, "in", record.String(), record.String(), "in-topic")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	spec := topo.GlobalStores()[0]
	st, err := spec.Builder.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(store.InitContext{Logger: zap.NewNop()}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := st.(store.KeyValueStore[string, int64])

	for _, c := range []struct {
		name string
		in   store.StateStore
		want []string
		is   error
	}{
		{"a key-value store the store package did not build", foreignKV{kv}, []string{`"prices"`, "foreignKV"}, nil},
		{"a store of other types", store.NewKeyValueStore(store.NewInMemoryKeyValueBytes("prices"), record.String(), record.String()),
			[]string{`"prices"`, "KeyValueStore[string, int64]"}, processor.ErrStoreType},
	} {
		var view store.StateStore
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("View of %s panicked: %v", c.name, p)
				}
			}()
			view = spec.View(c.in)
		}()
		g, ok := view.(store.KeyValueStore[string, int64])
		if !ok {
			t.Fatalf("View of %s is %T, not a KeyValueStore[string, int64]", c.name, view)
		}
		_, _, err := g.Get("a")
		if err == nil {
			t.Fatalf("View of %s: Get succeeded", c.name)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("View of %s: error %q does not name %s", c.name, err, w)
			}
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("View of %s: error %q does not wrap %v", c.name, err, c.is)
		}
	}
	// The store it built gives a working read-only view.
	if err := kv.Put("a", 1); err != nil {
		t.Fatal(err)
	}
	g := spec.View(st).(store.KeyValueStore[string, int64])
	if n, ok, err := g.Get("a"); err != nil || !ok || n != 1 {
		t.Errorf("view Get(a) = %d %v %v", n, ok, err)
	}
}
