package statedir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Environment of the lock-holding child process (see TestMain).
const (
	helperStateDirEnv = "MILLRACE_STATEDIR_HELPER_STATE_DIR"
	helperAppEnv      = "MILLRACE_STATEDIR_HELPER_APP"
	helperTaskEnv     = "MILLRACE_STATEDIR_HELPER_TASK"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperStateDirEnv) != "" {
		os.Exit(holdLockHelper())
	}
	os.Exit(m.Run())
}

// holdLockHelper runs in a child process: it locks a task, prints "locked"
// and holds the lock until its stdin closes (the parent died or is done),
// with a hard limit so a stray child cannot outlive a test run for long.
func holdLockHelper() int {
	d, err := Open(os.Getenv(helperStateDirEnv), os.Getenv(helperAppEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	td, err := d.LockTask(os.Getenv(helperTaskEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("locked")
	go func() {
		time.Sleep(2 * time.Minute)
		os.Exit(3)
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = td.Unlock()
	return 0
}

// base is a whole second, so mtimes compare exactly on any filesystem.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func openDir(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(t.TempDir(), "app", zap.NewNop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func lock(t *testing.T, d *Dir, taskID string) *TaskDir {
	t.Helper()
	td, err := d.LockTask(taskID)
	if err != nil {
		t.Fatalf("LockTask(%q): %v", taskID, err)
	}
	t.Cleanup(func() { _ = td.Unlock() })
	return td
}

// makeTaskDir leaves an unlocked task directory last modified at mtime.
func makeTaskDir(t *testing.T, d *Dir, taskID string, mtime time.Time) {
	t.Helper()
	td := lock(t, d, taskID)
	if err := td.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	setMtime(t, td.Path(), mtime)
}

func setMtime(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatalf("Chtimes: %v", err)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err == nil {
		return true
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Lstat %s: %v", path, err)
	}
	return false
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesApplicationDirectoryUnderStateDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not", "yet")
	d, err := Open(root, "my-app", nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := filepath.Join(root, "my-app")
	if d.Path() != want {
		t.Fatalf("Path() = %q, want %q", d.Path(), want)
	}
	fi, err := os.Stat(want)
	if err != nil || !fi.IsDir() {
		t.Fatalf("application directory not created: %v", err)
	}
	// Opening again is fine.
	if _, err := Open(root, "my-app", nil); err != nil {
		t.Fatalf("second Open: %v", err)
	}
}

func TestOpenRejectsEmptyArgumentsReportingBoth(t *testing.T) {
	_, err := Open("", "", nil)
	if err == nil {
		t.Fatal("Open(\"\", \"\") succeeded")
	}
	for _, want := range []string{"state directory is empty", "application id is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := Open(t.TempDir(), "", nil); err == nil {
		t.Error("Open with empty application id succeeded")
	}
	if _, err := Open("", "app", nil); err == nil {
		t.Error("Open with empty state dir succeeded")
	}
}

func TestOpenRejectsApplicationIDThatIsNotASinglePathElement(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{".", "..", "a/b", "../escape", "a\x00b"} {
		if _, err := Open(root, id, nil); err == nil {
			t.Errorf("Open(%q) succeeded", id)
		}
	}
}

func TestOpenFailsNamingThePathWhenStateDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	_, err := Open(file, "app", nil)
	if err == nil {
		t.Fatal("Open under a file succeeded")
	}
	if want := filepath.Join(file, "app"); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func TestOpenFailsNamingThePathWhenApplicationDirIsAFile(t *testing.T) {
	root := t.TempDir()
	appPath := filepath.Join(root, "app")
	writeFile(t, appPath, "x")
	_, err := Open(root, "app", nil)
	if err == nil {
		t.Fatal("Open with a file as application directory succeeded")
	}
	if !strings.Contains(err.Error(), appPath) {
		t.Fatalf("error %q does not name %s", err, appPath)
	}
}

func TestLockTaskCreatesTaskDirectoryWithLockFile(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "1_7")
	if want := filepath.Join(d.Path(), "1_7"); td.Path() != want {
		t.Fatalf("Path() = %q, want %q", td.Path(), want)
	}
	if td.TaskID() != "1_7" {
		t.Fatalf("TaskID() = %q", td.TaskID())
	}
	if !exists(t, filepath.Join(td.Path(), ".lock")) {
		t.Fatal("no .lock file in the task directory")
	}
}

func TestLockTaskRejectsInvalidTaskIDs(t *testing.T) {
	d := openDir(t)
	for _, id := range []string{"", "0", "_1", "0_", "a_1", "0_b", "01_1", "0_01", "-1_2", "+1_2", "0_1_2", "0_99999999999", "../0_1", "0_1/x", " 0_1"} {
		if td, err := d.LockTask(id); err == nil {
			_ = td.Unlock()
			t.Errorf("LockTask(%q) succeeded", id)
		}
	}
	entries, err := os.ReadDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("invalid task ids created entries: %v", entries)
	}
}

func TestSecondLockOnSameTaskInSameProcessFailsNamingTheDirectory(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	for name, dir := range map[string]*Dir{"same Dir": d, "second Open": mustOpen(t, filepath.Dir(d.Path()), "app")} {
		second, err := dir.LockTask("0_1")
		if err == nil {
			_ = second.Unlock()
			t.Fatalf("%s: second LockTask succeeded", name)
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("%s: error %v does not wrap ErrLocked", name, err)
		}
		for _, want := range []string{td.Path(), "another Millrace instance"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", name, err, want)
			}
		}
	}
}

func mustOpen(t *testing.T, root, app string) *Dir {
	t.Helper()
	d, err := Open(root, app, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// flock locks belong to the open file description, so a second open of the
// lock file in the same process cannot take it: the property LockTask's
// in-process exclusion rests on.
func TestFlockOnSecondOpenOfLockFileInSameProcessFails(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	f, err := os.OpenFile(filepath.Join(td.Path(), ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock on a second open file description = %v, want EWOULDBLOCK", err)
	}
}

func TestLockSucceedsAfterUnlock(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	if err := td.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	again := lock(t, d, "0_1")
	if again.Path() != td.Path() {
		t.Fatalf("relocked path %q, want %q", again.Path(), td.Path())
	}
}

func TestUnlockTwiceIsFineAndDeletesNothing(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 5}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := td.Unlock(); err != nil {
			t.Fatalf("Unlock #%d: %v", i+1, err)
		}
	}
	if !exists(t, filepath.Join(td.Path(), ".checkpoint")) {
		t.Fatal("Unlock deleted the checkpoint")
	}
}

func TestUnlockRefreshesTaskDirectoryModificationTime(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	setMtime(t, td.Path(), base)
	if err := td.Unlock(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(td.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().After(base) {
		t.Fatalf("mtime %v not refreshed past %v", fi.ModTime(), base)
	}
}

func TestConcurrentLockTaskOnSameTaskHasExactlyOneWinner(t *testing.T) {
	d := openDir(t)
	const n = 16
	var wg sync.WaitGroup
	results := make([]*TaskDir, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = d.LockTask("2_3") })
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] == nil {
			winners++
			t.Cleanup(func() { _ = results[i].Unlock() })
		} else if !errors.Is(errs[i], ErrLocked) {
			t.Errorf("LockTask error %v does not wrap ErrLocked", errs[i])
		}
	}
	if winners != 1 {
		t.Fatalf("%d goroutines took the lock, want 1", winners)
	}
}

func TestLockHeldByChildProcessFailsWithErrLockedUntilTheChildDies(t *testing.T) {
	root := t.TempDir()
	d := mustOpen(t, root, "app")

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperStateDirEnv+"="+root, helperAppEnv+"=app", helperTaskEnv+"=0_4")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Error("child process did not exit")
		}
	})

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "locked" {
			t.Fatalf("child printed %q, want \"locked\"", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child did not report the lock within 30s")
	}

	td, err := d.LockTask("0_4")
	if err == nil {
		_ = td.Unlock()
		t.Fatal("LockTask succeeded while the child holds the lock")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("error %v does not wrap ErrLocked", err)
	}
	if want := filepath.Join(root, "app", "0_4"); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}

	// The kernel releases a dead process's locks.
	_ = cmd.Process.Kill()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit after kill")
	}
	lock(t, d, "0_4")
}

