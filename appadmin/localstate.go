package appadmin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/millrace/millrace/store/statedir"
)

// LocalState is an application's local state directory,
// <state-dir>/<application-id> (see the statedir package for its layout).
type LocalState struct {
	// Path is <state-dir>/<application-id>.
	Path string
	// Exists is false when there is nothing at Path.
	Exists bool
	// Tasks are the task directories found in it (0_0, 0_1, ...).
	Tasks []string
}

// inspectState looks at the application's state directory under stateDir
// and checks that no running instance holds it: a running App holds the
// directory's application lock (statedir.Dir.LockApp) from start to
// close. It changes nothing: the lock is taken and released at once, on a
// directory that already exists (whose .lock file a Millrace instance made).
func inspectState(stateDir, applicationID string) (LocalState, error) {
	st := LocalState{Path: filepath.Join(stateDir, applicationID)}
	fi, err := os.Lstat(st.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("appadmin: local state %s: %w", st.Path, err)
	case !fi.IsDir():
		return st, fmt.Errorf("appadmin: local state %s is not a directory; not deleting it", st.Path)
	}
	st.Exists = true
	dir, lock, err := lockState(stateDir, applicationID)
	if err != nil {
		return st, err
	}
	defer lock.Unlock()
	if st.Tasks, err = dir.TaskIDs(); err != nil {
		return st, fmt.Errorf("appadmin: local state %s: %w", st.Path, err)
	}
	return st, nil
}

// lockState opens the existing application directory and takes its
// application lock; a held lock is an error wrapping ErrStateDirLocked.
func lockState(stateDir, applicationID string) (*statedir.Dir, *statedir.AppLock, error) {
	dir, err := statedir.Open(stateDir, applicationID, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("appadmin: local state: %w", err)
	}
	lock, err := dir.LockApp()
	if errors.Is(err, statedir.ErrLocked) {
		return nil, nil, fmt.Errorf("%w: %s is locked by a running Millrace instance of %s on this machine; stop it first",
			ErrStateDirLocked, dir.Path(), applicationID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("appadmin: local state: %w", err)
	}
	return dir, lock, nil
}

// deleteState deletes <stateDir>/<applicationID> and everything in it,
// holding its application lock: it renames the directory away first (to a
// hidden sibling), so an instance starting meanwhile makes a fresh,
// empty directory instead of opening one being deleted. A missing
// directory is not an error.
func deleteState(stateDir, applicationID string) error {
	path := filepath.Join(stateDir, applicationID)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	_, lock, err := lockState(stateDir, applicationID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	tomb, err := os.MkdirTemp(stateDir, ".removing-"+applicationID+"-")
	if err != nil {
		return fmt.Errorf("appadmin: delete local state %s: %w", path, err)
	}
	// rename(2) replaces the empty directory MkdirTemp reserved, atomically
	// (os.Rename refuses to replace a directory).
	if err := syscall.Rename(path, tomb); err != nil {
		_ = os.Remove(tomb)
		return fmt.Errorf("appadmin: delete local state %s: rename to %s: %w", path, tomb, err)
	}
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("appadmin: delete local state %s (renamed to %s): %w", path, tomb, err)
	}
	return nil
}
