package rocksdb_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

func ctx(dir string) store.InitContext {
	return store.InitContext{TaskID: "0_0", StateDir: dir, Logger: zap.NewNop()}
}

func TestStoreLivesUnderStateDirRocksDBStoreName(t *testing.T) {
	dir := t.TempDir()
	s := rocksdb.KeyValue("counts").Get()
	if err := s.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "rocksdb", "counts", "CURRENT")); err != nil {
		t.Errorf("no RocksDB at <state-dir>/rocksdb/counts: %v", err)
	}
}

func TestStoreWithoutStateDirIsAClearError(t *testing.T) {
	s := rocksdb.KeyValue("counts").Get()
	err := s.Init(ctx(""))
	if err == nil || !strings.Contains(err.Error(), "state directory") {
		t.Errorf("err = %v", err)
	}
}

// corrupt writes garbage over a closed store's files.
func corrupt(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files to corrupt in %s: %v", dir, err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("this is not a RocksDB file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fill(t *testing.T, dir string) {
	t.Helper()
	st, err := store.NewKeyValueBuilder(rocksdb.KeyValue("kv"), record.String(), record.String()).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	kv := st.(store.KeyValueStore[string, string])
	if err := kv.Put("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptStoreFailsWithErrorNamingStoreAndDirectory(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	storeDir := filepath.Join(dir, "rocksdb", "kv")
	corrupt(t, storeDir)
	s := rocksdb.KeyValue("kv").Get()
	err := s.Init(ctx(dir))
	if err == nil {
		s.Close()
		t.Fatal("a corrupt store opened")
	}
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), storeDir) || !strings.Contains(err.Error(), `"kv"`) {
		t.Errorf("err = %v, want ErrCorrupt naming store kv and %s", err, storeDir)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after a failed Init: %v", err)
	}
}

func TestUnreadableStorePathFailsClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rocksdb"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The store's directory is a plain file.
	if err := os.WriteFile(filepath.Join(dir, "rocksdb", "kv"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := rocksdb.KeyValue("kv").Get().Init(ctx(dir))
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

func TestWipeCorruptDeletesUnreadableFilesAndOpensEmpty(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	corrupt(t, filepath.Join(dir, "rocksdb", "kv"))
	s := rocksdb.Config{WipeCorrupt: true}.KeyValue("kv").Get()
	if err := s.Init(ctx(dir)); err != nil {
		t.Fatalf("Init with WipeCorrupt: %v", err)
	}
	defer s.Close()
	if w, ok := s.(interface{ Wiped() bool }); !ok || !w.Wiped() {
		t.Error("Wiped() does not report the wipe")
	}
	if _, ok, err := s.Get([]byte("k")); err != nil || ok {
		t.Errorf("wiped store still has data: %v %v", ok, err)
	}
}

func TestSecondOpenOfSameStoreDirectoryFailsInsteadOfCorrupting(t *testing.T) {
	dir := t.TempDir()
	a := rocksdb.KeyValue("kv").Get()
	if err := a.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := rocksdb.Config{WipeCorrupt: true}.KeyValue("kv").Get()
	err := b.Init(ctx(dir))
	if err == nil {
		b.Close()
		t.Fatal("a second RocksDB instance opened the same directory")
	}
	if err := a.Put([]byte("k"), []byte("v")); err != nil {
		t.Errorf("first instance broken by the second open (was it wiped?): %v", err)
	}
}

func TestCloseFreesOpenIteratorsAndLaterCallsFail(t *testing.T) {
	dir := t.TempDir()
	s := rocksdb.KeyValue("kv").Get()
	if err := s.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Put([]byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := s.Range(nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() || string(it.Key()) != "a" {
		t.Fatal("iterator did not start at a")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if it.Next() {
		t.Error("iterator moved after its store closed")
	}
	if err := it.Close(); err != nil {
		t.Error(err)
	}
	if _, _, err := s.Get([]byte("a")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigureHookSeesOptionsBeforeOpen(t *testing.T) {
	var seen []string
	cfg := rocksdb.Config{Configure: func(name string, _ *rocksdb.Options, _ *rocksdb.TableOptions) {
		seen = append(seen, name)
	}}
	s := cfg.KeyValue("hooked").Get()
	if err := s.Init(ctx(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(seen) != 1 || seen[0] != "hooked" {
		t.Errorf("hook saw %v", seen)
	}
}

func TestWasWipedSeesAWipeThroughTypedCachedAndLoggedLayers(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	corrupt(t, filepath.Join(dir, "rocksdb", "kv"))
	st, err := store.NewKeyValueBuilder(rocksdb.Config{WipeCorrupt: true}.KeyValue("kv"), record.String(), record.String()).
		WithCaching().Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !store.WasWiped(st) {
		t.Error("WasWiped is false for a wiped store under cache and changelog layers")
	}
	fresh, _ := store.NewKeyValueBuilder(rocksdb.KeyValue("other"), record.String(), record.String()).Build()
	if err := fresh.Init(ctx(dir)); err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if store.WasWiped(fresh) {
		t.Error("WasWiped is true for a store opened normally")
	}
}
