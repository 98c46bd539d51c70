package streams

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/faultpoint"
	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// restorer brings tasks' logged stores up to their changelogs' ends before
// the tasks process, on one goroutine with its own consumer (read_committed
// under exactly-once). A store is restored from its checkpoint offset, or
// from the beginning, until the consumer's position reaches the end offset
// taken when restoration began; transaction markers make "last record
// offset + 1" the wrong test.
//
// Every task being restored is restored at once: the restorer takes every
// restoration queued before it reads again and assigns all their changelog
// partitions in one incremental assignment, so N tasks take about as long
// as the largest one. Records are read in batches (restoreread.go) and
// written into each store in write batches of up to restoreBatch records.
//
// It also feeds standby tasks (standby.go), Kafka Streams' "updating"
// changelog partitions next to the "restoring" ones: a standby's
// restoration never completes, its partitions are paused while any active
// task restores (standbys never delay an active task's start), and it
// checkpoints on the runtime's commit tick and when it is closed cleanly
// (standbyfeed.go).
type restorer struct {
	cons    *kafka.Consumer
	logger  *zap.Logger
	metrics *metrics
	cmds    chan restoreCmd
	// reader batch-reads the changelog partitions (nil: the wrapper's
	// Poll, one record at a time); buf is its batch.
	reader *rdkbatch.Reader
	buf    []rdkbatch.Message
	// parts finds the restoration a changelog partition's record belongs
	// to, for the active restorations.
	parts map[topicPartition]partRef
	// pending are begun restorations whose partitions are not assigned
	// yet: assignPending assigns them together before the next read.
	pending []*restoration
	// results are handed to the poller through a mutex-guarded slice, not
	// a bounded channel: the restorer must never block on a poller that
	// may itself be blocked handing it commands (add, remove).
	resMu   sync.Mutex
	results []restoreResult
	stop    chan struct{}
	done    chan struct{}
	active  map[processor.TaskID]*restoration
	// fatal: the consumer raised a fatal error (it cannot be closed).
	fatal bool
	// paused are the standby changelog partitions paused while active
	// tasks restore; waiting are standbys added meanwhile, begun (their
	// end offsets queried) only once no active task restores.
	paused  map[topicPartition]bool
	waiting []*restoration
	// eos: the changelogs are read read_committed, so an open transaction
	// hides everything after its first record (stable.go); admin, on the
	// restore consumer's handle, lists their high watermarks.
	eos   bool
	admin *kafka.AdminClient
}

type restoreCmd struct {
	add    *restoration
	remove processor.TaskID
	ack    chan struct{} // closed when a remove took effect
	// clean: a standby removed checkpoints first (flush, then positions).
	clean bool
	// checkpoint: the commit tick; standbys checkpoint if enough changed.
	checkpoint bool
}

type restoreResult struct {
	id  processor.TaskID
	err error
	// wipe names stores whose checkpoint is beyond their changelog's end:
	// their local state cannot be trusted; the task is recreated with them
	// wiped and restored from the start. reason says what was found.
	wipe   []string
	reason string
	// restoredTo is, per changelog partition, the offset the store is
	// restored to: what a checkpoint holds when the task writes nothing
	// more.
	restoredTo map[topicPartition]int64
	// standby: the result is of a standby task (only errors and wipes).
	standby bool
}

// endsOf returns the offsets a finished restoration brought its stores to.
func endsOf(x *restoration) map[topicPartition]int64 {
	out := make(map[topicPartition]int64, len(x.parts))
	for _, p := range x.parts {
		out[p.tp] = max(p.end, p.start, 0)
	}
	return out
}

// restoration of one task.
type restoration struct {
	id      processor.TaskID
	parts   []*restorePart
	started time.Time
	lastLog time.Time
	// assign are the changelog partitions to read, from their start
	// offsets; assigned: the consumer was given them.
	assign   []kafka.TopicPartition
	assigned bool
	// sb is set for a standby task's restoration, which never completes.
	sb *standbyFeed
}

// partRef is a changelog partition's store and the restoration it is part
// of.
type partRef struct {
	x *restoration
	p *restorePart
}

type restorePart struct {
	tp     topicPartition
	store  string
	target store.KeyValueBytes
	start  int64 // first offset to read; kafka.OffsetBeginning for none
	// fromCheckpoint: start came from the task's checkpoint file.
	fromCheckpoint bool
	end            int64
	done           bool
	batch          []store.Entry
	count          int64
	// last is the offset of the batch's last record; reported: the
	// restoration's start went to the metrics and hooks (it has records
	// to read), so its end or suspension goes too.
	last     int64
	reported bool
	// stable, under exactly-once: the changelog's high watermark when the
	// restoration began, where its last stable offset (end) stood below
	// it: an open transaction hid the records from end on, committed ones
	// among them. The part is done only once end has reached stable
	// (stable.go); checked is when end was last asked for.
	stable  int64
	checked time.Time
	// source: the part reads the topic a table is read from
	// (store.SourceChangelog), up to committed (exclusive; negative:
	// nothing committed, nothing to restore), through convert. Records
	// from committed on are processed again, so they are never applied.
	source    bool
	committed int64
	convert   func(*record.ConsumerRecord) ([]byte, []byte, string, error)
	skipped   int64
}

