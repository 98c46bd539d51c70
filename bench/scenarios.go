package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

type kind int

const (
	kindRaw kind = iota
	kindPassthrough
	kindCount
)

type scenario struct {
	name string
	kind kind
	eos  bool
}

var scenarios = []scenario{
	{"raw", kindRaw, false},
	{"passthrough", kindPassthrough, false},
	{"count", kindCount, false},
	{"count-eos", kindCount, true},
	{"passthrough-eos", kindPassthrough, true},
}

// AllScenarios returns the scenario names in their default order.
func AllScenarios() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.name
	}
	return out
}

func scenarioByName(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// processorHandle is a running raw loop or App.
type processorHandle interface {
	// ready is closed when the throughput clock starts, at readyAt.
	ready() <-chan struct{}
	readyAt() time.Time
	// clockStart says what ready means.
	clockStart() string
	// exited is closed if the processor stops by itself.
	exited() <-chan struct{}
	// stop stops it (idempotent) and returns its error.
	stop() error
}

func startProcessor(sc scenario, bootstrap, appID, in, out, stateDir string, o Options) (processorHandle, error) {
	if sc.kind == kindRaw {
		return startRaw(bootstrap, appID, in, out)
	}
	var topo *processor.Topology
	var err error
	if sc.kind == kindCount {
		topo, err = countTopology(in, out)
	} else {
		topo, err = passthroughTopology(in, out)
	}
	if err != nil {
		return nil, err
	}
	cfg := streams.Config{ApplicationID: appID, BootstrapServers: bootstrap, StateDir: stateDir,
		BufferedRecordsPerPartition: o.Buffered, ConsumerConfig: o.AppConsumerConfig}
	if sc.eos {
		cfg.ProcessingGuarantee = streams.ExactlyOnceV2
	}
	return startApp(topo, cfg)
}

func passthroughTopology(in, out string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.Bytes(), record.Bytes(), in)
	processor.AddSink(b, "out", out, record.Bytes(), record.Bytes(), "in")
	return b.Build()
}

func countTopology(in, out string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.Bytes(), record.Bytes(), in)
	processor.AddProcessor(b, "count", func() processor.Processor[[]byte, []byte, []byte, int64] { return &counter{} }, "in").
		WithStores("counts")
	processor.AddSink(b, "out", out, record.Bytes(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.Bytes(), record.Int64()).WithCaching())
	return b.Build()
}

// counter counts per key and forwards each new count.
type counter struct {
	ctx    processor.Context[[]byte, int64]
	counts store.KeyValueStore[[]byte, int64]
}

func (c *counter) Init(ctx processor.Context[[]byte, int64]) (err error) {
	c.ctx = ctx
	c.counts, err = processor.KeyValueStore[[]byte, int64](ctx, "counts")
	return err
}

func (c *counter) Process(r record.Record[[]byte, []byte]) error {
	n, _, err := c.counts.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	if err := c.counts.Put(r.Key(), n); err != nil {
		return err
	}
	return c.ctx.Forward(record.WithValue(r, n))
}

func (c *counter) Close() error { return nil }

