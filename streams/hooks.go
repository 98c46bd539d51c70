package streams

import (
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
)

// Hook is a value in Config.Hooks: anything that implements one or more of
// the Hook interfaces below (HookNewApp, HookProcessBatch, HookPunctuate,
// HookCommit, HookRebalance, HookStateChange, HookRestoreStart,
// HookRestoreBatch, HookRestoreEnd, HookRestoreSuspended). New finds which
// once, by type assertion, so each event is a direct call, and calls only
// the hooks that asked for it; a value that implements none is a
// configuration error. This is how integrations (metrics exporters, such
// as metrics/prometheus, progress lines, tracing) stay outside the App.
//
// Hooks are called synchronously, from the goroutine where the event
// happens (a task's, the poll loop's, the restorer's), possibly from
// several at once: they must be safe for concurrent use and must not
// block, or they hold up what called them. Their arguments are values the
// hook may keep. A hook that panics is recovered, logged once, and counted
// in Metrics.HookPanics; it is still called afterwards.
type Hook any

// HookNewApp is called once by New, with the App it made (before Run), so
// a hook can read App.Metrics later.
type HookNewApp interface {
	OnNewApp(app *App)
}

// HookProcessBatch is called by a task's goroutine after each chunk of
// records it processed (at most 256, fewer when a commit or a close asked it
// to stop, or its input ran out): once per chunk, never per record.
type HookProcessBatch interface {
	OnProcessBatch(ProcessBatch)
}

// HookPunctuate is called by a task's goroutine after each punctuator
// callback.
type HookPunctuate interface {
	OnPunctuate(Punctuation)
}

// HookCommit is called by the poll loop after each successful commit of
// the instance's tasks.
type HookCommit interface {
	OnCommit(Commit)
}

// HookRebalance is called by the poll loop after it handled an assignment
// (tasks created, their restoration begun) or a revocation (tasks
// committed and closed).
type HookRebalance interface {
	OnRebalance(Rebalance)
}

// HookStateChange is called on every change of the App's state, from the
// goroutine that changed it, after Config.StateListener.
type HookStateChange interface {
	OnStateChange(from, to State)
}

// HookRestoreStart is called by the restorer when it begins restoring a
// store from one changelog partition (Kafka Streams'
// StateRestoreListener.onRestoreStart). A store with nothing to restore
// (its checkpoint is the changelog's end) is not reported.
type HookRestoreStart interface {
	OnRestoreStart(RestoreStart)
}

// HookRestoreBatch is called by the restorer after each batch of changelog
// records it wrote into a store (onBatchRestored).
type HookRestoreBatch interface {
	OnRestoreBatch(RestoreBatch)
}

// HookRestoreEnd is called by the restorer when a store reached its
// changelog partition's end offset (onRestoreEnd).
type HookRestoreEnd interface {
	OnRestoreEnd(RestoreEnd)
}

// HookRestoreSuspended is called by the restorer when a restoration stops
// before its end: the task was revoked or closed, or the restoration
// failed (onRestoreSuspended).
type HookRestoreSuspended interface {
	OnRestoreSuspended(RestoreSuspended)
}

// StateRestoreListener is Kafka Streams' StateRestoreListener: the three
// restore hooks together. Any one of them alone is a hook too.
type StateRestoreListener interface {
	HookRestoreStart
	HookRestoreBatch
	HookRestoreEnd
}

// ProcessBatch describes a chunk of records a task processed.
type ProcessBatch struct {
	Task processor.TaskID
	// Records processed in the chunk.
	Records int
	// Took is the chunk's wall-clock time, the stream-time punctuations
	// it triggered included.
	Took time.Duration
}

// Punctuation describes one punctuator callback.
type Punctuation struct {
	Task processor.TaskID
	Type punctuate.Type
	Took time.Duration
}

// Commit describes one commit of the instance's tasks.
type Commit struct {
	// Tasks that were in the commit, and the input Partitions whose
	// offsets it committed.
	Tasks, Partitions int
	// Took is from the commit request to the tasks until the offsets (or
	// the transaction) committed.
	Took time.Duration
}

// RebalancePhase says which half of a rebalance a Rebalance reports.
type RebalancePhase int

const (
	// Assigned: partitions were assigned; their tasks were created and
	// their restoration begun (it goes on in the background).
	Assigned RebalancePhase = iota
	// Revoked: partitions were revoked; their tasks were committed and
	// closed.
	Revoked
)

// String returns "assigned" or "revoked".
func (p RebalancePhase) String() string {
	if p == Revoked {
		return "revoked"
	}
	return "assigned"
}

// Rebalance describes how the poll loop handled one rebalance callback
// (Kafka Streams' tasks-assigned and tasks-revoked latencies).
type Rebalance struct {
	Phase RebalancePhase
	// Partitions assigned or revoked, and Tasks created or closed.
	Partitions, Tasks int
	Took              time.Duration
}

// RestoreStart describes a store's restoration from one changelog
// partition as it begins: it reads from StartOffset up to EndOffset
// (exclusive).
type RestoreStart struct {
	Task                   processor.TaskID
	Store                  string
	Topic                  string
	Partition              int32
	StartOffset, EndOffset int64
}

// RestoreBatch describes a batch of changelog records written into a
// store: Records of them, the last at BatchEndOffset.
type RestoreBatch struct {
	Task           processor.TaskID
	Store          string
	Topic          string
	Partition      int32
	BatchEndOffset int64
	Records        int
}

// RestoreEnd describes a store restored to its changelog partition's end:
// Restored records in Took.
type RestoreEnd struct {
	Task      processor.TaskID
	Store     string
	Topic     string
	Partition int32
	Restored  int64
	Took      time.Duration
}

