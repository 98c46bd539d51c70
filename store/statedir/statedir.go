package statedir

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"go.uber.org/zap"
)

var (
	// ErrLocked is wrapped by the error of LockTask when another process, or
	// another TaskDir in this process, holds the task directory's lock.
	ErrLocked = errors.New("statedir: task directory locked")
	// ErrNotLocked is wrapped by the error of a TaskDir method that writes,
	// reads or deletes task state after Unlock.
	ErrNotLocked = errors.New("statedir: task directory not locked")
	// ErrCorruptCheckpoint is wrapped by the error of ReadCheckpoint when the
	// checkpoint file exists but is not a valid checkpoint.
	ErrCorruptCheckpoint = errors.New("statedir: corrupt checkpoint file")
)

const (
	lockFileName       = ".lock"
	checkpointFileName = ".checkpoint"
	checkpointTmpName  = ".checkpoint.tmp"
	storesDirName      = "rocksdb"
	// tombstonePrefix names a task directory the cleaner renamed away before
	// deleting it. It is not a task id, so nothing else ever uses it.
	tombstonePrefix = ".removing-"

	checkpointVersion = 0
	// maxLockAttempts bounds LockTask's retries when the cleaner deletes the
	// directory between LockTask's mkdir and its flock.
	maxLockAttempts = 8
)

// errHeld and errStale are tryLock's internal outcomes; callers turn them
// into errors naming the directory.
var (
	errHeld  = errors.New("lock held")
	errStale = errors.New("lock file replaced or removed")
)

// Dir is an application's state directory, <state-dir>/<application-id>.
// It is safe for concurrent use.
type Dir struct {
	path   string
	logger *zap.Logger
}

// Open validates stateDir and applicationID, creates
// <stateDir>/<applicationID> (and stateDir) with mode 0o755 if missing, and
// returns it. applicationID must be a single path element. A nil logger
// discards logs.
func Open(stateDir, applicationID string, logger *zap.Logger) (*Dir, error) {
	var problems []error
	if stateDir == "" {
		problems = append(problems, errors.New("statedir: state directory is empty"))
	}
	if err := checkPathElement("application id", applicationID); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	path := filepath.Join(stateDir, applicationID)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("statedir: create application state directory %s: %w", path, err)
	}
	// MkdirAll succeeds on an existing directory only, but a symlink to a
	// file or a racing replacement would slip past it; check what is there.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("statedir: application state directory %s: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("statedir: application state directory %s is not a directory", path)
	}
	return &Dir{path: path, logger: logger}, nil
}

// Path returns the application's state directory,
// <state-dir>/<application-id>.
func (d *Dir) Path() string {
	if d == nil {
		return ""
	}
	return d.path
}

// errNoDir is the error of a Dir that Open did not return (a zero or nil
// Dir), which names no directory: its methods refuse rather than work
// relative to the process's working directory.
var errNoDir = errors.New("statedir: Dir not opened (use statedir.Open)")

// check refuses a Dir that Open did not make.
func (d *Dir) check() error {
	if d == nil || d.path == "" {
		return errNoDir
	}
	return nil
}

// log returns the Dir's logger; never nil.
func (d *Dir) log() *zap.Logger {
	if d.logger == nil {
		return zap.NewNop()
	}
	return d.logger
}

// LockTask creates the task's directory <app dir>/<taskID> if missing and
// takes an exclusive, non-blocking flock on its .lock file. taskID must be
// "<subtopology>_<partition>" in canonical decimal form, e.g. "0_3". If the
// lock is held, by another process or by another TaskDir in this process,
// the error names the directory and wraps ErrLocked; the caller retries
// later, as Kafka Streams does when a task's previous owner has not let go
// yet.
func (d *Dir) LockTask(taskID string) (*TaskDir, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if _, _, ok := parseTaskID(taskID); !ok {
		return nil, fmt.Errorf("statedir: invalid task id %q: want <subtopology>_<partition>, e.g. 0_3", taskID)
	}
	dir := filepath.Join(d.path, taskID)
	lockPath := filepath.Join(dir, lockFileName)
	for attempt := 1; ; attempt++ {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("statedir: create task directory %s: %w", dir, err)
		}
		f, _, err := tryLock(lockPath)
		switch {
		case err == nil:
			d.log().Debug("locked task state directory", zap.String("task_id", taskID), zap.String("path", dir))
			return &TaskDir{taskID: taskID, path: dir, logger: d.log(), lock: f}, nil
		case errors.Is(err, errHeld):
			return nil, fmt.Errorf("statedir: cannot lock task directory %s: another Millrace instance is using it: %w", dir, ErrLocked)
		case (errors.Is(err, errStale) || errors.Is(err, fs.ErrNotExist)) && attempt < maxLockAttempts:
			// The cleaner removed the directory under us; make it again.
			continue
		default:
			return nil, fmt.Errorf("statedir: lock task directory %s: %w", dir, err)
		}
	}
}