// restoreBatch is the most records one write batch into a store holds
// (and one HookRestoreBatch reports).
const restoreBatch = 1000

func newRestorer(cl *clients, m *metrics) (*restorer, error) { return startRestorer(cl, m, true) }

// startRestorer starts a restorer reading in batches, or polling records
// one by one (batch false, or a consumer the batch reader refuses).
func startRestorer(cl *clients, m *metrics, batch bool) (*restorer, error) {
	c, err := cl.consumer(restoreConsumer)
	if err != nil {
		return nil, err
	}
	r := &restorer{cons: c, logger: cl.cfg.Logger, metrics: m, cmds: make(chan restoreCmd, 64),
		stop: make(chan struct{}), done: make(chan struct{}),
		active: map[processor.TaskID]*restoration{}, parts: map[topicPartition]partRef{}, paused: map[topicPartition]bool{},
		eos: cl.cfg.ProcessingGuarantee == ExactlyOnceV2}
	if r.eos {
		if r.admin, err = kafka.NewAdminClientFromConsumer(c); err != nil {
			c.Close()
			return nil, fmt.Errorf("streams: %s: admin client: %w", restoreConsumer, err)
		}
	}
	if batch {
		r.startReader()
	}
	go r.run()
	return r, nil
}

func (r *restorer) add(x *restoration) { r.cmds <- restoreCmd{add: x} }

// deliver queues a result for the poller; it never blocks.
func (r *restorer) deliver(res restoreResult) {
	r.resMu.Lock()
	r.results = append(r.results, res)
	r.resMu.Unlock()
}

// take returns the results queued since the last take.
func (r *restorer) take() []restoreResult {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	out := r.results
	r.results = nil
	return out
}

// remove aborts a task's restoration and waits until the restorer let go of
// its stores.
func (r *restorer) remove(id processor.TaskID) { r.removeTask(id, false) }

// removeTask is remove; clean makes a standby checkpoint first.
func (r *restorer) removeTask(id processor.TaskID, clean bool) {
	ack := make(chan struct{})
	select {
	case r.cmds <- restoreCmd{remove: id, ack: ack, clean: clean}:
		<-ack
	case <-r.done:
	}
	// A result delivered before the remove took effect belongs to this
	// incarnation of the task: drop it, or it would start the next task
	// with the same id (after an abort, say) while that one restores.
	r.resMu.Lock()
	r.results = slices.DeleteFunc(r.results, func(res restoreResult) bool { return res.id == id })
	r.resMu.Unlock()
}

func (r *restorer) close() {
	close(r.stop)
	<-r.done
	if r.admin != nil {
		r.admin.Close() // it rides on the consumer's handle
	}
	if r.reader != nil {
		if err := r.reader.Close(); err != nil { // before the consumer
			r.logger.Warn("close restore batch reader", zap.Error(err))
		}
	}
	if err := closeConsumer(r.cons, r.fatal, time.Now().Add(consumerCloseTimeout)); err != nil {
		r.logger.Warn("close restore consumer", zap.Error(err))
	}
}

func (r *restorer) run() {
	defer close(r.done)
	for {
		r.beginWaiting()
		if len(r.active) == 0 {
			select {
			case c := <-r.cmds:
				r.apply(c)
			case <-r.stop:
				return
			}
			continue
		}
		select {
		case c := <-r.cmds:
			r.apply(c)
			continue
		case <-r.stop:
			return
		default:
		}
		r.assignPending()
		r.prioritize()
		r.poll()
	}
}

func (r *restorer) apply(c restoreCmd) {
	if c.add != nil {
		if c.add.sb != nil && r.restoring() {
			r.waiting = append(r.waiting, c.add)
			return
		}
		r.begin(c.add)
		return
	}
	if c.checkpoint {
		r.checkpointStandbys(false)
		return
	}
	r.waiting = slices.DeleteFunc(r.waiting, func(x *restoration) bool { return x.id == c.remove })
	if x, ok := r.active[c.remove]; ok {
		if x.sb != nil {
			r.closeStandby(x, c.clean)
		} else {
			r.unassign(x)
			r.forget(x)
			r.logger.Info("restoration aborted", zap.Stringer("task", c.remove))
		}
	}
	close(c.ack)
}