// RestoreSuspended describes a restoration that stopped before its end,
// after Restored records.
type RestoreSuspended struct {
	Task      processor.TaskID
	Store     string
	Topic     string
	Partition int32
	Restored  int64
}

// hooks are Config.Hooks sorted by interface, found once by New.
type hooks struct {
	logger           *zap.Logger
	newApp           []hookOf[HookNewApp]
	processBatch     []hookOf[HookProcessBatch]
	punctuate        []hookOf[HookPunctuate]
	commit           []hookOf[HookCommit]
	rebalance        []hookOf[HookRebalance]
	stateChange      []hookOf[HookStateChange]
	restoreStart     []hookOf[HookRestoreStart]
	restoreBatch     []hookOf[HookRestoreBatch]
	restoreEnd       []hookOf[HookRestoreEnd]
	restoreSuspended []hookOf[HookRestoreSuspended]
	panics           atomic.Int64
}

// hookOf is one hook and whether its panic was logged.
type hookOf[H any] struct {
	h      H
	index  int
	logged *atomic.Bool
}

// findHooks sorts hs by the interfaces they implement, and returns every
// value that implements none (or is nil) as a problem.
func findHooks(hs []Hook) (*hooks, []error) {
	out := &hooks{logger: zap.NewNop()}
	var errs []error
	for i, h := range hs {
		logged := new(atomic.Bool)
		found := false
		for _, ok := range []bool{
			collect(&out.newApp, h, i, logged), collect(&out.processBatch, h, i, logged),
			collect(&out.punctuate, h, i, logged), collect(&out.commit, h, i, logged),
			collect(&out.rebalance, h, i, logged), collect(&out.stateChange, h, i, logged),
			collect(&out.restoreStart, h, i, logged), collect(&out.restoreBatch, h, i, logged),
			collect(&out.restoreEnd, h, i, logged), collect(&out.restoreSuspended, h, i, logged),
		} {
			found = found || ok
		}
		switch {
		case h == nil:
			errs = append(errs, fmt.Errorf("Hooks[%d] is nil", i))
		case !found:
			errs = append(errs, fmt.Errorf("Hooks[%d] (%T) implements none of the hook interfaces (HookProcessBatch, HookCommit, HookRestoreStart, ...; see streams.Hook)", i, h))
		}
	}
	return out, errs
}

// collect appends h to dst when it implements H, and reports whether it
// does.
func collect[H any](dst *[]hookOf[H], h Hook, index int, logged *atomic.Bool) bool {
	x, ok := h.(H)
	if ok {
		*dst = append(*dst, hookOf[H]{x, index, logged})
	}
	return ok
}

// call runs one hook, recovering a panic: the first of each hook is
// logged, every one counted.
func call[H any](hs *hooks, k hookOf[H], event string, fn func(H)) {
	defer func() {
		if p := recover(); p != nil {
			hs.panics.Add(1)
			if k.logged.CompareAndSwap(false, true) {
				hs.logger.Error("hook panicked; recovered (later panics of this hook are counted, not logged)",
					zap.Int("hook", k.index), zap.String("type", fmt.Sprintf("%T", k.h)), zap.String("event", event),
					zap.Any("panic", p), zap.Stack("stack"))
			}
		}
	}()
	fn(k.h)
}

func (hs *hooks) onNewApp(a *App) {
	for _, k := range hs.newApp {
		call(hs, k, "OnNewApp", func(h HookNewApp) { h.OnNewApp(a) })
	}
}

func (hs *hooks) onProcessBatch(e ProcessBatch) {
	for _, k := range hs.processBatch {
		call(hs, k, "OnProcessBatch", func(h HookProcessBatch) { h.OnProcessBatch(e) })
	}
}

func (hs *hooks) onPunctuate(e Punctuation) {
	for _, k := range hs.punctuate {
		call(hs, k, "OnPunctuate", func(h HookPunctuate) { h.OnPunctuate(e) })
	}
}

func (hs *hooks) onCommit(e Commit) {
	for _, k := range hs.commit {
		call(hs, k, "OnCommit", func(h HookCommit) { h.OnCommit(e) })
	}
}

func (hs *hooks) onRebalance(e Rebalance) {
	for _, k := range hs.rebalance {
		call(hs, k, "OnRebalance", func(h HookRebalance) { h.OnRebalance(e) })
	}
}

func (hs *hooks) onStateChange(from, to State) {
	for _, k := range hs.stateChange {
		call(hs, k, "OnStateChange", func(h HookStateChange) { h.OnStateChange(from, to) })
	}
}

func (hs *hooks) onRestoreStart(e RestoreStart) {
	for _, k := range hs.restoreStart {
		call(hs, k, "OnRestoreStart", func(h HookRestoreStart) { h.OnRestoreStart(e) })
	}
}

func (hs *hooks) onRestoreBatch(e RestoreBatch) {
	for _, k := range hs.restoreBatch {
		call(hs, k, "OnRestoreBatch", func(h HookRestoreBatch) { h.OnRestoreBatch(e) })
	}
}

func (hs *hooks) onRestoreEnd(e RestoreEnd) {
	for _, k := range hs.restoreEnd {
		call(hs, k, "OnRestoreEnd", func(h HookRestoreEnd) { h.OnRestoreEnd(e) })
	}
}

func (hs *hooks) onRestoreSuspended(e RestoreSuspended) {
	for _, k := range hs.restoreSuspended {
		call(hs, k, "OnRestoreSuspended", func(h HookRestoreSuspended) { h.OnRestoreSuspended(e) })
	}
}