// TaskIDs lists the task directories present under the application's state
// directory, ordered by subtopology then partition. Entries whose name is
// not a task id, and entries that are not directories, are left out.
func (d *Dir) TaskIDs() ([]string, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("statedir: list %s: %w", d.path, err)
	}
	var ids []string
	for _, e := range entries {
		if _, _, ok := parseTaskID(e.Name()); ok && e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	sortTaskIDs(ids)
	return ids, nil
}

// CleanRemovedTasks deletes the state of tasks this instance no longer has:
// every task directory whose id is not true in assigned, whose lock nobody
// holds, and whose modification time is before now-delay. It deletes each
// while holding its lock, then releases it, and logs each removal at info
// level. Locked directories, directories used more recently than the delay,
// and entries whose name is not a task id are left alone. Leftovers of an
// earlier cleaner that crashed mid-delete are removed too.
//
// It returns the removed task ids, ordered by subtopology then partition,
// and every error met on the way (a failure on one directory does not stop
// the others).
func (d *Dir) CleanRemovedTasks(assigned map[string]bool, delay time.Duration, now time.Time) ([]string, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if delay < 0 {
		return nil, fmt.Errorf("statedir: negative cleanup delay %v", delay)
	}
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("statedir: list %s: %w", d.path, err)
	}
	cutoff := now.Add(-delay)
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tombstonePrefix) && e.IsDir() {
			d.removeTombstone(filepath.Join(d.path, name))
			continue
		}
		if _, _, ok := parseTaskID(name); !ok || !e.IsDir() || assigned[name] {
			continue
		}
		ok, err := d.cleanTask(name, cutoff, now)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, name)
		}
	}
	sortTaskIDs(removed)
	return removed, errors.Join(errs...)
}

// cleanTask removes one unassigned task directory if it is unlocked and old
// enough, reporting whether it did.
func (d *Dir) cleanTask(taskID string, cutoff, now time.Time) (bool, error) {
	dir := filepath.Join(d.path, taskID)
	// Look at the age before locking: taking the lock may create .lock,
	// which would make the directory look fresh.
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statedir: clean task directory %s: %w", dir, err)
	}
	if !fi.IsDir() || !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	f, existed, err := tryLock(filepath.Join(dir, lockFileName))
	switch {
	case errors.Is(err, errHeld):
		d.log().Debug("not cleaning locked task state directory", zap.String("task_id", taskID), zap.String("path", dir))
		return false, nil
	case errors.Is(err, errStale), errors.Is(err, fs.ErrNotExist):
		// Someone else removed or recreated it meanwhile.
		return false, nil
	case err != nil:
		return false, fmt.Errorf("statedir: lock task directory %s for cleaning: %w", dir, err)
	}
	defer releaseLock(f)
	mtime := fi.ModTime()
	if existed {
		// The task may have been used between the first look and the lock
		// (Unlock refreshes the mtime); only a pre-existing .lock leaves the
		// mtime ours to trust.
		fi, err = os.Stat(dir)
		if err != nil {
			return false, fmt.Errorf("statedir: clean task directory %s: %w", dir, err)
		}
		if mtime = fi.ModTime(); !mtime.Before(cutoff) {
			return false, nil
		}
	}
	// Rename first, so that a LockTask racing with us finds no directory
	// (and makes a fresh one) rather than one being emptied.
	tomb, err := os.MkdirTemp(d.path, tombstonePrefix+taskID+"-")
	if err != nil {
		return false, fmt.Errorf("statedir: clean task directory %s: %w", dir, err)
	}
	// syscall.Rename, not os.Rename: the target is the empty directory
	// MkdirTemp made (which reserves a unique name), and os.Rename refuses
	// to replace a directory where rename(2) does so atomically.
	if err := syscall.Rename(dir, tomb); err != nil {
		_ = os.Remove(tomb)
		return false, fmt.Errorf("statedir: clean task directory %s: rename to %s: %w", dir, tomb, err)
	}
	if err := os.RemoveAll(tomb); err != nil {
		return true, fmt.Errorf("statedir: remove task directory %s (renamed to %s): %w", dir, tomb, err)
	}
	d.log().Info("removed state directory of unassigned task",
		zap.String("task_id", taskID), zap.String("path", dir), zap.Duration("age", now.Sub(mtime)))
	return true, nil
}