func TestCheckpointRoundTrip(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	want := map[TopicPartition]int64{
		{"app-store-changelog", 0}:  0,
		{"app-store-changelog", 12}: 9_000_000_000,
		{"other", 3}:                42,
	}
	if err := td.WriteCheckpoint(want); err != nil {
		t.Fatalf("WriteCheckpoint: %v", err)
	}
	got, err := td.ReadCheckpoint()
	if err != nil {
		t.Fatalf("ReadCheckpoint: %v", err)
	}
	if !mapsEqual(got, want) {
		t.Fatalf("ReadCheckpoint = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[TopicPartition]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCheckpointFileIsKafkaFormatSortedByTopicThenPartition(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	err := td.WriteCheckpoint(map[TopicPartition]int64{
		{"b-changelog", 10}: 7,
		{"a-changelog", 2}:  100,
		{"b-changelog", 2}:  3,
		{"a-changelog", 0}:  0,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(td.Path(), ".checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	want := "0\n4\na-changelog 0 0\na-changelog 2 100\nb-changelog 2 3\nb-changelog 10 7\n"
	if string(got) != want {
		t.Fatalf("checkpoint file:\n%q\nwant\n%q", got, want)
	}
}

func TestEmptyCheckpointIsVersionAndZeroCount(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	if err := td.WriteCheckpoint(nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(td.Path(), ".checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "0\n0\n" {
		t.Fatalf("checkpoint file %q, want %q", got, "0\n0\n")
	}
	offsets, err := td.ReadCheckpoint()
	if err != nil || len(offsets) != 0 {
		t.Fatalf("ReadCheckpoint = %v, %v; want empty, nil", offsets, err)
	}
}

func TestWriteCheckpointReplacesExistingFileAndLeavesNoTmp(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	// A crash mid-write may have left a tmp file behind.
	writeFile(t, filepath.Join(td.Path(), ".checkpoint.tmp"), "garbage")
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 1, {"u", 0}: 2}); err != nil {
		t.Fatal(err)
	}
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 5}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(td.Path(), ".checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "0\n1\nt 0 5\n" {
		t.Fatalf("checkpoint file %q after replacement", got)
	}
	if exists(t, filepath.Join(td.Path(), ".checkpoint.tmp")) {
		t.Fatal(".checkpoint.tmp left behind")
	}
}

func TestWriteCheckpointRejectsInvalidEntriesAndKeepsTheOldFile(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 1}); err != nil {
		t.Fatal(err)
	}
	for name, offsets := range map[string]map[TopicPartition]int64{
		"space in topic":     {{"my topic", 0}: 1},
		"tab in topic":       {{"my\ttopic", 0}: 1},
		"newline in topic":   {{"my\ntopic", 0}: 1},
		"empty topic":        {{"", 0}: 1},
		"negative partition": {{"t", -1}: 1},
		"negative offset":    {{"t", 0}: -1},
	} {
		if err := td.WriteCheckpoint(offsets); err == nil {
			t.Errorf("%s: WriteCheckpoint succeeded", name)
		}
	}
	got, err := td.ReadCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(got, map[TopicPartition]int64{{"t", 0}: 1}) {
		t.Fatalf("checkpoint changed by rejected writes: %v", got)
	}
}

