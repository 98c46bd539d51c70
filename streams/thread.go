package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/statedir"
)

// errCrashed ends a run stopped hard by a test.
var errCrashed = errors.New("streams: stopped hard (test crash)")

// thread is one Run (Kafka Streams' StreamThread): the goroutine that owns
// the group consumer, polls it, hands records to the tasks through the
// fetcher, runs commits and rebalances, and shuts everything down. Tasks
// process on their own goroutines; everything here is touched by the
// thread's goroutine only (the rebalance callback runs inside Poll, on it),
// except closing.
type thread struct {
	a      *App
	cfg    *Config
	logger *zap.Logger
	ctx    context.Context
	eos    bool

	clients *clients
	dir     *statedir.Dir
	appLock *statedir.AppLock
	// storeMem is the RocksDB budget of the stores (Config.StoreMemoryBytes).
	storeMem *storeMemory
	cons     *kafka.Consumer
	// reader batch-reads the assigned partitions (nil: the wrapper's
	// layout was not recognised, and Poll delivers them one by one).
	reader *rdkbatch.Reader
	batch  []rdkbatch.Message
	// consFatal: the consumer raised a fatal error (it cannot be closed).
	consFatal bool
	prod      *producer
	rest      *restorer
	purge     *purger
	globals   *globals
	tasks     *taskManager
	fetch     *fetcher
	watch     *sourceWatch
	// standbys are the standby tasks (standby.go); nil without them.
	standbys *standbyManager
	// standbySource says which standbys this instance keeps
	// (standbyplace.go); nil without standbys.
	standbySource standbySource

	failures chan taskFailure
	late     []*commitRound // rounds some tasks have not answered yet
	// stuckRunners were past TaskTimeout: the shutdown gives up on them
	// without waiting again.
	stuckRunners map[*runner]bool
	assignment   []kafka.TopicPartition
	// held are the tasks the last closing commit holds (incremental.go).
	held  []*runner
	fatal error
	// closing: the consumer is being closed; a rebalance callback (which
	// may then run on the goroutine closing it) only unassigns.
	closing    atomic.Bool
	joined     bool // an assignment (maybe empty) arrived since the last revoke
	lastCommit time.Time
	lastClean  time.Time
}

func (a *App) run(ctx context.Context) (err error) {
	a.setState(Rebalancing)
	th := &thread{a: a, cfg: &a.cfg, logger: a.logger, ctx: ctx, eos: a.cfg.ProcessingGuarantee == ExactlyOnceV2,
		failures: make(chan taskFailure, 64)}
	th.clients = newClients(th.cfg)
	defer th.shutdown(&err)
	if err := th.start(); err != nil {
		return err
	}
	return th.loop()
}

// start prepares the cluster and the local state and joins the group.
func (th *thread) start() error {
	cfg := th.cfg
	startCtx, cancel := context.WithTimeout(th.ctx, cfg.StartupTimeout)
	defer cancel()
	p, err := preparePlan(startCtx, th.clients, cfg, th.a.topo)
	if err != nil {
		return err
	}
	if th.dir, err = statedir.Open(cfg.StateDir, cfg.ApplicationID, th.logger); err != nil {
		return err
	}
	lock, err := th.dir.LockApp()
	if err != nil {
		return err
	}
	th.appLock = lock
	if th.storeMem, err = openStoreMemory(cfg, th.dir.Path()); err != nil {
		return err
	}
	th.a.m.storeMem.Store(th.storeMem)
	pid, err := processID(th.dir.Path())
	if err != nil {
		return err
	}
	tracked := map[string]bool{}
	for _, c := range p.changelogs {
		tracked[c.topic] = true
	}
	if th.prod, err = newProducer(th.clients, pid, tracked, th.a.m, th.a.failing); err != nil {
		return err
	}
	if th.eos {
		if err := th.prod.initTransactions(startCtx); err != nil {
			return err
		}
	}
	if th.rest, err = newRestorer(th.clients, th.a.m); err != nil {
		return err
	}
	if th.purge, err = newPurger(th.clients, th.a.topo, th.a.m); err != nil {
		return err
	}
	if th.globals, err = startGlobals(th.ctx, th.clients, th.a.topo, th.dir.Path(), th.a.m); err != nil {
		return err
	}
	th.tasks = &taskManager{a: th.a, cfg: cfg, logger: th.logger, plan: p, dir: th.dir, cache: store.NewCache(cfg.CacheMaxBytes),
		rest: th.rest, globals: th.globals.views, failures: th.failures, eos: th.eos, prod: th.prod,
		runners: map[processor.TaskID]*runner{}}
	th.clients.processID = pid
	if th.cons, err = th.clients.consumer(mainConsumer); err != nil {
		return err
	}
	if err := th.startStandbys(); err != nil { // standby.go
		return err
	}
	th.startReader()
	th.fetch = &fetcher{cons: th.cons, logger: th.logger, metrics: th.a.m, bound: int64(cfg.BufferedRecordsPerPartition),
		maxBytes: cfg.InputBufferMaxBytes, inputs: map[topicPartition]*input{}, waker: newFetchWaker(th.cons)}
	watched := slices.Clone(th.a.topo.SourceTopics())
	for _, g := range th.a.topo.GlobalStores() {
		watched = append(watched, g.Topic)
	}
	th.watch = &sourceWatch{cons: th.cons, topics: watched, logger: th.logger, last: time.Now()}
	if err := th.startQueries(startCtx, p); err != nil {
		return err
	}
	if err := th.cons.SubscribeTopics(th.a.topo.SourceTopics(), th.rebalance); err != nil {
		return fmt.Errorf("streams: subscribe: %w", err)
	}
	th.warnIncrementalEOS()
	th.lastCommit, th.lastClean = time.Now(), time.Now()
	return nil
}