// removeTombstone deletes what a crashed cleaner left behind. It is best
// effort: another cleaner may be deleting the same tree.
func (d *Dir) removeTombstone(path string) {
	if err := os.RemoveAll(path); err != nil {
		d.log().Warn("cannot remove leftover of a task state directory cleanup", zap.String("path", path), zap.Error(err))
		return
	}
	d.log().Info("removed leftover of a task state directory cleanup", zap.String("path", path))
}

// TopicPartition names a partition of a topic, a checkpoint's key.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// TaskDir is a locked task directory, <state-dir>/<application-id>/<task-id>.
// It is safe for concurrent use; Unlock waits for a checkpoint write in
// flight.
type TaskDir struct {
	taskID string
	path   string
	logger *zap.Logger

	mu   sync.Mutex
	lock *os.File // nil after Unlock
}

// Path returns the task directory.
func (t *TaskDir) Path() string { return t.path }

// TaskID returns the task's id, e.g. "0_3".
func (t *TaskDir) TaskID() string { return t.taskID }

// StorePath returns the directory of the named persistent store,
// <task dir>/rocksdb/<store>, the directory store.InitContext.StateDir plus
// the rocksdb package's layout give. store must be a single path element.
func (t *TaskDir) StorePath(store string) string {
	return filepath.Join(t.path, storesDirName, store)
}

// Unlock refreshes the task directory's modification time, so the cleaner's
// delay counts from now, releases the lock and closes the lock file. It
// deletes nothing. It is idempotent; the lock is released even when an
// error is returned.
func (t *TaskDir) Unlock() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lock == nil {
		return nil
	}
	f := t.lock
	t.lock = nil
	if err := os.Chtimes(t.path, time.Time{}, time.Now()); err != nil {
		// The lock matters more than the age; the worst outcome is an early
		// cleanup, which costs a restore.
		t.logger.Warn("cannot refresh task state directory modification time", zap.String("path", t.path), zap.Error(err))
	}
	if err := releaseLock(f); err != nil {
		return fmt.Errorf("statedir: unlock task directory %s: %w", t.path, err)
	}
	t.logger.Debug("unlocked task state directory", zap.String("task_id", t.taskID), zap.String("path", t.path))
	return nil
}

// checkLocked returns an error wrapping ErrNotLocked after Unlock. Callers
// hold t.mu.
func (t *TaskDir) checkLocked(op string) error {
	if t.lock == nil {
		return fmt.Errorf("statedir: %s in task directory %s: %w", op, t.path, ErrNotLocked)
	}
	return nil
}

