package store_test

import (
	"errors"
	"testing"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// changelogRecorder records what a store logs.
type changelogRecorder struct{ logged []string }

func (c *changelogRecorder) Log(name string, key, value []byte, _ int64) error {
	c.logged = append(c.logged, name+":"+string(key))
	return nil
}

func identity(raw *record.ConsumerRecord) ([]byte, []byte, string, error) {
	return raw.Key, raw.Value, "", nil
}

func TestSourceChangelogStoreLogsNothingAndReportsItsTopic(t *testing.T) {
	b := store.NewKeyValueBuilder(store.InMemoryKeyValue("tbl"), record.String(), record.String()).WithCaching().
		WithSourceChangelog(store.SourceChangelog{Topic: "table-topic", Convert: identity})
	if b.LoggingEnabled() {
		t.Fatal("LoggingEnabled with a source changelog: a changelog topic would be created")
	}
	var sl store.SourceLogged = b
	sc, ok := sl.SourceChangelog()
	if !ok || sc.Topic != "table-topic" || sc.Convert == nil {
		t.Fatalf("SourceChangelog() = %+v, %v", sc, ok)
	}
	st, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	log := &changelogRecorder{}
	if err := st.Init(store.InitContext{TaskID: "0_0", Logger: zap.NewNop(), Changelog: log}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := st.(store.KeyValueStore[string, string])
	if err := kv.Put("a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(log.logged) != 0 {
		t.Fatalf("a source-changelog store logged %v", log.logged)
	}
	if v, ok, err := kv.Get("a"); err != nil || !ok || v != "1" {
		t.Fatalf("Get(a) = %q, %v, %v", v, ok, err)
	}
}

func TestBuilderWithoutASourceChangelogReportsNone(t *testing.T) {
	b := store.NewKeyValueBuilder(store.InMemoryKeyValue("kv"), record.String(), record.String())
	if _, ok := b.SourceChangelog(); ok {
		t.Fatal("SourceChangelog reported without WithSourceChangelog")
	}
	if !b.LoggingEnabled() {
		t.Fatal("logging is off by default")
	}
	var nilB *store.KeyValueBuilder[string, string]
	calm(t, "nil builder", func() {
		nilB.WithSourceChangelog(store.SourceChangelog{})
		if _, ok := nilB.SourceChangelog(); ok {
			t.Error("nil builder reports a source changelog")
		}
	})
}

func TestSourceChangelogWithoutTopicOrConvertFailsBuild(t *testing.T) {
	for name, sc := range map[string]store.SourceChangelog{
		"no topic":   {Convert: identity},
		"no convert": {Topic: "t"},
	} {
		_, err := store.NewKeyValueBuilder(store.InMemoryKeyValue("kv"), record.String(), record.String()).WithSourceChangelog(sc).Build()
		if !errors.Is(err, store.ErrSourceChangelog) {
			t.Errorf("%s: Build: %v, want ErrSourceChangelog", name, err)
		}
	}
}

func TestRestoringAnUnloggedCachedStoreBypassesTheCacheAndForwardsNothing(t *testing.T) {
	st, err := store.NewKeyValueBuilder(store.InMemoryKeyValue("tbl"), record.String(), record.String()).WithCaching().
		WithSourceChangelog(store.SourceChangelog{Topic: "t", Convert: identity}).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(initCtx()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := st.(store.KeyValueStore[string, string])
	var heard []string
	if err := store.SetFlushListener(kv, false, func(k string, _, _ *string, _ int64) error {
		heard = append(heard, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	target, ok := store.RestoreTarget(st)
	if !ok {
		t.Fatal("no restore target for an unlogged store")
	}
	if err := target.Write([]store.Entry{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if err := target.Put([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(heard) != 0 {
		t.Fatalf("restored writes reached the flush listener: %v", heard)
	}
	if v, ok, _ := kv.Get("a"); !ok || v != "1" {
		t.Fatalf("Get(a) = %q, %v after restore, want 1", v, ok)
	}
	if _, ok, _ := kv.Get("b"); ok {
		t.Fatal("b restored as deleted is present")
	}
}
