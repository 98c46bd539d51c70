package testdriver

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/task"
)

// Config configures a Driver. The zero value is usable.
type Config struct {
	// ApplicationID; default "test-driver".
	ApplicationID string
	// StartTime of the virtual wall clock; default the Unix epoch.
	StartTime time.Time
	// DefaultTimestampExtractor; nil means record.FailOnInvalidTimestamp().
	DefaultTimestampExtractor record.TimestampExtractor
	// DeserializationHandler; nil means handler.LogAndFail.
	DeserializationHandler handler.DeserializationHandler
	// ProcessingHandler; nil means handler.LogAndFail.
	ProcessingHandler handler.ProcessingHandler
	// DeadLetterQueueTopic, as streams.Config's: the built-in handlers
	// write a dead letter there for each record they fail or skip. Dead
	// letters (of any handler, to any topic) are read like sink outputs,
	// with CreateOutputTopic.
	DeadLetterQueueTopic string
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// StateDir holds persistent (RocksDB) stores under
	// <StateDir>/<ApplicationID>/<task-id>/; empty means a temporary
	// directory removed by Close.
	StateDir string
	// CacheMaxBytes is the record cache budget of cached stores; 0 means
	// store.DefaultCacheBytes. The driver commits after every piped record,
	// so caches hold at most one record's updates between flushes.
	CacheMaxBytes int64
}

// ErrNoRecord is returned when reading from an empty output topic.
var ErrNoRecord = errors.New("testdriver: no record in output topic")

// ErrClosed is returned by a closed Driver, and by the zero Driver (one New
// did not make), which behaves as a closed one.
var ErrClosed = errors.New("testdriver: closed")

// Driver runs a topology in memory. Make one with New; the zero Driver is
// closed (see ErrClosed) and holds nothing.
type Driver struct {
	cfg      Config
	clock    *VirtualClock
	tasks    []*task.Task
	byTopic  map[string]*task.Task
	outputs  map[string][]produced
	offsets  map[string]int64
	feedback []record.ConsumerRecord
	batching bool
	closed   bool
	dirs     []*statedir.TaskDir
	tempDir  string
	// global stores: their topics feed them directly.
	globals       map[string][]globalStore
	globalViews   map[string]store.StateStore
	globalAll     []store.StateStore
	globalSkipped map[string]int64 // by processor.GlobalSkip* reason
}

type globalStore struct {
	spec processor.GlobalStore
	s    store.StateStore
}

type produced struct {
	key, value []byte
	headers    record.Headers
	timestamp  int64
	partition  int32
}

// VirtualClock is the driver's wall clock.
type VirtualClock struct{ now time.Time }

// The virtual clock's range: the times whose Unix milliseconds fit in an
// int64. Past them UnixMilli wraps around, and the tasks would read a wall
// clock far in the past.
var (
	minClock = time.UnixMilli(math.MinInt64)
	maxClock = time.UnixMilli(math.MaxInt64)
)

// clampClock keeps t within the virtual clock's range.
func clampClock(t time.Time) time.Time {
	switch {
	case t.Before(minClock):
		return minClock
	case t.After(maxClock):
		return maxClock
	}
	return t
}

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time { return c.now }