func TestCorruptCheckpointVariantsFailWithErrCorruptCheckpoint(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	path := filepath.Join(td.Path(), ".checkpoint")
	for name, content := range map[string]string{
		"empty file":            "",
		"only newline":          "\n",
		"unknown version":       "1\n1\nt 0 5\n",
		"non-numeric version":   "v0\n1\nt 0 5\n",
		"missing count":         "0\n",
		"non-numeric count":     "0\none\nt 0 5\n",
		"negative count":        "0\n-1\n",
		"fewer entries":         "0\n2\nt 0 5\n",
		"more entries":          "0\n1\nt 0 5\nt 1 6\n",
		"two fields":            "0\n1\nt 0\n",
		"four fields":           "0\n1\nt 0 5 9\n",
		"blank entry line":      "0\n1\n\n",
		"non-numeric partition": "0\n1\nt p 5\n",
		"negative partition":    "0\n1\nt -1 5\n",
		"partition overflow":    "0\n1\nt 2147483648 5\n",
		"non-numeric offset":    "0\n1\nt 0 five\n",
		"negative offset":       "0\n1\nt 0 -1\n",
		"duplicate entry":       "0\n2\nt 0 5\nt 0 6\n",
		"binary garbage":        "\x00\x01\x02",
	} {
		writeFile(t, path, content)
		got, err := td.ReadCheckpoint()
		if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Errorf("%s: ReadCheckpoint = %v, %v; want ErrCorruptCheckpoint", name, got, err)
			continue
		}
		if got != nil {
			t.Errorf("%s: partial result %v returned with the error", name, got)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name %s", name, err, path)
		}
	}
}

