package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
)

// App runs a Topology on Kafka: it joins the consumer group named by the
// application id, turns assigned partitions into tasks (one goroutine each),
// produces their outputs, commits, and moves state with changelog topics.
type App struct {
	topo   *processor.Topology
	cfg    Config
	logger *zap.Logger
	m      *metrics

	state   atomic.Int32
	stateMu sync.Mutex

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	runErr  error

	// crash makes the running loop stop at once without committing, as a
	// killed process would (tests only, see export_test.go).
	crash atomic.Bool

	// iq is what interactive queries and instance metadata read (query.go).
	iq queries
}

// New validates cfg against the topology and returns an App in state
// Created. Every configuration problem is reported at once, wrapping
// ErrConfig.
func New(topo *processor.Topology, cfg Config) (*App, error) {
	if topo == nil {
		return nil, fmt.Errorf("%w: nil topology", ErrConfig)
	}
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Internal topics (repartition topics) take the application id.
	topo = topo.ForApplication(cfg.ApplicationID)
	if err := cfg.checkTopology(topo); err != nil {
		return nil, err
	}
	hs, _ := findHooks(cfg.Hooks) // validate reported their problems
	a := &App{topo: topo, cfg: cfg, logger: cfg.Logger.With(zap.String("application_id", cfg.ApplicationID)),
		done: make(chan struct{})}
	a.cfg.Logger = a.logger
	hs.logger = a.logger
	a.m = newMetrics(&a.cfg, hs)
	hs.onNewApp(a)
	return a, nil
}

// Config returns a copy of the App's configuration with every default
// applied (the maps are shared).
func (a *App) Config() Config { return a.cfg }

// State returns the current state.
func (a *App) State() State {
	if a == nil {
		return NotRunning
	}
	return State(a.state.Load())
}

func (a *App) setState(to State) bool {
	a.stateMu.Lock()
	from := State(a.state.Load())
	if from == to && to != Rebalancing {
		a.stateMu.Unlock()
		return true
	}
	if !validTransition(from, to) {
		a.stateMu.Unlock()
		a.logger.Debug("ignored state transition", zap.Stringer("from", from), zap.Stringer("to", to))
		return false
	}
	a.state.Store(int32(to))
	a.stateMu.Unlock()
	if from != to {
		a.logger.Info("state", zap.Stringer("from", from), zap.Stringer("to", to))
		a.notifyState(from, to)
	}
	return true
}

// notifyState calls the StateListener and the state hooks; a panicking
// listener is logged, and crashes nothing.
func (a *App) notifyState(from, to State) {
	if a.m != nil {
		defer a.m.hooks.onStateChange(from, to)
	}
	if a.cfg.StateListener == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			a.logger.Error("state listener panicked", zap.Stringer("from", from), zap.Stringer("to", to),
				zap.Any("panic", p), zap.Stack("stack"))
		}
	}()
	a.cfg.StateListener(from, to)
}

// errNotNew is returned by an App that New did not make.
var errNotNew = errors.New("streams: App not made by New")

// Run starts the App and blocks until ctx is cancelled, Close is called, or
// a fatal error stops it; it returns nil after a clean shutdown and the
// error otherwise. Run may be called once.
func (a *App) Run(ctx context.Context) error {
	if a == nil || a.done == nil {
		return errNotNew
	}
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("streams: Run called twice")
	}
	if a.State() != Created {
		a.mu.Unlock()
		return fmt.Errorf("streams: Run on an App in state %s", a.State())
	}
	a.started = true
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	a.mu.Unlock()
	defer cancel()
	defer close(a.done)

	err := a.run(ctx)
	a.runErr = err
	if err != nil {
		a.setState(PendingError)
		a.setState(Error)
		a.logger.Error("stopped with an error", zap.Error(err))
		return err
	}
	a.setState(PendingShutdown)
	a.setState(NotRunning)
	return nil
}

// ErrCloseTimeout is wrapped by Close's (or Shutdown's) error when the App
// did not finish shutting down in time; it goes on shutting down in the
// background.
var ErrCloseTimeout = errors.New("streams: close timed out")

// Close stops the App and returns when every goroutine it started is gone,
// or, at the latest, CloseTimeout plus a few seconds after it was called
// (the shutdown gives up on tasks whose processors do not return within
// CloseTimeout; see Config.CloseTimeout). It is idempotent and returns
// Run's error, if any.
func (a *App) Close() error {
	if a == nil || a.done == nil {
		return errNotNew
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CloseTimeout+closeSlack)
	defer cancel()
	return a.Shutdown(ctx)
}

// closeSlack is how much longer than CloseTimeout Close waits: the
// clients' own close after the tasks' (each bounded).
const closeSlack = 5 * time.Second

// Shutdown stops the App like Close, waiting at most until ctx ends (the
// shutdown itself also ends within about CloseTimeout). If ctx ends first,
// Shutdown returns an error wrapping ErrCloseTimeout and the App goes on
// shutting down in the background; a later Close waits for it again.
func (a *App) Shutdown(ctx context.Context) error {
	if a == nil || a.done == nil {
		return errNotNew
	}
	a.mu.Lock()
	started, cancel := a.started, a.cancel
	if !started {
		a.started = true
		a.mu.Unlock()
		a.setState(PendingShutdown)
		a.setState(NotRunning)
		close(a.done)
		return nil
	}
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	select {
	case <-a.done:
		return a.runErr
	case <-ctx.Done():
		return fmt.Errorf("%w: the App was still shutting down (state %s): %w", ErrCloseTimeout, a.State(), ctx.Err())
	}
}

// failing reports a fatal error as soon as it is known: the App moves to
// PendingError while it still shuts down. It is safe from any goroutine.
func (a *App) failing(err error) {
	if err == nil {
		return
	}
	if a.setState(PendingError) {
		a.logger.Error("fatal error; shutting down", zap.Error(err))
	}
}

// processID returns the instance's persistent id, kept in the state
// directory: under exactly-once it makes the transactional id stable, so a
// restarted instance fences its predecessor and aborts its open
// transaction.
//
// Only a missing file makes a new id. An unreadable or malformed one is an
// error: making a new identity silently would leave the old transactional
// id's open transaction to time out and break fencing of a zombie.
func processID(appDir string) (string, error) {
	path := filepath.Join(appDir, "process-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if _, herr := hex.DecodeString(id); len(id) != 32 || herr != nil {
			return "", fmt.Errorf("streams: %s holds %q, not a process id (32 hex digits); fix or delete it", path, id)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("streams: read process id: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("streams: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("streams: write %s: %w", path, err)
	}
	return id, nil
}
