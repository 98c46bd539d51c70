package task

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// State is a task's lifecycle state.
type State int32

// Task states (Kafka Streams' Task.State).
const (
	// Created: built, stores not open.
	Created State = iota
	// Restoring: stores open, being brought up to their changelogs.
	Restoring
	// Running: processors initialized, processing.
	Running
	// Suspended: processors closed, stores open, input dropped.
	Suspended
	// Closed: stores closed; the task is done.
	Closed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Created:
		return "created"
	case Restoring:
		return "restoring"
	case Running:
		return "running"
	case Suspended:
		return "suspended"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

var legal = map[State][]State{
	Created:   {Restoring, Suspended, Closed},
	Restoring: {Running, Suspended},
	Running:   {Suspended},
	Suspended: {Restoring, Closed},
}

// ErrIllegalTransition is wrapped by errors for a lifecycle call made in the
// wrong state.
var ErrIllegalTransition = errors.New("task: illegal state transition")

// ErrCancelled is wrapped by the error of a record or punctuation that was
// running when the task was cancelled (see Cancel): no handler is asked,
// and the record is not committed as processed.
var ErrCancelled = errors.New("task: cancelled")

// Clock is the task's wall clock.
type Clock interface {
	Now() time.Time
}

// SystemClock reads time.Now.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Config configures a task.
type Config struct {
	ID            processor.TaskID
	ApplicationID string
	Topology      *processor.Topology
	// Collector receives what sinks write. Required.
	Collector processor.RecordCollector
	// Clock drives wall-clock punctuation and idling; nil means SystemClock.
	Clock Clock
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// MaxTaskIdle: see partitiongroup.Config.
	MaxTaskIdle time.Duration
	// DefaultTimestampExtractor for sources without one; nil means
	// record.FailOnInvalidTimestamp().
	DefaultTimestampExtractor record.TimestampExtractor
	// DeserializationHandler; nil means handler.LogAndFail.
	DeserializationHandler handler.DeserializationHandler
	// ProcessingHandler; nil means handler.LogAndFail.
	ProcessingHandler handler.ProcessingHandler
	// DeadLetterQueueTopic is handed to the handlers (handler.ErrorContext):
	// the built-in ones write a dead letter there for each failure. Empty
	// means none. Dead letters go through the Collector (see
	// DeadLetterWriter).
	DeadLetterQueueTopic string
	// StateDir is the task's state directory, passed to stores; persistent
	// stores need it. The caller locks it (see store/statedir).
	StateDir string
	// Cache is the instance's record cache budget for cached stores; nil
	// gives each cached store a private default budget.
	Cache *store.Cache
	// Changelog receives the writes of logged stores; nil disables
	// changelogging.
	Changelog store.ChangelogWriter
	// GlobalStores are read-only views of the instance's global stores.
	GlobalStores map[string]store.StateStore
	// Punctuated, if set, is called on the task's goroutine after each
	// punctuator callback, with its type and how long it ran (two clock
	// readings per punctuation, none otherwise).
	Punctuated func(typ punctuate.Type, took time.Duration)
	// MeterSinks counts what each sink node sends, per topic: records,
	// bytes and end-to-end latency (Metrics.Sinks). It puts a counting
	// collector between the sinks and Collector, a call and some
	// arithmetic per record sent, which is why it is off unless asked for
	// (Kafka Streams' recording level DEBUG, in a runtime).
	MeterSinks bool
}

// Stats counts a task's work. Fields are atomic, so metrics exporters may
// read them from other goroutines. Processed is added to in bulk, off the
// per-record path: whenever Process finds no record to take, at each
// commit, suspension and PublishMetrics; the other counters count at once.
type Stats struct {
	partitiongroup.Stats
	// Processed counts records taken and run through the graph (see
	// above for when).
	Processed atomic.Int64
	// DroppedProcessingError counts records (and punctuations) whose
	// failure the ProcessingHandler answered with Continue.
	DroppedProcessingError atomic.Int64
	// Punctuations counts punctuator callbacks run.
	Punctuations atomic.Int64
	// Commits counts commits.
	Commits atomic.Int64
	// DeadLettered counts the dead letters the task wrote, for any
	// handler (see WriteDeadLetters).
	DeadLettered atomic.Int64

	// byReason counts drops processors report through Context.Dropped.
	byReason sync.Map // string -> *atomic.Int64
}

// Dropped returns the records dropped for any reason.
func (s *Stats) Dropped() int64 {
	n := s.SkippedDeserialization.Load() + s.SkippedInvalidTimestamp.Load() + s.DroppedProcessingError.Load()
	s.byReason.Range(func(_, v any) bool {
		n += v.(*atomic.Int64).Load()
		return true
	})
	return n
}

// DroppedBy returns the drops processors reported under reason.
func (s *Stats) DroppedBy(reason string) int64 {
	if v, ok := s.byReason.Load(reason); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// DroppedReasons returns every reason processors reported, with counts.
func (s *Stats) DroppedReasons() map[string]int64 {
	out := map[string]int64{}
	s.byReason.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// AddDropped adds n drops under reason; runtimes use it to carry the
// counts of closed tasks.
func (s *Stats) AddDropped(reason string, n int64) { s.addDropped(reason, n) }

func (s *Stats) addDropped(reason string, n int64) {
	v, ok := s.byReason.Load(reason)
	if !ok {
		v, _ = s.byReason.LoadOrStore(reason, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
}

// Task runs one sub-topology for one partition number. Only New makes a
// working Task. The zero Task runs nothing and never panics: its lifecycle
// and input methods return an error wrapping ErrIllegalTransition, Close
// returns nil, its accessors return empty values and its clock is the
// system clock.
type Task struct {
	cfg     Config
	id      string
	state   State
	logger  *zap.Logger
	clock   Clock
	graph   *processor.Graph
	group   *partitiongroup.PartitionGroup
	heads   []processor.Head
	streamQ punctuate.Queue
	wallQ   punctuate.Queue
	stats   *Stats

	nowFn          func() int64
	runPunctuation func(*punctuate.Schedule, int64) error
	// runStream and runWall run the punctuations of each queue: through
	// runPunctuation, timed when Config.Punctuated is set.
	runStream, runWall func(*punctuate.Schedule, int64) error
	meters             *meters
	current            partitiongroup.Taken
	inRecord           bool  // current is being processed (see ErrorContext)
	punctuating        bool  // a punctuator runs, at punctuationTime
	punctTime          int64 // the running punctuation's time
	commitNeeded       bool
	commitRequest      bool
	storesOpen         []store.StateStore
}

// New creates a task in state Created: the graph is instantiated (each
// processor from its supplier, each store from its builder) and one queue
// is registered per source topic, partition cfg.ID.Partition.
func New(cfg Config) (*Task, error) {
	if cfg.Topology == nil || cfg.Collector == nil {
		return nil, errors.New("task: Config needs a Topology and a Collector")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ProcessingHandler == nil {
		cfg.ProcessingHandler = handler.LogAndFail{}
	}
	t := &Task{cfg: cfg, id: cfg.ID.String(), clock: cfg.Clock, stats: &Stats{}, meters: &meters{proc: newAcc()}}
	t.logger = cfg.Logger.With(zap.String("task", t.id))
	t.nowFn = t.WallClockTime
	t.runPunctuation = t.punctuate
	t.runStream, t.runWall = t.timedPunctuation(punctuate.StreamTime), t.timedPunctuation(punctuate.WallClock)
	var col *meteredCollector
	sinks := cfg.Collector
	if cfg.MeterSinks {
		col = &meteredCollector{inner: cfg.Collector, meters: t.meters}
		sinks = col
	}
	g, err := cfg.Topology.NewGraph(cfg.ID.Subtopology, processor.GraphConfig{
		TaskID: cfg.ID, ApplicationID: cfg.ApplicationID, Host: (*host)(t), Collector: sinks,
		Logger: cfg.Logger, DefaultExtractor: cfg.DefaultTimestampExtractor, GlobalStores: cfg.GlobalStores,
	})
	if err != nil {
		return nil, err
	}
	t.graph = g
	if col != nil {
		col.graph = g
	}
	t.group = partitiongroup.New(partitiongroup.Config{
		TaskID: t.id, MaxTaskIdle: cfg.MaxTaskIdle, DeserializationHandler: cfg.DeserializationHandler,
		DeadLetterQueueTopic: cfg.DeadLetterQueueTopic, DeadLetters: t.WriteDeadLetters,
		Logger: t.logger, Stats: &t.stats.Stats,
	})
	for _, topic := range cfg.Topology.Subtopologies()[cfg.ID.Subtopology].SourceTopics {
		h, err := g.NewHead(topic)
		if err != nil {
			return nil, err
		}
		if err := t.group.AddPartition(topic, cfg.ID.Partition, h); err != nil {
			return nil, err
		}
		t.heads = append(t.heads, h)
		t.meters.sources = append(t.meters.sources, &sourceMeter{node: h.Node(), topic: topic, partition: cfg.ID.Partition, ts: newAcc()})
	}
	return t, nil
}

// errNotMade is what the zero Task answers lifecycle and input calls with.
var errNotMade = fmt.Errorf("%w: the task was not made by task.New", ErrIllegalTransition)

// made reports whether New made t (the zero Task has no graph).
func (t *Task) made() bool { return t.graph != nil }

// ID returns the task id.
func (t *Task) ID() processor.TaskID { return t.cfg.ID }

// State returns the lifecycle state.
func (t *Task) State() State { return t.state }

// Stats returns the task's counters.
func (t *Task) Stats() *Stats {
	if t.stats == nil { // the zero Task has counted nothing
		return &Stats{}
	}
	return t.stats
}

// Partitions returns the task's input partitions.
func (t *Task) Partitions() []partitiongroup.Partition {
	if t.group == nil {
		return nil
	}
	return t.group.Partitions()
}

// Stores returns the task's stores.
func (t *Task) Stores() []store.StateStore {
	if !t.made() {
		return nil
	}
	return t.graph.Stores()
}

// Store returns one of the task's stores by name.
func (t *Task) Store(name string) (store.StateStore, bool) {
	if !t.made() {
		return nil, false
	}
	return t.graph.Store(name)
}

// PartitionGroup exposes the task's group for runtimes (buffer sizes, lags).
func (t *Task) PartitionGroup() *partitiongroup.PartitionGroup { return t.group }

func (t *Task) transition(to State) error {
	for _, s := range legal[t.state] {
		if s == to {
			t.logger.Debug("task state", zap.Stringer("from", t.state), zap.Stringer("to", to))
			t.state = to
			return nil
		}
	}
	return fmt.Errorf("%w: task %s from %s to %s", ErrIllegalTransition, t.id, t.state, to)
}

// InitializeStores opens the task's stores and moves to Restoring. The
// runtime restores them (from changelogs) before CompleteRestoration.
func (t *Task) InitializeStores() error {
	if !t.made() {
		return errNotMade
	}
	if err := t.transition(Restoring); err != nil {
		return err
	}
	ctx := store.InitContext{TaskID: t.id, ApplicationID: t.cfg.ApplicationID, StateDir: t.cfg.StateDir,
		Logger: t.logger, Cache: t.cfg.Cache, RecordTimestamp: t.graph.RecordTimestamp,
		Changelog: t.cfg.Changelog}
	for _, s := range t.graph.Stores() {
		// Stores may be user code: a panic opening one fails the task.
		if err := callSafely(func() error { return s.Init(ctx) }); err != nil {
			return fmt.Errorf("task %s: open store %q: %w", t.id, s.Name(), err)
		}
		t.storesOpen = append(t.storesOpen, s)
	}
	return nil
}

// CompleteRestoration initializes the processors and moves to Running.
func (t *Task) CompleteRestoration() error {
	if !t.made() {
		return errNotMade
	}
	if t.state != Restoring {
		return fmt.Errorf("%w: task %s from %s to %s", ErrIllegalTransition, t.id, t.state, Running)
	}
	if err := t.graph.InitProcessors(); err != nil {
		t.cancelPunctuators() // of the processors that initialized, now closed
		return fmt.Errorf("task %s: %w", t.id, err)
	}
	if err := t.transition(Running); err != nil {
		return err
	}
	// A stream time restored from committed metadata is the task's stream
	// time already: punctuators due at it fire now, not at the next record
	// (which may be long in coming).
	if st := t.group.StreamTime(); st != record.UnknownTime && t.streamQ.Len() > 0 {
		if _, err := t.streamQ.MayPunctuate(st, t.runStream); err != nil {
			return err
		}
	}
	return nil
}

// Cancel cancels the processors' context and makes their Forward, ForwardTo
// and Schedule fail, without waiting for or running any processor code. It
// is the only method safe from any goroutine: a runtime calls it for a task
// whose processor is stuck inside a call, so that whatever the call does
// when it returns reaches no output. The task must then be closed by its own
// goroutine. It costs an atomic store and a context cancel.
func (t *Task) Cancel() {
	if t.made() {
		t.graph.Cancel()
	}
}

// AddRecords buffers a batch of raw records for one input partition.
func (t *Task) AddRecords(topic string, partition int32, recs []record.ConsumerRecord) error {
	if !t.made() {
		return errNotMade
	}
	if t.state == Closed {
		return fmt.Errorf("task %s: add records: closed", t.id)
	}
	t.meters.addedTo(topic, partition, recs)
	return t.group.AddRecords(topic, partition, recs)
}

// SetLag tells the task how far a partition is behind its end offset
// (0 = caught up, negative = unknown); see partitiongroup.
func (t *Task) SetLag(topic string, partition int32, lag int64) error {
	if !t.made() {
		return errNotMade
	}
	return t.group.SetLag(topic, partition, lag)
}

// SetPartitionTime seeds a partition's time from committed metadata.
func (t *Task) SetPartitionTime(topic string, partition int32, ts int64) error {
	if !t.made() {
		return errNotMade
	}
	return t.group.SetPartitionTime(topic, partition, ts)
}

// StreamTime returns the task's stream time or record.UnknownTime.
func (t *Task) StreamTime() int64 {
	if t.group == nil {
		return record.UnknownTime
	}
	return t.group.StreamTime()
}

// WallClockTime returns the clock's time in milliseconds.
func (t *Task) WallClockTime() int64 {
	if t.clock == nil { // the zero Task
		return time.Now().UnixMilli()
	}
	return t.clock.Now().UnixMilli()
}

// Process processes at most one record: if the partition group is ready it
// takes the next record, runs it through the graph, and fires due
// stream-time punctuators. It reports whether a record was taken.
func (t *Task) Process() (bool, error) {
	if t.state != Running {
		return false, fmt.Errorf("task %s: process in state %s", t.id, t.state)
	}
	ready, err := t.group.Ready(t.nowFn)
	if err != nil || !ready {
		t.flushProcessed()
		return false, err
	}
	streamTime := t.group.StreamTime()
	ok, err := t.group.Take(&t.current)
	if err != nil || !ok {
		t.flushProcessed()
		return false, err
	}
	t.meters.taken(t.current.Queue, t.current.Timestamp, streamTime)
	t.commitNeeded = true
	if err := t.forward(); err != nil {
		return true, err
	}
	if t.streamQ.Len() > 0 {
		if _, err := t.streamQ.MayPunctuate(t.group.StreamTime(), t.runStream); err != nil {
			return true, err
		}
	}
	return true, nil
}

func (t *Task) forward() (err error) {
	t.graph.ResetCurrent()
	t.inRecord = true
	returned := false
	defer func() {
		t.inRecord = false
		if returned { // no panic: spare the recover call
			return
		}
		if p := recover(); p != nil {
			err = t.handle(&handler.ProcessingError{Node: t.graph.CurrentNode(),
				Err: fmt.Errorf("%w: %v", handler.ErrPanic, p), Panic: p, Stack: debug.Stack()}, false)
		}
	}()
	if err := t.heads[t.current.Queue].Forward(); err != nil {
		err = t.handle(&handler.ProcessingError{Node: nodeOf(err, t.graph), Err: unwrapNode(err)}, false)
		returned = true
		return err
	}
	returned = true
	return nil
}

// handle completes a ProcessingError with its location, asks the handler
// and writes the dead letters it answers with, whatever its Result.
func (t *Task) handle(pe *handler.ProcessingError, punctuation bool) error {
	pe.TaskID = t.id
	pe.Punctuation = punctuation
	if punctuation {
		pe.Offset = -1
	} else {
		pe.Topic, pe.Partition, pe.Offset = t.current.Topic, t.current.Partition, t.current.Offset
	}
	if t.graph.Cancelled() {
		// The runtime gave up on this task (or it closed) while the record
		// was running: it is not the record's fault and no handler decides;
		// the record counts as unprocessed.
		return fmt.Errorf("%w: %w", ErrCancelled, pe)
	}
	if errors.Is(pe.Err, handler.ErrFatal) || errors.Is(pe.Err, store.ErrChangelogWrite) {
		// A changelog write that failed cannot be skipped: the store and
		// its changelog would differ from then on.
		return pe
	}
	resp, herr := handler.Processing(t.cfg.ProcessingHandler, t.failureContext(pe.Node, punctuation), pe)
	if herr != nil {
		return fmt.Errorf("task %s: %w", t.id, herr)
	}
	if err := t.WriteDeadLetters(resp.DeadLetters); err != nil {
		return fmt.Errorf("%w (while handling: %w)", err, pe)
	}
	if resp.Result == handler.Continue {
		t.stats.DroppedProcessingError.Add(1)
		t.logger.Warn("processing failed; record dropped as the processing handler says",
			zap.String("node", pe.Node), zap.String("topic", pe.Topic), zap.Int32("partition", pe.Partition),
			zap.Int64("offset", pe.Offset), zap.Bool("punctuation", punctuation),
			zap.Int("dead_letters", len(resp.DeadLetters)), zap.Error(pe.Err))
		return nil
	}
	return pe
}

func nodeOf(err error, g *processor.Graph) string {
	var ne *processor.NodeError
	if errors.As(err, &ne) {
		return ne.Node
	}
	return g.CurrentNode()
}

func unwrapNode(err error) error {
	if ne, ok := err.(*processor.NodeError); ok {
		return ne.Err
	}
	return err
}

// punctuate runs one punctuation callback, routing failures to the handler.
func (t *Task) punctuate(s *punctuate.Schedule, now int64) (err error) {
	t.stats.Punctuations.Add(1)
	t.commitNeeded = true
	node := ""
	wasPunctuating, wasTime := t.punctuating, t.punctTime
	t.punctuating, t.punctTime = true, now
	defer func() {
		if p := recover(); p != nil {
			if n := t.graph.CurrentNode(); n != "" {
				node = n
			}
			err = t.handle(&handler.ProcessingError{Node: node,
				Err: fmt.Errorf("%w: %v", handler.ErrPanic, p), Panic: p, Stack: debug.Stack()}, true)
		}
		t.punctuating, t.punctTime = wasPunctuating, wasTime
	}()
	if err := t.graph.Punctuate(s.Owner, s.Fn, now); err != nil {
		return t.handle(&handler.ProcessingError{Node: nodeOf(err, t.graph), Err: unwrapNode(err)}, true)
	}
	return nil
}

// PunctuateWallClock fires due wall-clock punctuators and reports whether
// any fired.
func (t *Task) PunctuateWallClock() (bool, error) {
	if t.state != Running {
		return false, nil
	}
	return t.wallQ.MayPunctuate(t.WallClockTime(), t.runWall)
}

// NextWallClockPunctuation returns when the next wall-clock punctuator is
// due (milliseconds), and false if none is scheduled.
func (t *Task) NextWallClockPunctuation() (int64, bool) { return t.wallQ.NextTime() }

// CommitNeeded reports whether anything was processed or punctuated since
// the last commit.
func (t *Task) CommitNeeded() bool { return t.commitNeeded }

// CommitRequested reports whether a processor called Context.Commit since
// the last commit.
func (t *Task) CommitRequested() bool { return t.commitRequest }

// Commit flushes the stores and returns, per input partition that consumed
// anything, the next offset to consume and the partition time.
func (t *Task) Commit() ([]partitiongroup.Offset, error) {
	switch t.state {
	case Running, Restoring, Suspended:
	default:
		return nil, fmt.Errorf("task %s: commit in state %s", t.id, t.state)
	}
	for _, s := range t.storesOpen {
		if err := t.flushStore(s); err != nil {
			return nil, err
		}
	}
	t.commitNeeded, t.commitRequest = false, false
	t.stats.Commits.Add(1)
	t.flushProcessed()
	return t.group.Committable(), nil
}

// flushStore flushes one store; a cache flush forwards records downstream,
// so a panic there is user code failing, returned as an error.
func (t *Task) flushStore(s store.StateStore) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("task %s: flush store %q: %w: %v\n%s", t.id, s.Name(), handler.ErrPanic, p, debug.Stack())
		}
	}()
	if err := s.Flush(); err != nil {
		return fmt.Errorf("task %s: flush store %q: %w", t.id, s.Name(), err)
	}
	return nil
}

// Suspend closes the processors (if running) and cancels their punctuators,
// drops buffered records and moves to Suspended. Stores stay open; commit
// before suspending.
func (t *Task) Suspend() error {
	if !t.made() {
		return errNotMade
	}
	wasRunning := t.state == Running
	if err := t.transition(Suspended); err != nil {
		return err
	}
	t.flushProcessed()
	t.group.Clear()
	if wasRunning {
		t.cancelPunctuators()
		if err := t.graph.CloseProcessors(); err != nil {
			return fmt.Errorf("task %s: %w", t.id, err)
		}
	}
	return nil
}

// cancelPunctuators drops every schedule: they belong to processors being
// closed, and a processor initialized again schedules its own anew.
func (t *Task) cancelPunctuators() {
	t.streamQ.CancelAll()
	t.wallQ.CancelAll()
}

// Resume moves a suspended task back to Restoring; CompleteRestoration then
// initializes the processors again.
func (t *Task) Resume() error {
	if !t.made() {
		return errNotMade
	}
	if t.state != Suspended {
		return fmt.Errorf("%w: task %s: resume from %s", ErrIllegalTransition, t.id, t.state)
	}
	return t.transition(Restoring)
}

// Close suspends the task if needed, closes its stores and moves to Closed.
// Closing a closed task does nothing.
func (t *Task) Close() error {
	if t.state == Closed {
		return nil
	}
	if !t.made() { // the zero Task holds nothing to close
		t.state = Closed
		return nil
	}
	var errs []error
	if t.state == Running || t.state == Restoring {
		if err := t.Suspend(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range t.storesOpen {
		if err := callSafely(s.Close); err != nil {
			errs = append(errs, fmt.Errorf("task %s: close store %q: %w", t.id, s.Name(), err))
		}
	}
	t.storesOpen = nil
	if err := t.transition(Closed); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// host is the Task seen by its graph.
type host Task

func (h *host) StreamTime() int64     { return h.group.StreamTime() }
func (h *host) WallClockTime() int64  { return (*Task)(h).WallClockTime() }
func (h *host) RequestCommit()        { h.commitRequest = true }
func (h *host) Dropped(reason string) { h.stats.addDropped(reason, 1) }

func (h *host) Schedule(owner any, interval time.Duration, typ punctuate.Type, fn punctuate.Func) (punctuate.Cancellable, error) {
	var s *punctuate.Schedule
	var err error
	switch typ {
	case punctuate.StreamTime:
		// Aligned to 0: fires at the first record, then on the grid.
		s, err = h.streamQ.Add(0, interval, owner, fn)
	case punctuate.WallClock:
		var ms int64
		if ms, err = punctuate.ValidateInterval(interval); err == nil {
			s, err = h.wallQ.Add(record.SaturatingAdd((*Task)(h).WallClockTime(), ms), interval, owner, fn)
		}
	default:
		err = fmt.Errorf("task: unknown punctuation type %v", typ)
	}
	if err != nil {
		// A nil interface, not a nil *Schedule in one: callers compare
		// the Cancellable with nil.
		return nil, err
	}
	return s, nil
}

// callSafely calls store code (Init, Close), returning a panic as an error
// wrapping handler.ErrPanic.
func callSafely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", handler.ErrPanic, p, debug.Stack())
		}
	}()
	return fn()
}
