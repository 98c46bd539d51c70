package appadmin

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/millrace/millrace/store/statedir"
)

// appState makes <root>/<app> with two task directories, as an App leaves
// it, and returns root.
func appState(t *testing.T, app string) string {
	t.Helper()
	root := t.TempDir()
	dir, err := statedir.Open(root, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0_0", "1_0"} {
		td, err := dir.LockTask(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(td.StorePath("counts"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(td.StorePath("counts"), "000001.sst"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := td.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLocalStateOfAStoppedInstanceIsDeletedWithEverythingInIt(t *testing.T) {
	root := appState(t, "app")
	if err := os.MkdirAll(filepath.Join(root, "other-app", "0_0"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := inspectState(root, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || st.Path != filepath.Join(root, "app") || !slices.Equal(st.Tasks, []string{"0_0", "1_0"}) {
		t.Fatalf("inspectState = %+v", st)
	}
	if err := deleteState(root, "app"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"other-app"}) {
		t.Errorf("state root holds %v after the delete, want only the other application's directory", names)
	}
	if err := deleteState(root, "app"); err != nil {
		t.Errorf("deleting a missing directory: %v, want nil", err)
	}
	if st, err := inspectState(root, "app"); err != nil || st.Exists {
		t.Errorf("inspectState after the delete = %+v, %v; want nothing there", st, err)
	}
}

func TestLocalStateLockedByARunningInstanceIsNeitherInspectedNorDeleted(t *testing.T) {
	root := appState(t, "app")
	dir, err := statedir.Open(root, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := dir.LockApp() // what a running App holds
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if _, err := inspectState(root, "app"); !errors.Is(err, ErrStateDirLocked) {
		t.Errorf("inspectState of a locked directory: %v, want ErrStateDirLocked", err)
	}
	if err := deleteState(root, "app"); !errors.Is(err, ErrStateDirLocked) {
		t.Errorf("deleteState of a locked directory: %v, want ErrStateDirLocked", err)
	}
	if _, err := os.Stat(filepath.Join(root, "app", "0_0", "rocksdb", "counts", "000001.sst")); err != nil {
		t.Errorf("the locked state was touched: %v", err)
	}
}

func TestLocalStateThatIsAFileIsNotDeleted(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "app"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := inspectState(root, "app"); err == nil {
		t.Error("inspectState of a file succeeded")
	}
}