func (th *thread) loop() error {
	for {
		if th.fatal != nil {
			return th.fatal
		}
		if th.a.crash.Load() {
			return errCrashed
		}
		if th.ctx.Err() != nil {
			return nil
		}
		if err := th.checkFailures(); err != nil {
			return err
		}
		ev := th.read()
		for n := 0; ev != nil && n < 4096; n++ {
			th.handle(ev)
			if th.fatal != nil {
				return th.fatal
			}
			ev = th.cons.Poll(0)
		}
		if ev != nil {
			th.handle(ev)
		}
		th.fetch.dispatch()
		th.fetch.updateLags(th.assignment)
		th.fetch.pauseResume()
		th.maybeCleanState()
		th.maybeReconcileStandbys() // standby.go
		if err := th.watch.check(); err != nil {
			return err
		}
		if err := th.collectLate(false); err != nil {
			return err
		}
		if th.commitDue() {
			err := th.commitAll(false, time.Now().Add(th.cfg.TaskTimeout+th.prod.ackTimeout()))
			if errors.Is(err, errInterrupted) {
				return nil // the shutdown commits
			}
			if err != nil {
				return err
			}
			th.standbys.checkpointTick() // standby.go
		}
		th.updateState()
	}
}

// checkFailures takes what the tasks, the producer, the global stores and
// the restorer reported since the last pass.
func (th *thread) checkFailures() error {
	select {
	case f := <-th.failures:
		if !th.eos || !isTxnFailure(f.err) {
			return fmt.Errorf("streams: task %s failed: %w", f.id, f.err)
		}
		return th.recoverTxn(f.err)
	default:
	}
	if err := th.prod.err(); err != nil {
		return err
	}
	if err := th.globals.err(); err != nil {
		return err
	}
	for _, res := range th.rest.take() {
		if res.standby { // standby.go
			th.standbys.result(res)
			continue
		}
		nr, err := th.tasks.restored(res)
		if err != nil {
			return err
		}
		if nr != nil {
			th.fetch.rebind(nr)
		}
	}
	return nil
}

// readBatch is how many records one Read hands over at most. Each Read
// has its own arena, which a processor keeping one value of it keeps
// whole: 1024 records of 100 bytes make about 150 KB, where 4096 (what one
// pass of the loop took from Poll at most) would make four times that.
const readBatch = 1024

// startReader sets up batch reading of the main consumer. A consumer the
// Reader does not recognise (another confluent-kafka-go layout) is polled
// one message at a time, as before: slower, not wrong.
func (th *thread) startReader() {
	r, err := rdkbatch.New(th.cons, rdkbatch.Config{Retain: true, Headers: true})
	if err != nil {
		th.logger.Warn("batch reading unavailable; polling records one by one", zap.Error(err))
		return
	}
	th.reader, th.batch = r, make([]rdkbatch.Message, readBatch)
}