// New starts a driver: it creates one task per sub-topology, opens their
// stores and initializes their processors.
func New(t *processor.Topology, cfg Config) (*Driver, error) {
	if t == nil {
		return nil, errors.New("testdriver: nil topology")
	}
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "test-driver"
	}
	if cfg.StartTime.IsZero() {
		cfg.StartTime = time.UnixMilli(0)
	}
	cfg.StartTime = clampClock(cfg.StartTime)
	// Internal topics (repartition topics) take the application id; what
	// a sink writes to one is fed back to the source that reads it.
	t = t.ForApplication(cfg.ApplicationID)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	d := &Driver{cfg: cfg, clock: &VirtualClock{now: cfg.StartTime}, byTopic: map[string]*task.Task{},
		outputs: map[string][]produced{}, offsets: map[string]int64{}}
	root := cfg.StateDir
	if root == "" {
		tmp, err := os.MkdirTemp("", "millrace-testdriver-")
		if err != nil {
			return nil, fmt.Errorf("testdriver: state directory: %w", err)
		}
		root, d.tempDir = tmp, tmp
	}
	dir, err := statedir.Open(root, cfg.ApplicationID, cfg.Logger)
	if err != nil {
		d.Close()
		return nil, err
	}
	cacheBytes := cfg.CacheMaxBytes
	if cacheBytes <= 0 {
		cacheBytes = store.DefaultCacheBytes
	}
	cache := store.NewCache(cacheBytes)
	if err := d.openGlobals(t, filepath.Join(root, cfg.ApplicationID, "global"), cache); err != nil {
		d.Close()
		return nil, err
	}
	for _, st := range t.Subtopologies() {
		id := processor.TaskID{Subtopology: st.ID}
		td, err := dir.LockTask(id.String())
		if err != nil {
			d.Close()
			return nil, err
		}
		d.dirs = append(d.dirs, td)
		tk, err := task.New(task.Config{
			ID: id, ApplicationID: cfg.ApplicationID, Topology: t,
			Collector: (*collector)(d), Clock: d.clock, Logger: cfg.Logger,
			DefaultTimestampExtractor: cfg.DefaultTimestampExtractor,
			DeserializationHandler:    cfg.DeserializationHandler,
			ProcessingHandler:         cfg.ProcessingHandler,
			DeadLetterQueueTopic:      cfg.DeadLetterQueueTopic,
			StateDir:                  td.Path(),
			Cache:                     cache,
			GlobalStores:              d.globalViews,
		})
		if err != nil {
			d.Close()
			return nil, err
		}
		d.tasks = append(d.tasks, tk)
		for _, topic := range st.SourceTopics {
			d.byTopic[topic] = tk
			if err := tk.SetLag(topic, 0, 0); err != nil {
				d.Close()
				return nil, err
			}
		}
		if err := tk.InitializeStores(); err != nil {
			d.Close()
			return nil, err
		}
		if err := tk.CompleteRestoration(); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close closes every task (processors, then stores). It is idempotent.
func (d *Driver) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, t := range d.tasks {
		if t.State() == task.Running {
			if _, err := t.Commit(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := t.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range d.globalAll {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, td := range d.dirs {
		if err := td.Unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.tempDir != "" {
		if err := os.RemoveAll(d.tempDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// usable returns ErrClosed for a closed or zero Driver.
func (d *Driver) usable() error {
	if d.closed || d.clock == nil {
		return ErrClosed
	}
	return nil
}

// WallClockTime returns the virtual wall-clock time (the Unix epoch for the
// zero Driver, the default start).
func (d *Driver) WallClockTime() time.Time {
	if d.clock == nil {
		return time.UnixMilli(0)
	}
	return d.clock.now
}

// AdvanceWallClock moves the virtual clock forward, fires due wall-clock
// punctuators, processes what they fed back, and commits. The clock stops at
// math.MaxInt64 Unix milliseconds, the last wall-clock time a task can read.
func (d *Driver) AdvanceWallClock(by time.Duration) error {
	if err := d.usable(); err != nil {
		return err
	}
	if by < 0 {
		return fmt.Errorf("testdriver: cannot move the wall clock back by %v", by)
	}
	d.clock.now = clampClock(d.clock.now.Add(by))
	for _, t := range d.tasks {
		if _, err := t.PunctuateWallClock(); err != nil {
			return err
		}
	}
	return d.run()
}

// Batch calls fn and processes the records it pipes only when it returns, so
// the PartitionGroup orders them by timestamp across topics. A nil fn is an
// error; a panic in fn is returned as an error wrapping handler.ErrPanic,
// and what fn piped before it is processed.
func (d *Driver) Batch(fn func() error) error {
	if fn == nil {
		return errors.New("testdriver: Batch of a nil function")
	}
	if d.batching {
		return errors.New("testdriver: nested Batch")
	}
	d.batching = true
	err := d.callBatch(fn)
	d.batching = false
	if err != nil {
		return err
	}
	return d.run()
}

func (d *Driver) callBatch(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("testdriver: Batch: %w: %v\n%s", handler.ErrPanic, p, debug.Stack())
		}
	}()
	return fn()
}

// openGlobals builds the topology's global stores; records piped to their
// topics update them at once, before anything else is processed.
func (d *Driver) openGlobals(t *processor.Topology, dir string, cache *store.Cache) error {
	d.globals, d.globalViews, d.globalSkipped = map[string][]globalStore{}, map[string]store.StateStore{}, map[string]int64{}
	for _, spec := range t.GlobalStores() {
		s, err := spec.Builder.Build()
		if err != nil {
			return fmt.Errorf("testdriver: global store %q: %w", spec.Name, err)
		}
		if err := s.Init(store.InitContext{TaskID: "global", ApplicationID: d.cfg.ApplicationID, StateDir: dir,
			Logger: d.cfg.Logger, Cache: cache}); err != nil {
			return fmt.Errorf("testdriver: global store %q: %w", spec.Name, err)
		}
		d.globalAll = append(d.globalAll, s)
		d.globals[spec.Topic] = append(d.globals[spec.Topic], globalStore{spec: spec, s: s})
		d.globalViews[spec.Name] = spec.View(s)
	}
	return nil
}

// pipe appends one raw record to its topic's task and, unless batching,
// processes.
func (d *Driver) pipe(topic string, key, value []byte, ts int64, headers record.Headers) error {
	if err := d.usable(); err != nil {
		return err
	}
	rec := record.ConsumerRecord{Topic: topic, Partition: 0, Timestamp: ts,
		TimestampType: record.TimestampCreateTime, Key: key, Value: value, Headers: headers}
	if _, ok := d.globals[topic]; ok {
		return d.applyGlobal(rec)
	}
	t, ok := d.byTopic[topic]
	if !ok {
		return fmt.Errorf("testdriver: no source reads topic %q", topic)
	}
	rec.Offset = d.nextOffset(topic)
	if err := t.AddRecords(topic, 0, []record.ConsumerRecord{rec}); err != nil {
		return err
	}
	if d.batching {
		return nil
	}
	return d.run()
}

// nextOffset returns the offset of topic's next record.
func (d *Driver) nextOffset(topic string) int64 {
	off := d.offsets[topic]
	d.offsets[topic] = off + 1
	return off
}

// applyGlobal writes a record of a global store's topic into its stores, as
// the runtime's global goroutine does: records a store cannot take are
// logged and counted (SkippedGlobalRecords), not applied.
func (d *Driver) applyGlobal(raw record.ConsumerRecord) error {
	raw.Offset = d.nextOffset(raw.Topic)
	for _, g := range d.globals[raw.Topic] {
		skip, err := updateGlobal(g, &raw)
		if skip != "" {
			d.cfg.Logger.Warn("global store: skipping record", zap.String("store", g.spec.Name), zap.String("reason", skip),
				zap.Stringer("record", raw.Metadata()), zap.Error(err))
			d.globalSkipped[skip]++
			continue
		}
		if err != nil {
			return fmt.Errorf("testdriver: global store %q: %w", g.spec.Name, err)
		}
		if err := g.s.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// updateGlobal applies raw to one global store; the store's deserializers
// are user code, so a panic in them is an error, as in a task.
func updateGlobal(g globalStore, raw *record.ConsumerRecord) (skip string, err error) {
	defer func() {
		if p := recover(); p != nil {
			skip, err = "", fmt.Errorf("%s: %w: %v\n%s", raw.Metadata(), handler.ErrPanic, p, debug.Stack())
		}
	}()
	return g.spec.Update(g.s, raw)
}

// SkippedGlobalRecords returns how many global-topic records were skipped,
// by reason (processor.GlobalSkipNullKey, GlobalSkipDeserialization).
func (d *Driver) SkippedGlobalRecords() map[string]int64 { return maps.Clone(d.globalSkipped) }

// PipeRaw pipes a record as raw bytes (nil = null), for inputs no serializer
// would produce: corrupt bytes, negative timestamps.
func (d *Driver) PipeRaw(topic string, key, value []byte, ts int64, headers ...record.Header) error {
	return d.pipe(topic, key, value, ts, record.Headers(headers))
}

// run processes until no task can make progress, then commits; records fed
// back to input topics are appended and processed the same way.
func (d *Driver) run() error {
	for {
		for _, t := range d.tasks {
			for {
				ok, err := t.Process()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
			}
			if t.CommitNeeded() || t.CommitRequested() {
				if _, err := t.Commit(); err != nil {
					return err
				}
			}
		}
		if len(d.feedback) == 0 {
			return nil
		}
		fb := d.feedback
		d.feedback = nil
		for _, r := range fb {
			if _, ok := d.globals[r.Topic]; ok {
				if err := d.applyGlobal(r); err != nil {
					return err
				}
				continue
			}
			r.Offset = d.nextOffset(r.Topic)
			if err := d.byTopic[r.Topic].AddRecords(r.Topic, 0, []record.ConsumerRecord{r}); err != nil {
				return err
			}
		}
	}
}

// Stats returns the counters of the task of sub-topology id.
func (d *Driver) Stats(subtopology int) (*task.Stats, error) {
	if subtopology < 0 || subtopology >= len(d.tasks) {
		return nil, fmt.Errorf("testdriver: no sub-topology %d", subtopology)
	}
	return d.tasks[subtopology].Stats(), nil
}

// ProducedTopics returns the topics sinks have written to, in no order.
func (d *Driver) ProducedTopics() []string {
	var out []string
	for t := range d.outputs {
		out = append(out, t)
	}
	return out
}

// Store returns the named store from whichever task holds it, or the
// read-only view of the named global store. A nil Driver has no stores.
func (d *Driver) Store(name string) (store.StateStore, error) {
	if d == nil {
		return nil, fmt.Errorf("testdriver: no store %q: nil driver", name)
	}
	for _, t := range d.tasks {
		if s, ok := t.Store(name); ok {
			return s, nil
		}
	}
	if s, ok := d.globalViews[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("testdriver: no store %q", name)
}

// KeyValueStore returns the named key-value store, typed, for assertions.
func KeyValueStore[K, V any](d *Driver, name string) (store.KeyValueStore[K, V], error) {
	return processor.KeyValueStore[K, V](d, name)
}

// collector is the driver as its tasks' RecordCollector.
type collector Driver

func (c *collector) Send(topic string, partition int32, key, value []byte, headers record.Headers, ts int64) error {
	p := produced{key: cloneNullable(key), value: cloneNullable(value), headers: headers.Clone(), timestamp: ts, partition: partition}
	c.outputs[topic] = append(c.outputs[topic], p)
	_, source := c.byTopic[topic]
	if _, global := c.globals[topic]; source || global {
		c.feedback = append(c.feedback, record.ConsumerRecord{Topic: topic, Timestamp: ts,
			TimestampType: record.TimestampCreateTime, Key: p.key, Value: p.value, Headers: p.headers})
	}
	return nil
}

func (c *collector) PartitionCount(string) (int32, error) { return 1, nil }

func cloneNullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// WindowStore returns the named window store, typed, for assertions.
func WindowStore[K, V any](d *Driver, name string) (store.WindowStore[K, V], error) {
	return processor.WindowStore[K, V](d, name)
}

// SessionStore returns the named session store, typed, for assertions.
func SessionStore[K, V any](d *Driver, name string) (store.SessionStore[K, V], error) {
	return processor.SessionStore[K, V](d, name)
}