func (r *restorer) begin(x *restoration) {
	x.started, x.lastLog = time.Now(), time.Now()
	var assign []kafka.TopicPartition
	var total int64
	lows := make([]int64, len(x.parts))
	for i, p := range x.parts {
		low, high, err := r.cons.QueryWatermarkOffsets(p.tp.topic, p.tp.partition, 30_000)
		if err != nil {
			r.deliver(restoreResult{id: x.id, err: fmt.Errorf("streams: task %s: end offset of %s-%d: %w", x.id, p.tp.topic, p.tp.partition, err)})
			return
		}
		lows[i], p.end = low, high
		if p.source {
			p.end = min(high, max(p.committed, 0))
		}
	}
	if err := r.findStable(x); err != nil {
		r.deliver(restoreResult{id: x.id, err: err})
		return
	}
	for i, p := range x.parts {
		low := lows[i]
		if x.sb != nil && p.fromCheckpoint && p.start < low {
			// Records the standby never applied were deleted: its state
			// misses them.
			r.deliver(restoreResult{id: x.id, standby: true, wipe: storesOf(x),
				reason: fmt.Sprintf("store %q: checkpoint offset %d, changelog %s-%d starts at %d", p.store, p.start, p.tp.topic, p.tp.partition, low)})
			return
		}
		if p.fromCheckpoint && p.start > max(p.end, p.stable) {
			// The checkpoint claims more than the changelog holds: the
			// changelog was recreated or truncated, or the checkpoint is
			// wrong (for a source topic: it is past the committed offset,
			// as after a failed offset commit or a reset of the group's
			// offsets). Either way the local state cannot be trusted.
			what := "changelog"
			if p.source {
				what = "source topic, up to its committed offset,"
			}
			r.deliver(restoreResult{id: x.id, wipe: storesOf(x), standby: x.sb != nil,
				reason: fmt.Sprintf("store %q: checkpoint offset %d, %s %s-%d ends at %d", p.store, p.start, what, p.tp.topic, p.tp.partition, p.end)})
			return
		}
		if p.start < low {
			p.start = low // nothing before the log start is left to read
		}
		if p.start >= p.end && p.stable <= p.end && x.sb == nil {
			p.done = true
			continue
		}
		total += max(p.end-p.start, 0) // a checkpoint may be past the LSO (stable.go)
		t := p.tp.topic
		assign = append(assign, kafka.TopicPartition{Topic: &t, Partition: p.tp.partition, Offset: kafka.Offset(p.start)})
	}
	if len(assign) == 0 {
		r.deliver(restoreResult{id: x.id, restoredTo: endsOf(x)})
		return
	}
	if r.reader != nil {
		// Routed to the reader before they are assigned, so none of their
		// records is left on the consumer queue.
		if err := r.reader.Add(assign); err != nil {
			r.deliver(restoreResult{id: x.id, err: fmt.Errorf("streams: task %s: route changelogs to the batch reader: %w", x.id, err)})
			return
		}
	}
	x.assign = assign
	r.active[x.id] = x
	for _, p := range x.parts {
		r.parts[p.tp] = partRef{x, p}
	}
	r.pending = append(r.pending, x)
	if x.sb != nil {
		x.sb.begun(x)
		r.metrics.standbyLag(x.id, total)
		r.logger.Info("standby task following its changelogs", zap.Stringer("task", x.id), zap.Int64("behind", total))
		return
	}
	for _, p := range x.parts {
		if !p.done {
			p.reported = true
			r.metrics.restoreStarted(x.id, p.store, p.tp, p.start, p.end)
		}
	}
	r.logger.Info("restoring task state from changelogs", zap.Stringer("task", x.id), zap.Int64("records", total))
}

// assignPending gives the consumer the changelog partitions of every
// restoration begun since the last read, in one incremental assignment:
// they are all fetched from then on.
func (r *restorer) assignPending() {
	if len(r.pending) == 0 {
		return
	}
	pending := r.pending
	r.pending = nil
	var assign []kafka.TopicPartition
	for _, x := range pending {
		assign = append(assign, x.assign...)
	}
	if err := r.cons.IncrementalAssign(assign); err != nil {
		for _, x := range pending {
			r.fail(x, fmt.Errorf("streams: task %s: assign changelogs: %w", x.id, err))
		}
		return
	}
	for _, x := range pending {
		x.assigned = true
	}
}

// forget drops a restoration that ended, failed or was aborted.
func (r *restorer) forget(x *restoration) {
	delete(r.active, x.id)
	r.pending = slices.DeleteFunc(r.pending, func(y *restoration) bool { return y == x })
	for _, p := range x.parts {
		if ref, ok := r.parts[p.tp]; ok && ref.x == x {
			delete(r.parts, p.tp)
		}
	}
}