func TestReadCheckpointToleratesMissingFinalNewlineAndCRLF(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	path := filepath.Join(td.Path(), ".checkpoint")
	want := map[TopicPartition]int64{{"t", 0}: 5, {"t", 1}: 6}
	for _, content := range []string{"0\n2\nt 0 5\nt 1 6", "0\r\n2\r\nt 0 5\r\nt 1 6\r\n"} {
		writeFile(t, path, content)
		got, err := td.ReadCheckpoint()
		if err != nil || !mapsEqual(got, want) {
			t.Errorf("ReadCheckpoint of %q = %v, %v; want %v", content, got, err, want)
		}
	}
}

func TestMissingCheckpointReadsAsEmptyMap(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	got, err := td.ReadCheckpoint()
	if err != nil {
		t.Fatalf("ReadCheckpoint: %v", err)
	}
	if got == nil || len(got) != 0 {
		t.Fatalf("ReadCheckpoint = %#v, want an empty non-nil map", got)
	}
}

func TestDeleteCheckpointRemovesTheFileAndToleratesAMissingOne(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 5}); err != nil {
		t.Fatal(err)
	}
	if err := td.DeleteCheckpoint(); err != nil {
		t.Fatalf("DeleteCheckpoint: %v", err)
	}
	if exists(t, filepath.Join(td.Path(), ".checkpoint")) {
		t.Fatal("checkpoint still there")
	}
	if err := td.DeleteCheckpoint(); err != nil {
		t.Fatalf("DeleteCheckpoint of a missing file: %v", err)
	}
}

func TestTaskDirStateMethodsFailWithErrNotLockedAfterUnlock(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	if err := td.Unlock(); err != nil {
		t.Fatal(err)
	}
	_, readErr := td.ReadCheckpoint()
	for name, err := range map[string]error{
		"WriteCheckpoint":  td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 1}),
		"ReadCheckpoint":   readErr,
		"DeleteCheckpoint": td.DeleteCheckpoint(),
		"WipeStore":        td.WipeStore("s"),
	} {
		if !errors.Is(err, ErrNotLocked) {
			t.Errorf("%s after Unlock = %v, want ErrNotLocked", name, err)
		}
	}
	if exists(t, filepath.Join(td.Path(), ".checkpoint")) {
		t.Fatal("WriteCheckpoint wrote after Unlock")
	}
}