// read hands the records the Reader has (waiting up to 20 ms for the
// first) to the fetcher, and returns the first event of the consumer
// queue (rebalances, errors; nil if none), which the loop drains with
// Poll(0). Without a Reader it is Poll(20).
func (th *thread) read() kafka.Event {
	if th.reader == nil {
		return th.cons.Poll(20)
	}
	n, err := th.reader.Read(20*time.Millisecond, th.batch)
	if err != nil {
		// Only a closed consumer or a librdkafka failure of the batch
		// call as a whole: report it and serve the consumer queue, whose
		// events say more.
		th.logger.Warn("batch read", zap.Error(err))
		return th.cons.Poll(20)
	}
	for i := range th.batch[:n] {
		m := &th.batch[i]
		if m.Err != nil {
			if ke, ok := m.Err.(kafka.Error); ok {
				th.handle(ke)
			} else {
				th.logger.Warn("consumer", zap.Error(m.Err))
			}
			continue
		}
		th.fetch.batched(m)
	}
	clear(th.batch[:n]) // the arenas belong to the tasks now
	return th.cons.Poll(0)
}

func (th *thread) handle(ev kafka.Event) {
	switch e := ev.(type) {
	case *kafka.Message:
		th.fetch.message(e)
	case kafka.Error:
		if e.IsFatal() {
			th.consFatal = true
			th.fatal = fmt.Errorf("streams: consumer: fatal: %w", e)
			if e.Code() == kafka.ErrUnreleasedInstanceID {
				th.fatal = fmt.Errorf("streams: consumer: fatal: instance id %q is still held by this instance's previous "+
					"member, until the broker's session timeout (group.consumer.session.timeout.ms, 45 s by default) "+
					"expires it; start again after that: %w", th.cfg.InstanceID, e)
			}
			return
		}
		if code := e.Code(); code == kafka.ErrUnknownTopicOrPart || code == kafka.ErrUnknownTopic {
			th.watch.suspect()
		}
		th.logger.Warn("consumer", zap.Error(e))
	}
}

// maybeCleanState deletes the state directories of tasks this instance no
// longer runs, once they are older than StateCleanupDelay.
func (th *thread) maybeCleanState() {
	every := min(th.cfg.StateCleanupDelay, time.Minute)
	if time.Since(th.lastClean) < every {
		return
	}
	th.lastClean = time.Now()
	assigned := make(map[string]bool, len(th.tasks.runners))
	for id := range th.tasks.runners {
		assigned[id.String()] = true
	}
	th.standbys.addAssigned(assigned) // standby.go: standbys are kept
	removed, err := th.dir.CleanRemovedTasks(assigned, th.cfg.StateCleanupDelay, time.Now())
	if err != nil {
		th.logger.Warn("cleaning state of unassigned tasks", zap.Error(err))
	}
	if len(removed) > 0 {
		th.logger.Info("removed state of tasks no longer assigned", zap.Strings("tasks", removed))
	}
}

func (th *thread) commitDue() bool {
	if time.Since(th.lastCommit) >= th.cfg.CommitInterval {
		return true
	}
	for _, r := range th.tasks.runners {
		if r.started && r.pending == nil && r.commitReq.Load() {
			return true
		}
	}
	return false
}

func (th *thread) updateState() {
	if !th.joined {
		return
	}
	for _, r := range th.tasks.runners {
		if !r.started {
			return
		}
	}
	th.a.setState(Running)
}

// closeReserve is the part of a close budget kept for closing the tasks
// that are not stuck: a final commit, and the wait for tasks late for it,
// end that much before the deadline (a quarter of the budget, at most 5 s).
func closeReserve(budget time.Duration) time.Duration { return min(budget/4, 5*time.Second) }

// lateDeadline is when waiting for tasks late for a commit ends, for a
// close that must be done by deadline: closeReserve before it.
func lateDeadline(deadline time.Time) time.Time {
	return deadline.Add(-closeReserve(time.Until(deadline)))
}

