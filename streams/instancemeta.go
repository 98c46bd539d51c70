package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
)

// Instance metadata: which instance holds which partitions of which stores.
//
// librdkafka runs the group's assignment without user data, so the
// instances cannot learn each other's endpoints from it, as Kafka Streams'
// do. Instead, every instance with an ApplicationServer announces, after
// each assignment, a claim on a compacted one-partition topic of the
// application, <application-id>-instance-metadata: keyed by its endpoint,
// it lists the tasks it was assigned and, per store, the partitions it
// holds. A clean close writes a tombstone under the key. Each such
// instance reads the topic from the beginning, on a goroutine and a
// consumer of its own (assign-only: no group), into a metaView.
//
// Claims are ordered by their offset on the topic: for each task and each
// store partition, the claim written last wins. A claim is written after
// the assignment it describes, and the group hands a partition to a new
// owner only after its previous owner's session ended or it rejoined (and
// re-announced: its key then holds its new claim), so the last claim of a
// partition is its current owner's, once every announcement has landed.
// A killed instance's claim stays on the topic, but loses every partition
// to the claims of their new owners, and is dropped from AllMetadata then.

// metadataTopic names an application's instance-metadata topic.
func metadataTopic(applicationID string) string { return applicationID + "-instance-metadata" }

// instanceMetadata announces this instance's claims and reads everyone's:
// a producer and a publishing goroutine (announcements never wait on the
// poll loop; the latest one replaces one not sent yet, and a failed send
// is retried until a newer one or the close), and an assign-only
// consumer read by a goroutine of its own.
type instanceMetadata struct {
	view   *metaView
	topic  string
	self   string
	logger *zap.Logger
	cons   *kafka.Consumer
	prod   *kafka.Producer
	seq    int64 // the poll loop's only

	mu      sync.Mutex
	pending *claim
	wake    chan struct{}
	// announced: a claim was sent, so the close writes a tombstone.
	announced bool

	stop chan struct{}
	// loops are the reader and the publisher; events ends when the
	// producer closes.
	loops     sync.WaitGroup
	events    chan struct{}
	consFatal bool
}

// startInstanceMetadata creates the metadata topic if it is missing, and
// starts reading it and the publisher.
func startInstanceMetadata(ctx context.Context, cl *clients, cfg *Config) (*instanceMetadata, error) {
	topic := metadataTopic(cfg.ApplicationID)
	if err := ensureMetadataTopic(ctx, cl, cfg, topic); err != nil {
		return nil, err
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("streams: instance metadata: %w", err)
	}
	self, _ := parseHostInfo(cfg.ApplicationServer)
	logger := cfg.Logger.With(zap.String("application_server", self.String()))
	m := &instanceMetadata{view: newMetaView(self.String(), hex.EncodeToString(raw[:]), logger), topic: topic,
		self: self.String(), logger: logger, wake: make(chan struct{}, 1), stop: make(chan struct{}), events: make(chan struct{})}
	pm := configMap(cfg, appProducer, cl.logs)
	delete(pm, "transaction.timeout.ms") // not transactional: it writes outside the App's transactions
	pm["client.id"] = cfg.ApplicationID + "-instance-metadata-producer"
	pm["linger.ms"] = 0
	prod, err := kafka.NewProducer(&pm)
	if err != nil {
		return nil, fmt.Errorf("streams: create instance-metadata producer: %w", err)
	}
	m.prod = prod
	cm := configMap(cfg, restoreConsumer, cl.logs)
	cm["group.id"] = cfg.ApplicationID + "-instance-metadata" // required; never joined (assign only)
	cm["client.id"] = cfg.ApplicationID + "-instance-metadata-consumer"
	cm["isolation.level"] = "read_uncommitted" // claims are not transactional
	cm["fetch.wait.max.ms"] = 100
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("streams: create instance-metadata consumer: %w", err)
	}
	m.cons = cons
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		prod.Close()
		closeConsumer(cons, false, time.Now().Add(consumerCloseTimeout))
		return nil, fmt.Errorf("streams: instance-metadata consumer: assign %s: %w", topic, err)
	}
	m.loops.Add(2)
	go m.read()
	go m.publish()
	go m.producerEvents()
	return m, nil
}

// ensureMetadataTopic creates the compacted one-partition metadata topic
// unless it exists.
func ensureMetadataTopic(ctx context.Context, cl *clients, cfg *Config, topic string) error {
	admin, closeAdmin, err := cl.admin()
	if err != nil {
		return err
	}
	defer closeAdmin()
	timeout := cfg.StartupTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	md, err := metadataWithin(ctx, admin, timeout)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err() // stopped while starting
		}
		return fmt.Errorf("%w: no answer from %s within %v: %v", ErrUnreachable, cfg.BootstrapServers, timeout, err)
	}
	if t, ok := md.Topics[topic]; ok && t.Error.Code() == kafka.ErrNoError && len(t.Partitions) > 0 {
		return nil
	}
	spec := kafka.TopicSpecification{Topic: topic, NumPartitions: 1, ReplicationFactor: cfg.ReplicationFactor,
		Config: map[string]string{"cleanup.policy": "compact"}}
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{spec}, kafka.SetAdminOperationTimeout(timeout))
	if err != nil {
		return fmt.Errorf("streams: create the instance-metadata topic %s: %w", topic, err)
	}
	for _, r := range res {
		switch r.Error.Code() {
		case kafka.ErrNoError:
		case kafka.ErrTopicAlreadyExists:
			return nil // another instance created it meanwhile
		default:
			return fmt.Errorf("streams: create the instance-metadata topic %s: %w", topic, r.Error)
		}
	}
	cfg.Logger.Info("created the instance-metadata topic", zap.String("topic", topic))
	return awaitTopics(ctx, admin, []kafka.TopicSpecification{spec})
}