func (r *restorer) unassign(x *restoration) {
	var tps []kafka.TopicPartition
	for _, p := range x.parts {
		if !p.done && x.assigned {
			t := p.tp.topic
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: p.tp.partition})
		}
	}
	if len(tps) > 0 {
		if err := r.cons.IncrementalUnassign(tps); err != nil {
			r.logger.Warn("unassign changelogs", zap.Error(err))
		}
	}
	for _, p := range x.parts {
		delete(r.paused, p.tp)
	}
	for _, p := range x.parts {
		if !p.done && p.reported {
			r.metrics.restoreSuspended(x.id, p.store, p.tp)
		}
	}
}

// failAll ends every restoration with err.
func (r *restorer) failAll(err error) {
	for _, x := range r.active {
		r.fail(x, fmt.Errorf("task %s: %w", x.id, err))
	}
}

// storesOf names the stores a restoration covers.
func storesOf(x *restoration) []string {
	out := make([]string, 0, len(x.parts))
	for _, p := range x.parts {
		out = append(out, p.store)
	}
	return out
}

func (r *restorer) flush(x *restoration, p *restorePart) error {
	if len(p.batch) == 0 {
		return nil
	}
	if err := p.target.Write(p.batch); err != nil {
		return fmt.Errorf("streams: task %s: restore store %q: %w", x.id, p.store, err)
	}
	if x.sb != nil {
		r.metrics.standbyApplied(x.id, len(p.batch))
	} else {
		r.metrics.restoreBatch(x.id, p.store, p.tp, p.last, len(p.batch))
	}
	clear(p.batch) // let go of the records (and the read batches holding them)
	p.batch = p.batch[:0]
	faultpoint.Hit(faultpoint.RestoreBatch)
	return nil
}

func (r *restorer) fail(x *restoration, err error) {
	r.unassign(x)
	r.forget(x)
	r.deliver(restoreResult{id: x.id, err: err, standby: x.sb != nil})
}

// checkDone completes partitions whose position reached their end offset
// and tasks whose partitions all did.
func (r *restorer) checkDone() {
	for id, x := range r.active {
		if !x.assigned || x.sb != nil {
			continue // its assignment failed, or comes before the next read; standbys never end
		}
		var tps []kafka.TopicPartition
		for _, p := range x.parts {
			if !p.done {
				t := p.tp.topic
				tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: p.tp.partition})
			}
		}
		pos, err := r.cons.Position(tps)
		if err != nil {
			r.fail(x, fmt.Errorf("streams: task %s: changelog positions: %w", id, err))
			continue
		}
		remaining := int64(0)
		for _, tp := range pos {
			ref, ok := r.parts[topicPartition{*tp.Topic, tp.Partition}]
			p := ref.p
			if !ok || ref.x != x || p.done {
				continue
			}
			if int64(tp.Offset) >= p.end && !r.stableReached(x, p) {
				continue // an open transaction still hides records (stable.go)
			}
			if int64(tp.Offset) >= p.end {
				if err := r.flush(x, p); err != nil {
					r.fail(x, err)
					goto next
				}
				p.done = true
				if p.reported {
					r.metrics.restoreEnded(x.id, p.store, p.tp)
				}
				t := p.tp.topic
				if err := r.cons.IncrementalUnassign([]kafka.TopicPartition{{Topic: &t, Partition: p.tp.partition}}); err != nil {
					r.logger.Warn("unassign changelog", zap.Error(err))
				}
				continue
			}
			if int64(tp.Offset) >= 0 {
				remaining += p.end - int64(tp.Offset)
				r.metrics.restorePosition(id, p.store, int64(tp.Offset))
			} else {
				remaining += p.end - max(p.start, 0)
			}
		}
		if remaining == 0 && allDone(x) {
			var n int64
			for _, p := range x.parts {
				n += p.count
			}
			el := time.Since(x.started)
			r.logger.Info("task state restored", zap.Stringer("task", id), zap.Int64("records", n),
				zap.Duration("took", el), zap.Float64("records_per_sec", float64(n)/max(el.Seconds(), 1e-9)))
			r.forget(x)
			r.deliver(restoreResult{id: id, restoredTo: endsOf(x)})
			continue
		}
		if time.Since(x.lastLog) >= 5*time.Second {
			x.lastLog = time.Now()
			var n, total int64
			for _, p := range x.parts {
				n += p.count
				total += p.end - max(p.start, 0)
			}
			el := time.Since(x.started).Seconds()
			r.logger.Info("restoring", zap.Stringer("task", id), zap.Int64("restored", n), zap.Int64("remaining", remaining),
				zap.Float64("percent", 100*float64(n)/float64(max(total, 1))), zap.Float64("records_per_sec", float64(n)/max(el, 1e-9)))
		}
	next:
	}
}

func allDone(x *restoration) bool {
	for _, p := range x.parts {
		if !p.done {
			return false
		}
	}
	return true
}