// rebalance is the consumer's rebalance callback (eager, range assignor).
func (th *thread) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	if th.closing.Load() {
		if _, ok := ev.(kafka.RevokedPartitions); ok {
			if err := c.Unassign(); err != nil {
				th.logger.Debug("unassign while closing", zap.Error(err))
			}
		}
		return nil
	}
	if th.incremental() {
		return th.rebalanceIncremental(c, ev)
	}
	start := time.Now()
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		th.a.setState(Rebalancing)
		th.joined = true
		if !th.routeToReader(e.Partitions) {
			return nil
		}
		if err := c.Assign(e.Partitions); err != nil {
			th.fatal = fmt.Errorf("streams: assign: %w", err)
			return nil
		}
		th.assigned(e.Partitions)
		th.a.m.rebalanced(Assigned, len(e.Partitions), len(th.tasks.runners), time.Since(start))
	case kafka.RevokedPartitions:
		th.a.setState(Rebalancing)
		th.joined = false
		tasks := len(th.tasks.runners)
		th.revoked()
		if err := c.Unassign(); err != nil {
			th.logger.Warn("unassign", zap.Error(err))
		}
		th.a.m.rebalanced(Revoked, len(e.Partitions), tasks, time.Since(start))
	}
	return nil
}

// routeToReader routes newly assigned partitions to the batch Reader
// before fetching starts, so no record of theirs is left behind on the
// consumer queue; a failure stops the App (it reports false).
func (th *thread) routeToReader(parts []kafka.TopicPartition) bool {
	if th.reader == nil {
		return true
	}
	if err := th.reader.Add(parts); err != nil {
		th.fatal = fmt.Errorf("streams: assign: %w", err)
		return false
	}
	return true
}

// revoked commits every task and suspends it (suspend.go); with the eager
// protocol a rebalance takes all partitions away. A commit that fails
// because of the transaction aborts it and closes the tasks dirty (the next
// owner resumes from the last commit); any other failure stops the App.
func (th *thread) revoked() {
	clean := th.fatal == nil && !th.a.crash.Load()
	deadline := time.Now().Add(th.cfg.CloseTimeout)
	if clean && len(th.tasks.runners) > 0 {
		for _, r := range th.tasks.runners {
			r.inFinalCommit = false
		}
		if err := th.commitAll(true, lateDeadline(deadline)); err != nil {
			clean = false
			if !th.eos || !isTxnFailure(err) {
				th.fatal = err
			}
		}
	}
	th.revokeTasks(clean, deadline)
	th.queriesRevoked()
	if th.eos && !clean && th.fatal == nil {
		// The next assignment's tasks start a fresh transaction.
		ctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(th.prod.ackTimeout())))
		err := th.prod.abortTransaction(ctx)
		cancel()
		if errors.As(err, new(txnFenced)) {
			err = th.replaceProducer(err)
		}
		if err != nil {
			th.fatal = err
		}
	}
	th.assignment = nil
}

// closeTasks closes every task and forgets their inputs; it returns the
// ids of the tasks it gave up on. Tasks late for a commit get until
// lateDeadline(deadline), the others until deadline.
func (th *thread) closeTasks(clean bool, deadline time.Time) []processor.TaskID {
	abandoned := th.tasks.closeAll(clean, lateDeadline(deadline), deadline, th.awaitLate)
	th.late = nil
	th.fetch.clear()
	ids := make([]processor.TaskID, len(abandoned))
	for i, r := range abandoned {
		ids[i] = r.id
	}
	return ids
}

// assigned creates the tasks of the assigned partitions and starts their
// restoration; their partitions stay paused until they run.
func (th *thread) assigned(parts []kafka.TopicPartition) {
	th.assignment = slices.Clone(parts)
	committed, err := th.cons.Committed(parts, int(th.cfg.StartupTimeout.Milliseconds()))
	if err != nil {
		th.fatal = fmt.Errorf("streams: read committed offsets: %w", err)
		return
	}
	byTask := map[processor.TaskID][]kafka.TopicPartition{}
	for _, p := range committed {
		sub, ok := th.a.topo.SubtopologyOf(*p.Topic)
		if !ok {
			continue
		}
		id := processor.TaskID{Subtopology: sub, Partition: p.Partition}
		byTask[id] = append(byTask[id], p)
	}
	if err := checkCoPartitioned(th.a.topo, byTask); err != nil {
		th.fatal = err
		return
	}
	ids := make([]processor.TaskID, 0, len(byTask))
	for id := range byTask {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, processor.TaskID.Compare)
	kept := th.tasks.keepOrClose(byTask, time.Now().Add(th.cfg.CloseTimeout), th.awaitLate)
	th.standbys.release(ids) // standby.go: promotion, before the active opens the directory
	var pause []kafka.TopicPartition
	resumed, restoring := 0, 0
	for _, id := range ids {
		var r *runner
		var err error
		switch k := kept[id]; {
		case k == nil:
			r, err = th.tasks.create(id, byTask[id], false)
		case k.suspended:
			r, err = th.tasks.resume(k, byTask[id])
			resumed++
		default: // still restoring from before the revocation
			r = k
			restoring++
		}
		if err != nil {
			th.fatal = err
			return
		}
		th.tasks.runners[id] = r
		pause = append(pause, th.fetch.add(r)...)
	}
	if len(pause) > 0 {
		if err := th.cons.Pause(pause); err != nil {
			th.logger.Warn("pause", zap.Error(err))
		}
	}
	th.queriesAssigned(ids)
	th.logger.Info("partitions assigned", zap.Int("partitions", len(parts)), zap.Int("tasks", len(byTask)),
		zap.Int("resumed", resumed), zap.Int("still_restoring", restoring))
	th.refreshPlacement()
	th.reconcileStandbys() // standby.go
}