// announce queues this instance's claim for an assignment of tasks; it
// never blocks (the poll loop calls it from the rebalance callback).
func (m *instanceMetadata) announce(ids []processor.TaskID, topo *processor.Topology) {
	m.seq++
	c := claim{Version: claimVersion, Endpoint: m.self, Run: m.view.run, Seq: m.seq, Tasks: []string{},
		Stores: map[string][]int32{}, TimeMs: time.Now().UnixMilli()}
	subs := topo.Subtopologies()
	for _, id := range ids {
		c.Tasks = append(c.Tasks, id.String())
		if id.Subtopology < len(subs) {
			for _, s := range subs[id.Subtopology].Stores {
				c.Stores[s] = append(c.Stores[s], id.Partition)
			}
		}
	}
	m.view.announce(c)
	m.mu.Lock()
	m.pending = &c
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take returns the claim to send next, if any.
func (m *instanceMetadata) take() *claim {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.pending
	m.pending = nil
	return c
}

// retry puts c back unless a newer claim is pending.
func (m *instanceMetadata) retry(c *claim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		m.pending = c
	}
}

var errMetadataStopped = errors.New("streams: instance metadata stopped")

func (m *instanceMetadata) publish() {
	defer m.loops.Done()
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		for c := m.take(); c != nil; c = m.take() {
			value, err := json.Marshal(c)
			if err == nil {
				m.mu.Lock()
				m.announced = true // sent or not, the close deletes it
				m.mu.Unlock()
				err = m.send(value, m.stop)
			}
			if errors.Is(err, errMetadataStopped) {
				return
			}
			if err == nil {
				backoff = 100 * time.Millisecond
				continue
			}
			m.logger.Warn("announcing this instance's tasks on the instance-metadata topic failed; retrying",
				zap.String("topic", m.topic), zap.Int64("assignment", c.Seq), zap.Duration("in", backoff), zap.Error(err))
			m.retry(c)
			select {
			case <-m.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// send writes this instance's record (a claim, or a nil tombstone) and
// waits for its acknowledgement, or until stop is closed.
func (m *instanceMetadata) send(value []byte, stop <-chan struct{}) error {
	delivered := make(chan kafka.Event, 1)
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &m.topic, Partition: 0}, Key: []byte(m.self), Value: value}
	if err := m.prod.Produce(msg, delivered); err != nil {
		return err
	}
	select {
	case ev := <-delivered:
		if dm, ok := ev.(*kafka.Message); ok && dm.TopicPartition.Error != nil {
			return dm.TopicPartition.Error
		}
		return nil
	case <-stop:
		return errMetadataStopped
	}
}

// producerEvents logs the producer's errors until it closes.
func (m *instanceMetadata) producerEvents() {
	defer close(m.events)
	for ev := range m.prod.Events() {
		if e, ok := ev.(kafka.Error); ok {
			m.logger.Warn("instance-metadata producer", zap.Error(e))
		}
	}
}

// read applies the topic's records to the view until stop; the view is
// caught up once the consumer's position reaches the end offset the topic
// had when reading started.
func (m *instanceMetadata) read() {
	defer m.loops.Done()
	tp := []kafka.TopicPartition{{Topic: &m.topic, Partition: 0}}
	end := int64(-1)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		if end < 0 {
			low, high, err := m.cons.QueryWatermarkOffsets(m.topic, 0, 1000)
			switch {
			case err != nil:
				m.logger.Debug("instance metadata: end offset", zap.Error(err))
			case high <= low:
				end = high
				m.view.setCaughtUp()
			default:
				end = high
			}
		}
		switch e := m.cons.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				m.logger.Warn("instance metadata: reading", zap.Error(e.TopicPartition.Error))
				continue
			}
			m.view.apply(int64(e.TopicPartition.Offset), e.Key, e.Value)
		case kafka.Error:
			if e.IsFatal() {
				m.consFatal = true
				m.view.setFailed(e)
				m.logger.Error("instance-metadata consumer failed; lookups of other instances stop here", zap.Error(e))
				return
			}
			m.logger.Warn("instance-metadata consumer", zap.Error(e))
		}
		if end >= 0 && m.view.ready() != "" {
			if pos, err := m.cons.Position(tp); err == nil && len(pos) == 1 && int64(pos[0].Offset) >= end {
				m.view.setCaughtUp()
			}
		}
	}
}

// close stops the goroutines and, after a clean run (tombstone), deletes
// this instance's claim from the topic, waiting at most until deadline. A
// claim still in the producer's queue is written before the tombstone
// (one producer, one partition, idempotent: in order).
func (m *instanceMetadata) close(tombstone bool, deadline time.Time) {
	close(m.stop)
	m.loops.Wait() // within a poll or a watermark query (1 s)
	if tombstone && m.announced {
		done := make(chan struct{})
		timer := time.AfterFunc(max(min(time.Until(deadline), 5*time.Second), time.Second), func() { close(done) })
		if err := m.send(nil, done); err != nil {
			m.logger.Warn("could not delete this instance's claim from the instance-metadata topic; the instances that take its "+
				"tasks replace it", zap.Error(err))
		}
		timer.Stop()
	}
	if err := m.prod.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking); err != nil {
		m.logger.Debug("purge instance-metadata producer", zap.Error(err))
	}
	m.prod.Close()
	<-m.events
	if err := closeConsumer(m.cons, m.consFatal, deadline); err != nil {
		m.logger.Warn("close instance-metadata consumer", zap.Error(err))
	}
}
