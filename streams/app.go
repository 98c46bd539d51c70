package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/task"
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

	iqMu sync.Mutex
	iq   map[processor.TaskID]*task.Task
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
	m, err := newMetrics(cfg.ApplicationID, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
	}
	a := &App{topo: topo, cfg: cfg, logger: cfg.Logger.With(zap.String("application_id", cfg.ApplicationID)), m: m,
		done: make(chan struct{})}
	a.cfg.Logger = a.logger
	return a, nil
}

// State returns the current state.
func (a *App) State() State { return State(a.state.Load()) }

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
		if a.cfg.StateListener != nil {
			a.cfg.StateListener(from, to)
		}
	}
	return true
}

// Run starts the App and blocks until ctx is cancelled, Close is called, or
// a fatal error stops it; it returns nil after a clean shutdown and the
// error otherwise. Run may be called once.
func (a *App) Run(ctx context.Context) error {
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
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Stopped (Close, or the caller's context) while starting: that is
		// a shutdown, not a failure.
		err = nil
	}
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

// Close stops the App and returns when every goroutine it started is gone.
// It is idempotent and returns Run's error, if any.
func (a *App) Close() error {
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
	<-a.done
	return a.runErr
}

// processID returns the instance's persistent id, kept in the state
// directory: under exactly-once it makes the transactional id stable, so a
// restarted instance fences its predecessor and aborts its open
// transaction.
func processID(appDir string) (string, error) {
	path := filepath.Join(appDir, "process-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 32 {
			return id, nil
		}
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