// shutdown stops everything the run started, within CloseTimeout; it
// commits first when the run ended cleanly.
func (th *thread) shutdown(errp *error) {
	crashed := errors.Is(*errp, errCrashed)
	if err := *errp; err != nil && th.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Stopped (Close, or the caller's context) while starting: that is
		// a shutdown, not a failure.
		*errp = nil
	}
	if crashed {
		*errp = nil
	} else if *errp != nil {
		th.a.failing(*errp)
	}
	clean := *errp == nil && !crashed
	if *errp == nil {
		// Stopping (Close, or Run's context ended): committing and closing
		// from here on. An error found while doing so moves on to
		// PendingError.
		th.a.setState(PendingShutdown)
	}
	deadline := time.Now().Add(th.cfg.CloseTimeout)
	var errs []error
	if th.cons != nil {
		if clean && len(th.tasks.runners) > 0 {
			if err := th.commitAll(true, lateDeadline(deadline)); err != nil {
				*errp = err
				th.a.failing(err)
				clean = false
			}
		}
		if abandoned := th.closeTasks(clean, deadline); len(abandoned) > 0 && *errp == nil {
			*errp = fmt.Errorf("%w: gave up on %s at shutdown: a processor call did not return within CloseTimeout %v",
				ErrTaskStuck, abandoned, th.cfg.CloseTimeout)
			th.a.failing(*errp)
		}
		th.closing.Store(true)
		if th.standbySource != nil {
			th.standbySource.close() // its admin client rides on the consumer
		}
		if th.fetch != nil {
			th.fetch.waker.close()
		}
		if th.reader != nil {
			_ = th.reader.Close() // never fails; routes what it holds back to the consumer
		}
		if err := closeConsumer(th.cons, th.consFatal, deadline); err != nil {
			th.logger.Warn("close consumer", zap.Error(err))
		}
	}
	th.stopQueries(crashed, deadline)
	th.standbys.closeAll(!crashed) // standby.go: before the restorer stops
	if th.rest != nil {
		th.rest.close()
	}
	th.purge.close()
	if th.globals != nil {
		th.globals.close()
	}
	if th.prod != nil {
		switch {
		case crashed:
			th.prod.purge()
		case th.eos && !clean:
			th.abortOpenTransaction(deadline)
			th.prod.purge()
		case !th.eos:
			if err := th.prod.flush(max(time.Until(deadline), 0)); err != nil {
				if clean {
					errs = append(errs, err)
				}
				th.prod.purge()
			}
		}
		if err := th.prod.close(max(time.Until(deadline), time.Second)); err != nil {
			th.logger.Warn("close producer", zap.Error(err))
		}
	}
	th.a.m.storeMem.Store(nil)
	th.storeMem.close() // after the stores: those of tasks given up on hold it until they close
	if th.appLock != nil {
		if err := th.appLock.Unlock(); err != nil {
			th.logger.Warn("unlock application directory", zap.Error(err))
		}
	}
	th.clients.close()
	if *errp == nil && len(errs) > 0 {
		*errp = errors.Join(errs...)
	}
}

// abortOpenTransaction aborts the transaction the tasks leave behind, so
// read_committed readers are not held back until it times out.
func (th *thread) abortOpenTransaction(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(10*time.Second)))
	defer cancel()
	if err := th.prod.abortRaw(ctx); err != nil {
		th.logger.Debug("abort open transaction", zap.Error(err))
	}
}
