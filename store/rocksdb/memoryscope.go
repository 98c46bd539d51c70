package rocksdb

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
)

// scopes maps absolute directories to the budgets attached to them.
var scopes struct {
	mu sync.Mutex
	m  map[string]*Memory
}

// Attach makes m the budget of every RocksDB store that opens under dir
// (its store.InitContext's StateDir is dir or inside it) and has no
// Config.Memory of its own, until m is closed. A streams.App attaches its
// budget to its application state directory, so the stores of all its
// tasks, DSL-made or hand-built, and its global stores share it, while the
// test driver and other runtimes are unaffected. Under nested attached
// directories the innermost wins. A directory holds one budget at a time.
//
// Stores look the directory up once, when they open; a store open before
// Attach, or opening after Close, keeps or gets its own cache and write
// buffers.
func (m *Memory) Attach(dir string) error {
	if dir == "" {
		return errors.New("rocksdb: attach memory budget: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("rocksdb: attach memory budget to %s: %w", dir, err)
	}
	scopes.mu.Lock()
	defer scopes.mu.Unlock()
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("rocksdb: attach memory budget to %s: the budget is closed", dir)
	}
	if other, ok := scopes.m[abs]; ok {
		if other == m {
			return nil
		}
		return fmt.Errorf("rocksdb: attach memory budget to %s: the directory has a budget already", dir)
	}
	if scopes.m == nil {
		scopes.m = map[string]*Memory{}
	}
	scopes.m[abs] = m
	return nil
}

// detachAll removes m from every directory it is attached to.
func detachAll(m *Memory) {
	scopes.mu.Lock()
	defer scopes.mu.Unlock()
	for dir, o := range scopes.m {
		if o == m {
			delete(scopes.m, dir)
		}
	}
}

// acquireScoped finds the budget attached to stateDir or its nearest
// attached ancestor and takes a store's hold on it; nil when there is
// none, or it is being closed (the store then has its own, as after
// Close).
func acquireScoped(stateDir string) *Memory {
	scopes.mu.Lock()
	defer scopes.mu.Unlock()
	if m := lookupLocked(stateDir); m != nil && m.acquire() {
		return m
	}
	return nil
}

// lookupLocked returns the budget attached to stateDir or its nearest
// attached ancestor; the caller holds scopes.mu.
func lookupLocked(stateDir string) *Memory {
	if stateDir == "" || len(scopes.m) == 0 {
		return nil
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil // no attached directory can match
	}
	for {
		if m, ok := scopes.m[dir]; ok {
			return m
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// MemoryFor returns the budget that a store opening under stateDir with no
// Config.Memory would use: the one attached to stateDir or its nearest
// attached ancestor; nil if none. For a streams.App, stateDir is
// <Config.StateDir>/<Config.ApplicationID> (or any directory under it)
// while the App runs.
func MemoryFor(stateDir string) *Memory {
	scopes.mu.Lock()
	defer scopes.mu.Unlock()
	return lookupLocked(stateDir)
}