// appHandle runs a Millrace App; the clock starts when it reaches RUNNING.
type appHandle struct {
	app      *streams.App
	running  chan struct{}
	at       time.Time
	once     sync.Once
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

func startApp(topo *processor.Topology, cfg streams.Config) (*appHandle, error) {
	h := &appHandle{running: make(chan struct{}), done: make(chan struct{})}
	cfg.StateListener = func(_, to streams.State) {
		if to == streams.Running {
			h.once.Do(func() {
				h.at = time.Now()
				close(h.running)
			})
		}
	}
	app, err := streams.New(topo, cfg)
	if err != nil {
		return nil, err
	}
	h.app = app
	go func() {
		defer close(h.done)
		h.err = app.Run(context.Background())
	}()
	return h, nil
}

// restoring describes the App's restoration while its stores restore
// (Metrics().Restore), and is empty otherwise: the progress line of the
// start-up phase shows it live.
func (h *appHandle) restoring() string {
	if p := h.app.Metrics().Restore; p.Active {
		return p.String()
	}
	return ""
}

func (h *appHandle) ready() <-chan struct{}  { return h.running }
func (h *appHandle) readyAt() time.Time      { return h.at }
func (h *appHandle) clockStart() string      { return "App state RUNNING" }
func (h *appHandle) exited() <-chan struct{} { return h.done }

func (h *appHandle) stop() error {
	h.stopOnce.Do(func() { h.app.Close() })
	<-h.done
	return h.err
}

// rawLoop is the baseline: a librdkafka consumer in a group (Poll API,
// manual commit of the consumed positions every 100 ms and at the end)
// producing every record unchanged (key, value, timestamp, headers) with a
// librdkafka producer set up like Millrace's (murmur2_random, linger.ms=5,
// idempotence, no key/value in delivery reports). The clock starts when
// the consumer gets its assignment.
type rawLoop struct {
	c        *kafka.Consumer
	p        *kafka.Producer
	out      string
	assigned chan struct{}
	at       time.Time
	once     sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
	reports  chan struct{}
	err      error

	mu      sync.Mutex
	prodErr error
}

func startRaw(bootstrap, group, in, out string) (*rawLoop, error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": group,
		"partition.assignment.strategy": "range", "enable.auto.commit": false, "auto.offset.reset": "earliest",
		"log_level": 3, "go.logs.channel.enable": false})
	if err != nil {
		return nil, err
	}
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"linger.ms": 5, "enable.idempotence": true, "go.delivery.report.fields": "none",
		"log_level": 3, "go.logs.channel.enable": false})
	if err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rawLoop{c: c, p: p, out: out, assigned: make(chan struct{}), cancel: cancel,
		done: make(chan struct{}), reports: make(chan struct{})}
	go r.readReports()
	err = c.SubscribeTopics([]string{in}, func(c *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			if err := c.Assign(e.Partitions); err != nil {
				return err
			}
			r.once.Do(func() {
				r.at = time.Now()
				close(r.assigned)
			})
		case kafka.RevokedPartitions:
			return c.Unassign()
		}
		return nil
	})
	if err != nil {
		cancel()
		c.Close()
		p.Close()
		<-r.reports
		return nil, err
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
		if cerr := r.commit(); err == nil {
			err = cerr
		}
		if left := r.p.Flush(30_000); left > 0 && err == nil {
			err = fmt.Errorf("%d records not delivered at shutdown", left)
		}
		r.c.Close()
		r.p.Close()
		<-r.reports
		if err == nil {
			err = r.producerErr()
		}
	}()
	out := kafka.TopicPartition{Topic: &r.out, Partition: kafka.PartitionAny}
	var msg kafka.Message
	lastCommit := time.Now()
	for ctx.Err() == nil {
		switch e := r.c.Poll(20).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				continue
			}
			msg = kafka.Message{TopicPartition: out, Key: e.Key, Value: e.Value, Timestamp: e.Timestamp, Headers: e.Headers}
			if err := r.produce(ctx, &msg); err != nil {
				return err
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("consumer: %w", e)
			}
		}
		if time.Since(lastCommit) >= 100*time.Millisecond {
			lastCommit = time.Now()
			if err := r.commit(); err != nil {
				return err
			}
			if err := r.producerErr(); err != nil {
				return err
			}
		}
	}
	return nil
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
		time.Sleep(time.Millisecond) // librdkafka drains its queue in the background
	}
}

// commit commits the consumed positions; nothing new to commit is fine.
func (r *rawLoop) commit() error {
	if _, err := r.c.Commit(); err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrNoOffset {
			return nil
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (r *rawLoop) ready() <-chan struct{}  { return r.assigned }
func (r *rawLoop) readyAt() time.Time      { return r.at }
func (r *rawLoop) clockStart() string      { return "consumer assignment" }
func (r *rawLoop) exited() <-chan struct{} { return r.done }

func (r *rawLoop) stop() error {
	r.cancel()
	<-r.done
	return r.err
}
