package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/millrace/millrace/internal/murmur2"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The raw baselines are what a performance-minded user writes directly on
// librdkafka for the same guarantee as the App it is compared with.
//
// raw (at-least-once, as the App's default): a consumer in a group (Poll
// API, range assignor, no auto-commit) and an idempotent producer (acks
// all, as the App's). Each record goes out unchanged (key, value,
// timestamp, headers) to the partition murmur2 of its key picks, which is
// where the App's murmur2_random partitioner puts it. Offsets are
// committed only once everything produced before them is acknowledged,
// without stalling the loop: every rawCommitEvery the loop notes the
// consumed positions and how many records it has produced to each output
// partition; a note is committed once the delivery reports of each
// partition have reached its count (librdkafka reports one partition's
// deliveries in produce order). At shutdown the producer is flushed and
// the final positions committed.
//
// raw-eos (exactly-once, as the App under ExactlyOnceV2): the same loop
// with a transactional producer; every 100 ms (the App's exactly-once
// commit interval) it sends the consumed positions to the transaction,
// commits it and begins the next; its consumer reads read_committed.
//
// Both take the tuned properties below, the best of those tried on the
// embedded broker (README.md has the figures). Only the fetch queue's
// back-off needed changing: with librdkafka's default (1 s) a consumer
// whose pre-fetch queue holds queued.min.messages waits that long before
// it fetches again and goes idle; with 0 it re-checks its full queue
// without pause and spends its CPU spinning; 10 ms does neither. Larger
// pre-fetch queues and fetches (queued.min.messages 200,000, 256 MiB,
// 4 MiB per partition) gained nothing with 100-byte values and cost
// throughput, latency and memory with 1 KB ones; producer settings
// (linger.ms 1, 5, 20; larger batches and queues) made no difference
// that the noise did not hide, so the producer has librdkafka's defaults
// but for linger.ms, set to the App's 5 (librdkafka's default too).
var (
	rawConsumerTuning = map[string]any{
		"fetch.queue.backoff.ms": 10,
	}
	rawProducerTuning = map[string]any{
		"linger.ms": 5,
	}
)

// rawCommitEvery is how often the at-least-once loop notes positions to
// commit (they are committed once delivered).
const rawCommitEvery = time.Second

// eosCommitEvery is the exactly-once loop's transaction length, the App's
// exactly-once commit interval.
const eosCommitEvery = 100 * time.Millisecond

// tunedConfig returns the base properties with the tuning and the
// -raw-config overrides for that client ("consumer." or "producer."
// prefixed keys) applied.
func tunedConfig(base kafka.ConfigMap, tuning map[string]any, overrides map[string]string, client string) kafka.ConfigMap {
	cm := maps.Clone(base)
	for k, v := range tuning {
		cm[k] = v
	}
	for k, v := range overrides {
		if rest, ok := strings.CutPrefix(k, client+"."); ok {
			cm[rest] = v
		}
	}
	return cm
}

// rawTuningText describes the tuning for the report.
func rawTuningText() string {
	show := func(m map[string]any) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("consumer %s, producer enable.idempotence=true acks=all %s, librdkafka's defaults otherwise;\n    at-least-once commits what is delivered every %v, exactly-once commits a transaction every %v",
		show(rawConsumerTuning), show(rawProducerTuning), rawCommitEvery, eosCommitEvery)
}

// rawLoop is a running raw baseline.
type rawLoop struct {
	c        *kafka.Consumer
	p        *kafka.Producer
	out      string
	parts    int32
	eos      bool
	assigned chan struct{}
	at       time.Time
	once     sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
	reports  chan struct{}
	err      error

	// Loop goroutine only (the rebalance callback runs inside Poll).
	assignment []kafka.TopicPartition
	produced   []int64
	notes      []commitNote
	rr         int32
	closing    bool

	delivered []atomic.Int64 // by output partition, written by readReports

	mu      sync.Mutex
	prodErr error
}

// commitNote is a set of positions to commit once the output partitions'
// deliveries reach produced.
type commitNote struct {
	offsets  []kafka.TopicPartition
	produced []int64
}