func TestStorePathIsUnderRocksdbInTheTaskDirectory(t *testing.T) {
	td := lock(t, openDir(t), "3_2")
	if got, want := td.StorePath("counts"), filepath.Join(td.Path(), "rocksdb", "counts"); got != want {
		t.Fatalf("StorePath = %q, want %q", got, want)
	}
}

func TestWipeStoreRemovesThatStoreAndLeavesTheOthers(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	for _, s := range []string{"wiped", "kept"} {
		if err := os.MkdirAll(filepath.Join(td.StorePath(s), "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(td.StorePath(s), "sub", "000001.sst"), "data")
	}
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 0}: 5}); err != nil {
		t.Fatal(err)
	}
	if err := td.WipeStore("wiped"); err != nil {
		t.Fatalf("WipeStore: %v", err)
	}
	if exists(t, td.StorePath("wiped")) {
		t.Fatal("wiped store still there")
	}
	if !exists(t, filepath.Join(td.StorePath("kept"), "sub", "000001.sst")) {
		t.Fatal("other store touched")
	}
	if !exists(t, filepath.Join(td.Path(), ".checkpoint")) {
		t.Fatal("checkpoint touched")
	}
	if err := td.WipeStore("never-existed"); err != nil {
		t.Fatalf("WipeStore of a missing store: %v", err)
	}
}

func TestWipeStoreRejectsNamesThatAreNotASinglePathElement(t *testing.T) {
	td := lock(t, openDir(t), "0_1")
	for _, name := range []string{"", ".", "..", "../0_1", "a/b"} {
		if err := td.WipeStore(name); err == nil {
			t.Errorf("WipeStore(%q) succeeded", name)
		}
	}
	if !exists(t, td.Path()) {
		t.Fatal("task directory removed")
	}
}

func TestTaskIDsListsTaskDirectoriesInNumericOrder(t *testing.T) {
	d := openDir(t)
	for _, id := range []string{"1_0", "0_10", "0_2", "0_1"} {
		makeTaskDir(t, d, id, base)
	}
	if err := os.Mkdir(filepath.Join(d.Path(), "not-a-task"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.Path(), "2_2"), "a file named like a task")
	got, err := d.TaskIDs()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0_1", "0_2", "0_10", "1_0"}; !slices.Equal(got, want) {
		t.Fatalf("TaskIDs = %v, want %v", got, want)
	}
}