// WriteCheckpoint replaces the task's .checkpoint file with offsets, in
// Kafka's format, atomically and durably: it writes .checkpoint.tmp, fsyncs
// it, renames it over .checkpoint and fsyncs the directory. Topics must be
// non-empty and free of whitespace, partitions and offsets non-negative;
// otherwise nothing is written.
func (t *TaskDir) WriteCheckpoint(offsets map[TopicPartition]int64) error {
	data, err := encodeCheckpoint(offsets)
	if err != nil {
		return fmt.Errorf("statedir: write checkpoint in %s: %w", t.path, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkLocked("write checkpoint"); err != nil {
		return err
	}
	tmp := filepath.Join(t.path, checkpointTmpName)
	final := filepath.Join(t.path, checkpointFileName)
	if err := writeSynced(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("statedir: write checkpoint %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("statedir: write checkpoint %s: %w", final, err)
	}
	if err := syncDir(t.path); err != nil {
		return fmt.Errorf("statedir: write checkpoint %s: sync directory: %w", final, err)
	}
	return nil
}

// ReadCheckpoint reads the task's .checkpoint file. A missing file gives an
// empty map and no error; a malformed one (unknown version, entry count
// that does not match, unparsable or duplicate line, negative partition or
// offset) gives an error naming the file and wrapping ErrCorruptCheckpoint.
func (t *TaskDir) ReadCheckpoint() (map[TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkLocked("read checkpoint"); err != nil {
		return nil, err
	}
	path := filepath.Join(t.path, checkpointFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("statedir: read checkpoint %s: %w", path, err)
	}
	offsets, err := decodeCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCorruptCheckpoint, path, err)
	}
	return offsets, nil
}

// DeleteCheckpoint removes the task's .checkpoint file, durably: under
// exactly-once a task deletes it before processing so that a crash leaves
// no checkpoint and the stores are wiped and restored. A missing file is
// not an error.
func (t *TaskDir) DeleteCheckpoint() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkLocked("delete checkpoint"); err != nil {
		return err
	}
	path := filepath.Join(t.path, checkpointFileName)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("statedir: delete checkpoint %s: %w", path, err)
	}
	if err := syncDir(t.path); err != nil {
		return fmt.Errorf("statedir: delete checkpoint %s: sync directory: %w", path, err)
	}
	return nil
}

// WipeStore deletes the named store's directory, StorePath(store), and
// everything in it; a missing directory is not an error. The runtime wipes
// a store that has no valid checkpoint under exactly-once, or whose files
// are corrupt, and restores it from its changelog. store must be a single
// path element. The store must be closed.
func (t *TaskDir) WipeStore(store string) error {
	if err := checkPathElement("store name", store); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkLocked("wipe store"); err != nil {
		return err
	}
	path := t.StorePath(store)
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("statedir: wipe store %s: %w", path, err)
	}
	t.logger.Info("wiped store", zap.String("task_id", t.taskID), zap.String("store", store), zap.String("path", path))
	return nil
}

// encodeCheckpoint renders offsets in Kafka's checkpoint format, entries
// sorted by topic then partition. It reports every invalid entry.
func encodeCheckpoint(offsets map[TopicPartition]int64) ([]byte, error) {
	keys := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		keys = append(keys, tp)
	}
	slices.SortFunc(keys, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	var problems []error
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d\n%d\n", checkpointVersion, len(keys))
	for _, tp := range keys {
		off := offsets[tp]
		switch {
		case tp.Topic == "":
			problems = append(problems, fmt.Errorf("empty topic name (partition %d)", tp.Partition))
		case strings.IndexFunc(tp.Topic, unicode.IsSpace) >= 0:
			problems = append(problems, fmt.Errorf("topic name %q contains whitespace", tp.Topic))
		}
		if tp.Partition < 0 {
			problems = append(problems, fmt.Errorf("topic %q: negative partition %d", tp.Topic, tp.Partition))
		}
		if off < 0 {
			problems = append(problems, fmt.Errorf("topic %q partition %d: negative offset %d", tp.Topic, tp.Partition, off))
		}
		fmt.Fprintf(&buf, "%s %d %d\n", tp.Topic, tp.Partition, off)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return buf.Bytes(), nil
}

// decodeCheckpoint parses Kafka's checkpoint format. Lines end in "\n"
// (a "\r" before it is tolerated); the last line's newline is optional.
func decodeCheckpoint(data []byte) (map[TopicPartition]int64, error) {
	text := string(data)
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, errors.New("empty file")
	}
	lines := strings.Split(text, "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	version, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || version != checkpointVersion {
		return nil, fmt.Errorf("line 1: unsupported version %q, want %d", lines[0], checkpointVersion)
	}
	if len(lines) < 2 {
		return nil, errors.New("missing entry count")
	}
	count, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || count < 0 {
		return nil, fmt.Errorf("line 2: invalid entry count %q", lines[1])
	}
	entries := lines[2:]
	if len(entries) != count {
		return nil, fmt.Errorf("header says %d entries, file has %d", count, len(entries))
	}
	offsets := make(map[TopicPartition]int64, count)
	for i, line := range entries {
		n := i + 3
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want \"<topic> <partition> <offset>\", got %q", n, line)
		}
		partition, err := strconv.ParseInt(fields[1], 10, 32)
		if err != nil || partition < 0 {
			return nil, fmt.Errorf("line %d: invalid partition %q", n, fields[1])
		}
		offset, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || offset < 0 {
			return nil, fmt.Errorf("line %d: invalid offset %q", n, fields[2])
		}
		tp := TopicPartition{Topic: fields[0], Partition: int32(partition)}
		if _, dup := offsets[tp]; dup {
			return nil, fmt.Errorf("line %d: duplicate entry for topic %q partition %d", n, tp.Topic, tp.Partition)
		}
		offsets[tp] = offset
	}
	return offsets, nil
}