func startRaw(spec childSpec) (*rawLoop, error) {
	iso := "read_uncommitted"
	if spec.EOS {
		iso = "read_committed"
	}
	ccfg := tunedConfig(kafka.ConfigMap{"bootstrap.servers": spec.Bootstrap, "group.id": spec.AppID,
		"partition.assignment.strategy": "range", "enable.auto.commit": false, "auto.offset.reset": "earliest",
		"isolation.level": iso, "log_level": 3, "go.logs.channel.enable": false}, rawConsumerTuning, spec.RawConfig, "consumer")
	c, err := kafka.NewConsumer(&ccfg)
	if err != nil {
		return nil, fmt.Errorf("raw consumer: %w", err)
	}
	pbase := kafka.ConfigMap{"bootstrap.servers": spec.Bootstrap, "enable.idempotence": true, "acks": "all",
		"go.delivery.report.fields": "none", "log_level": 3, "go.logs.channel.enable": false}
	if spec.EOS {
		pbase["transactional.id"] = spec.AppID + "-raw"
	}
	pcfg := tunedConfig(pbase, rawProducerTuning, spec.RawConfig, "producer")
	p, err := kafka.NewProducer(&pcfg)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("raw producer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rawLoop{c: c, p: p, out: spec.Out, parts: int32(spec.Partitions), eos: spec.EOS,
		assigned: make(chan struct{}), cancel: cancel, done: make(chan struct{}), reports: make(chan struct{}),
		produced: make([]int64, spec.Partitions), delivered: make([]atomic.Int64, spec.Partitions)}
	go r.readReports()
	fail := func(err error) (*rawLoop, error) {
		cancel()
		c.Close()
		p.Close()
		<-r.reports
		return nil, err
	}
	if spec.EOS {
		ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.InitTransactions(ictx)
		icancel()
		if err != nil {
			return fail(fmt.Errorf("raw-eos InitTransactions: %w", err))
		}
		if err := p.BeginTransaction(); err != nil {
			return fail(fmt.Errorf("raw-eos BeginTransaction: %w", err))
		}
	}
	err = c.SubscribeTopics([]string{spec.In}, func(c *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			r.assignment = slices.Clone(e.Partitions)
			if err := c.Assign(e.Partitions); err != nil {
				return err
			}
			r.once.Do(func() {
				r.at = time.Now()
				close(r.assigned)
			})
		case kafka.RevokedPartitions:
			if !r.closing {
				// At shutdown the loop committed everything already.
				if err := r.commitAll(true); err != nil {
					r.setErr(err)
				}
			}
			r.assignment = nil
			return c.Unassign()
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	go func() {
		defer close(r.done)
		r.err = r.loop(ctx)
	}()
	return r, nil
}

func (r *rawLoop) readReports() {
	defer close(r.reports)
	for ev := range r.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				r.setErr(fmt.Errorf("delivery to %s: %w", r.out, e.TopicPartition.Error))
				continue
			}
			if p := e.TopicPartition.Partition; p >= 0 && p < int32(len(r.delivered)) {
				r.delivered[p].Add(1)
			}
		case kafka.Error:
			if e.IsFatal() {
				r.setErr(fmt.Errorf("producer: %w", e))
			}
		}
	}
}

func (r *rawLoop) setErr(err error) {
	r.mu.Lock()
	if r.prodErr == nil {
		r.prodErr = err
	}
	r.mu.Unlock()
}

func (r *rawLoop) producerErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prodErr
}

func (r *rawLoop) loop(ctx context.Context) (err error) {
	defer func() {
		if cerr := r.commitAll(false); err == nil {
			err = cerr
		}
		r.closing = true
		r.c.Close()
		r.p.Close()
		<-r.reports
		if err == nil {
			err = r.producerErr()
		}
	}()
	every := rawCommitEvery
	if r.eos {
		every = eosCommitEvery
	}
	var msg kafka.Message
	last := time.Now()
	for ctx.Err() == nil {
		switch e := r.c.Poll(20).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				continue
			}
			part := r.partitionOf(e.Key)
			msg = kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &r.out, Partition: part},
				Key: e.Key, Value: e.Value, Timestamp: e.Timestamp, Headers: e.Headers}
			if err := r.produce(ctx, &msg); err != nil {
				return err
			}
			r.produced[part]++
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("consumer: %w", e)
			}
		}
		if time.Since(last) >= every {
			last = time.Now()
			if err := r.commitSome(ctx); err != nil {
				return err
			}
			if err := r.producerErr(); err != nil {
				return err
			}
		}
	}
	return nil
}

// partitionOf is the output partition of a key: murmur2, as the App's
// murmur2_random partitioner (and Java's default) picks; keyless records
// go round-robin.
func (r *rawLoop) partitionOf(key []byte) int32 {
	if key == nil {
		r.rr = (r.rr + 1) % r.parts
		return r.rr
	}
	return murmur2.Partition(key, r.parts)
}