func TestCleanRemovedTasksRemovesOnlyUnassignedUnlockedOldTaskDirectories(t *testing.T) {
	d := openDir(t)
	old, young := base, base.Add(50*time.Minute)
	now := base.Add(time.Hour)
	delay := 30 * time.Minute

	makeTaskDir(t, d, "0_0", old) // assigned
	makeTaskDir(t, d, "0_1", old) // removed
	makeTaskDir(t, d, "0_10", old)
	makeTaskDir(t, d, "0_3", old)
	makeTaskDir(t, d, "0_2", young) // too recent
	makeTaskDir(t, d, "1_0", old)
	held := lock(t, d, "1_0") // locked
	setMtime(t, held.Path(), old)
	// A task directory with state in it goes entirely.
	withState := lock(t, d, "0_1")
	if err := withState.WriteCheckpoint(map[TopicPartition]int64{{"t", 1}: 9}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(withState.StorePath("s"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := withState.Unlock(); err != nil {
		t.Fatal(err)
	}
	setMtime(t, withState.Path(), old)
	// Entries that are not task directories.
	for _, name := range []string{"foo", "1_x", "01_1"} {
		if err := os.Mkdir(filepath.Join(d.Path(), name), 0o755); err != nil {
			t.Fatal(err)
		}
		setMtime(t, filepath.Join(d.Path(), name), old)
	}
	writeFile(t, filepath.Join(d.Path(), "2_2"), "a file named like a task")
	setMtime(t, filepath.Join(d.Path(), "2_2"), old)
	if err := os.Symlink(filepath.Join(d.Path(), "foo"), filepath.Join(d.Path(), "3_3")); err != nil {
		t.Fatal(err)
	}

	removed, err := d.CleanRemovedTasks(map[string]bool{"0_0": true}, delay, now)
	if err != nil {
		t.Fatalf("CleanRemovedTasks: %v", err)
	}
	if want := []string{"0_1", "0_3", "0_10"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, name := range []string{"0_1", "0_3", "0_10"} {
		if exists(t, filepath.Join(d.Path(), name)) {
			t.Errorf("%s still there", name)
		}
	}
	for _, name := range []string{"0_0", "0_2", "1_0", "foo", "1_x", "01_1", "2_2", "3_3"} {
		if !exists(t, filepath.Join(d.Path(), name)) {
			t.Errorf("%s removed", name)
		}
	}
	entries, err := os.ReadDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tombstonePrefix) {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestCleanRemovedTasksRemovesALockedDirectoryOnlyAfterItIsUnlocked(t *testing.T) {
	d := openDir(t)
	now := base.Add(time.Hour)
	held := lock(t, d, "0_5")
	setMtime(t, held.Path(), base)

	removed, err := d.CleanRemovedTasks(nil, time.Minute, now)
	if err != nil || len(removed) != 0 {
		t.Fatalf("CleanRemovedTasks with the lock held = %v, %v; want nothing removed", removed, err)
	}
	if !exists(t, held.Path()) {
		t.Fatal("locked directory removed")
	}
	// The holder can still use it.
	if err := held.WriteCheckpoint(map[TopicPartition]int64{{"t", 5}: 1}); err != nil {
		t.Fatal(err)
	}

	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	setMtime(t, held.Path(), base)
	removed, err = d.CleanRemovedTasks(nil, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"0_5"}) {
		t.Fatalf("removed %v after unlock, want [0_5]", removed)
	}
}

func TestCleanRemovedTasksRespectsTheDelay(t *testing.T) {
	d := openDir(t)
	delay := 10 * time.Minute
	now := base.Add(delay)
	makeTaskDir(t, d, "0_0", base)                    // exactly now-delay: kept
	makeTaskDir(t, d, "0_1", base.Add(-time.Second))  // older than now-delay: removed
	makeTaskDir(t, d, "0_2", base.Add(time.Second))   // newer: kept
	makeTaskDir(t, d, "0_3", base.Add(-time.Hour*24)) // much older: removed

	removed, err := d.CleanRemovedTasks(map[string]bool{}, delay, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0_1", "0_3"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	// With no delay, everything before now goes.
	removed, err = d.CleanRemovedTasks(nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0_0", "0_2"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v with zero delay, want %v", removed, want)
	}
}

func TestCleanRemovedTasksTreatsFalseInAssignedAsUnassigned(t *testing.T) {
	d := openDir(t)
	makeTaskDir(t, d, "0_0", base)
	removed, err := d.CleanRemovedTasks(map[string]bool{"0_0": false}, 0, base.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"0_0"}) {
		t.Fatalf("removed %v, want [0_0]", removed)
	}
}

func TestCleanRemovedTasksRejectsANegativeDelay(t *testing.T) {
	d := openDir(t)
	makeTaskDir(t, d, "0_0", base)
	if _, err := d.CleanRemovedTasks(nil, -time.Second, base.Add(time.Hour)); err == nil {
		t.Fatal("negative delay accepted")
	}
	if !exists(t, filepath.Join(d.Path(), "0_0")) {
		t.Fatal("task directory removed")
	}
}

func TestCleanRemovedTasksLogsEachRemovalAtInfo(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	d, err := Open(t.TempDir(), "app", zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	makeTaskDir(t, d, "0_1", base)
	makeTaskDir(t, d, "0_2", base)
	now := base.Add(90 * time.Minute)
	if _, err := d.CleanRemovedTasks(nil, time.Minute, now); err != nil {
		t.Fatal(err)
	}
	entries := logs.FilterMessage("removed state directory of unassigned task").AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("%d removal log entries, want 2: %v", len(entries), logs.AllUntimed())
	}
	var ids []string
	for _, e := range entries {
		if e.Level != zapcore.InfoLevel {
			t.Errorf("logged at %v, want info", e.Level)
		}
		fields := e.ContextMap()
		id, _ := fields["task_id"].(string)
		ids = append(ids, id)
		if fields["path"] != filepath.Join(d.Path(), id) {
			t.Errorf("path field %v, want %s", fields["path"], filepath.Join(d.Path(), id))
		}
		if fields["age"] != 90*time.Minute {
			t.Errorf("age field %v, want 1h30m", fields["age"])
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"0_1", "0_2"}) {
		t.Fatalf("logged task ids %v", ids)
	}
}

func TestCleanRemovedTasksRemovesLeftoversOfACrashedCleanup(t *testing.T) {
	d := openDir(t)
	tomb := filepath.Join(d.Path(), tombstonePrefix+"0_1-123")
	if err := os.MkdirAll(filepath.Join(tomb, "rocksdb", "s"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := d.CleanRemovedTasks(nil, time.Hour, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Fatalf("removed %v, want no task ids", removed)
	}
	if exists(t, tomb) {
		t.Fatal("leftover not removed")
	}
}

func TestLockTaskAfterCleanupMakesAFreshDirectory(t *testing.T) {
	d := openDir(t)
	td := lock(t, d, "0_1")
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{"t", 1}: 9}); err != nil {
		t.Fatal(err)
	}
	if err := td.Unlock(); err != nil {
		t.Fatal(err)
	}
	setMtime(t, td.Path(), base)
	if _, err := d.CleanRemovedTasks(nil, 0, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	again := lock(t, d, "0_1")
	got, err := again.ReadCheckpoint()
	if err != nil || len(got) != 0 {
		t.Fatalf("checkpoint after cleanup = %v, %v; want empty", got, err)
	}
}

func TestSecondAppLockOnSameStateDirFailsNamingTheDirectory(t *testing.T) {
	root := t.TempDir()
	d1, err := Open(root, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Open(root, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d1.LockApp()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.LockApp(); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), d1.Path()) {
		t.Errorf("second LockApp: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	l2, err := d2.LockApp()
	if err != nil {
		t.Fatalf("LockApp after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestZeroDirRefusesEveryCallInsteadOfPanickingOrUsingTheWorkingDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	for name, d := range map[string]*Dir{"zero": {}, "nil": nil} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s Dir panicked: %v", name, p)
				}
			}()
			if _, err := d.LockTask("0_1"); err == nil {
				t.Errorf("%s Dir: LockTask succeeded", name)
			}
			if _, err := d.TaskIDs(); err == nil {
				t.Errorf("%s Dir: TaskIDs succeeded", name)
			}
			if _, err := d.CleanRemovedTasks(nil, 0, time.Now()); err == nil {
				t.Errorf("%s Dir: CleanRemovedTasks succeeded", name)
			}
			if _, err := d.LockApp(); err == nil {
				t.Errorf("%s Dir: LockApp succeeded", name)
			}
			if d.Path() != "" {
				t.Errorf("%s Dir: Path = %q", name, d.Path())
			}
		}()
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("a zero Dir wrote into the working directory: %v", ents)
	}
	var td TaskDir
	if err := td.WriteCheckpoint(map[TopicPartition]int64{{Topic: "t"}: 1}); !errors.Is(err, ErrNotLocked) {
		t.Errorf("zero TaskDir: WriteCheckpoint = %v, want ErrNotLocked", err)
	}
	if _, err := td.ReadCheckpoint(); !errors.Is(err, ErrNotLocked) {
		t.Errorf("zero TaskDir: ReadCheckpoint = %v, want ErrNotLocked", err)
	}
	if err := td.Unlock(); err != nil {
		t.Errorf("zero TaskDir: Unlock = %v", err)
	}
}