// tryLock opens path, creating it if needed, and takes an exclusive,
// non-blocking flock on it. existed reports whether the file was there
// before. It fails with errHeld if someone holds the lock, and with
// errStale if, once locked, the file is no longer the one at path (the
// cleaner deleted it), since a lock on an unlinked file protects nothing.
func tryLock(path string) (f *os.File, existed bool, err error) {
	existed = true
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		existed = false
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, false, err
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, errHeld
		}
		return nil, false, err
	}
	held, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, false, err
	}
	if now, err := os.Stat(path); err != nil || !os.SameFile(held, now) {
		_ = f.Close()
		return nil, false, errStale
	}
	return f, existed, nil
}

// releaseLock unlocks and closes a file tryLock returned. Closing alone
// would release the lock; the explicit unlock reports failures.
func releaseLock(f *os.File) error {
	err := flock(f, syscall.LOCK_UN)
	return errors.Join(err, f.Close())
}

func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// writeSynced writes data to path, truncating it, and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, making renames and removals in it durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// checkPathElement rejects names that are not one safe path element.
func checkPathElement(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("statedir: %s is empty", what)
	case name == "." || name == "..",
		strings.ContainsRune(name, '/'),
		strings.ContainsRune(name, filepath.Separator),
		strings.ContainsRune(name, 0):
		return fmt.Errorf("statedir: %s %q is not a single path element", what, name)
	}
	return nil
}

// parseTaskID parses "<subtopology>_<partition>": two non-negative int32s
// in canonical decimal (no sign, no leading zeros), so that one task has
// one directory name.
func parseTaskID(id string) (subtopology, partition int32, ok bool) {
	a, b, found := strings.Cut(id, "_")
	if !found {
		return 0, 0, false
	}
	sub, ok1 := parseCanonicalInt32(a)
	part, ok2 := parseCanonicalInt32(b)
	return sub, part, ok1 && ok2
}

func parseCanonicalInt32(s string) (int32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

// sortTaskIDs orders valid task ids by subtopology, then partition, so
// that 0_2 comes before 0_10.
func sortTaskIDs(ids []string) {
	slices.SortFunc(ids, func(x, y string) int {
		xs, xp, _ := parseTaskID(x)
		ys, yp, _ := parseTaskID(y)
		if c := cmp.Compare(xs, ys); c != 0 {
			return c
		}
		return cmp.Compare(xp, yp)
	})
}

// AppLock is the lock of a whole application directory, held by one App
// instance for as long as it runs (Kafka Streams locks its state directory
// the same way): a second instance on the same state directory fails at
// start instead of racing the first for task directories.
type AppLock struct {
	f    *os.File
	path string
}

// LockApp takes an exclusive, non-blocking lock on the application
// directory. A held lock is an error wrapping ErrLocked that names the
// directory.
func (d *Dir) LockApp() (*AppLock, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	path := filepath.Join(d.path, ".lock")
	f, _, err := tryLock(path)
	if err != nil {
		if errors.Is(err, errHeld) {
			return nil, fmt.Errorf("statedir: cannot lock application directory %s: another Millrace instance "+
				"is using this state directory; give each instance its own StateDir: %w", d.path, ErrLocked)
		}
		return nil, fmt.Errorf("statedir: lock application directory %s: %w", d.path, err)
	}
	return &AppLock{f: f, path: d.path}, nil
}

// Unlock releases the application lock. It is idempotent.
func (l *AppLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := releaseLock(l.f)
	l.f = nil
	return err
}