func (r *rawLoop) produce(ctx context.Context, m *kafka.Message) error {
	for {
		err := r.p.Produce(m, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull || ctx.Err() != nil {
			return err
		}
		// librdkafka drains its queue in the background; serve delivery
		// reports meanwhile.
		time.Sleep(time.Millisecond)
	}
}

// positions returns the consumed positions of the assignment that have
// one.
func (r *rawLoop) positions() ([]kafka.TopicPartition, error) {
	if len(r.assignment) == 0 {
		return nil, nil
	}
	pos, err := r.c.Position(r.assignment)
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	return slices.DeleteFunc(pos, func(tp kafka.TopicPartition) bool { return tp.Offset < 0 }), nil
}

// commitSome commits, at-least-once, the newest note whose records are
// delivered and adds a note of the current positions; exactly-once, it
// commits the open transaction with the current positions and begins the
// next.
func (r *rawLoop) commitSome(ctx context.Context) error {
	pos, err := r.positions()
	if err != nil {
		return err
	}
	if r.eos {
		return r.commitTxn(ctx, pos, true)
	}
	if len(pos) > 0 {
		r.notes = append(r.notes, commitNote{offsets: pos, produced: slices.Clone(r.produced)})
	}
	ready := committable(r.notes, func(p int) int64 { return r.delivered[p].Load() })
	if ready < 0 {
		return nil
	}
	offsets := r.notes[ready].offsets
	r.notes = slices.Delete(r.notes, 0, ready+1)
	return r.commitOffsets(offsets)
}

// committable returns the index of the newest note whose records are all
// delivered (each output partition's deliveries reached the note's count
// of records produced to it), or -1.
func committable(notes []commitNote, delivered func(partition int) int64) int {
	ready := -1
	for i, n := range notes {
		all := true
		for p, c := range n.produced {
			if delivered(p) < c {
				all = false
				break
			}
		}
		if all {
			ready = i
		}
	}
	return ready
}

// commitAll delivers everything produced and commits the positions (on
// revoke, when the exactly-once loop then begins its next transaction,
// and at shutdown).
func (r *rawLoop) commitAll(begin bool) error {
	pos, err := r.positions()
	if err != nil {
		return err
	}
	if r.eos {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.commitTxn(ctx, pos, begin)
	}
	if left := r.p.Flush(30_000); left > 0 {
		return fmt.Errorf("%d records not delivered within 30 s", left)
	}
	if err := r.producerErr(); err != nil {
		return err
	}
	r.notes = r.notes[:0]
	return r.commitOffsets(pos)
}

func (r *rawLoop) commitOffsets(offsets []kafka.TopicPartition) error {
	if len(offsets) == 0 {
		return nil
	}
	if _, err := r.c.CommitOffsets(offsets); err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrNoOffset {
			return nil
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (r *rawLoop) commitTxn(ctx context.Context, pos []kafka.TopicPartition, begin bool) error {
	if len(pos) > 0 {
		md, err := r.c.GetConsumerGroupMetadata()
		if err != nil {
			return fmt.Errorf("group metadata: %w", err)
		}
		if err := r.p.SendOffsetsToTransaction(ctx, pos, md); err != nil {
			return fmt.Errorf("SendOffsetsToTransaction: %w", err)
		}
	}
	if err := r.p.CommitTransaction(ctx); err != nil {
		return fmt.Errorf("CommitTransaction: %w", err)
	}
	if begin {
		if err := r.p.BeginTransaction(); err != nil {
			return fmt.Errorf("BeginTransaction: %w", err)
		}
	}
	return nil
}

func (r *rawLoop) ready() <-chan struct{}  { return r.assigned }
func (r *rawLoop) readyAt() time.Time      { return r.at }
func (r *rawLoop) exited() <-chan struct{} { return r.done }

func (r *rawLoop) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// rawReader is restore's baseline: an assign-only consumer with the raw
// tuning reading every partition of a topic from the start until it has
// read want records; it is ready then.
type rawReader struct {
	c      *kafka.Consumer
	want   int64
	doneAt time.Time
	readC  chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
	err    error
}

func startRawReader(spec childSpec) (*rawReader, error) {
	cfg := tunedConfig(kafka.ConfigMap{"bootstrap.servers": spec.Bootstrap, "group.id": spec.AppID,
		"enable.auto.commit": false, "log_level": 3, "go.logs.channel.enable": false}, rawConsumerTuning, spec.RawConfig, "consumer")
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		return nil, err
	}
	var tps []kafka.TopicPartition
	for p := range int32(spec.Partitions) {
		tps = append(tps, kafka.TopicPartition{Topic: &spec.In, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rawReader{c: c, want: int64(spec.Records), readC: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		defer c.Close()
		var n int64
		for ctx.Err() == nil && n < r.want {
			switch e := c.Poll(20).(type) {
			case *kafka.Message:
				if e.TopicPartition.Error == nil {
					n++
				}
			case kafka.Error:
				if e.IsFatal() {
					r.err = fmt.Errorf("raw-read consumer: %w", e)
					return
				}
			}
		}
		if n >= r.want {
			r.doneAt = time.Now()
			close(r.readC)
		}
		<-ctx.Done()
	}()
	return r, nil
}

func (r *rawReader) ready() <-chan struct{}  { return r.readC }
func (r *rawReader) readyAt() time.Time      { return r.doneAt }
func (r *rawReader) exited() <-chan struct{} { return r.done }

func (r *rawReader) stop() error {
	r.cancel()
	<-r.done
	return r.err
}
