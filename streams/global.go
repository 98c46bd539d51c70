package streams

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// globals keeps the instance's global stores: restored in full from their
// topics before any task starts (from the beginning: the topic is the
// changelog), then kept up to date by one goroutine. Tasks read them
// through read-only views.
type globals struct {
	cons *kafka.Consumer
	// reader reads the consumer's records in batches (rdkbatch), buf
	// holds a batch; nil when the Reader refused the consumer, which is
	// then polled record by record.
	reader *rdkbatch.Reader
	buf    []rdkbatch.Message
	specs  []processor.GlobalStore
	stores map[string]store.StateStore
	views  map[string]store.StateStore
	logger *zap.Logger
	m      *metrics
	stop   chan struct{}
	done   chan struct{}
	// running: run was started, so close must stop it and wait for it;
	// before that (a failed start) there is nothing to wait for.
	running bool
	// fatal: the consumer raised a fatal error (it cannot be closed).
	fatal  bool
	mu     sync.Mutex
	failed error
}

func startGlobals(ctx context.Context, cl *clients, topo *processor.Topology, appDir string, m *metrics) (*globals, error) {
	cfg := cl.cfg
	g := &globals{specs: topo.GlobalStores(), stores: map[string]store.StateStore{}, views: map[string]store.StateStore{},
		logger: cfg.Logger, m: m, stop: make(chan struct{}), done: make(chan struct{})}
	if len(g.specs) == 0 {
		close(g.done)
		return g, nil
	}
	dir := filepath.Join(appDir, "global")
	if err := os.RemoveAll(dir); err != nil { // restored from the topics every start
		return nil, fmt.Errorf("streams: global state directory: %w", err)
	}
	ictx := store.InitContext{TaskID: "global", ApplicationID: cfg.ApplicationID, StateDir: dir, Logger: cfg.Logger,
		Cache: store.NewCache(cfg.CacheMaxBytes)}
	for _, spec := range g.specs {
		st, err := spec.Builder.Build()
		if err == nil {
			err = st.Init(ictx)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("streams: global store %q: %w", spec.Name, err), g.closeStores())
		}
		g.stores[spec.Name] = st
		g.views[spec.Name] = spec.View(st)
	}
	c, err := cl.consumer(globalConsumer)
	if err != nil {
		return nil, errors.Join(err, g.closeStores())
	}
	g.cons = c
	if rd, err := rdkbatch.New(c, rdkbatch.Config{}); err != nil {
		g.logger.Warn("global consumer: batch reading unavailable; polling records one by one", zap.Error(err))
	} else {
		g.reader, g.buf = rd, make([]rdkbatch.Message, globalReadBatch)
	}
	ends := map[topicPartition]int64{}
	var assign []kafka.TopicPartition
	md, err := c.GetMetadata(nil, true, int(cfg.StartupTimeout.Milliseconds()))
	if err != nil {
		g.close()
		return nil, fmt.Errorf("streams: global stores: metadata: %w", err)
	}
	for _, spec := range g.specs {
		for _, p := range md.Topics[spec.Topic].Partitions {
			t := spec.Topic
			low, high, err := c.QueryWatermarkOffsets(t, p.ID, int(cfg.StartupTimeout.Milliseconds()))
			if err != nil {
				g.close()
				return nil, fmt.Errorf("streams: global store %q: end offset of %s-%d: %w", spec.Name, t, p.ID, err)
			}
			if high > low {
				// Nothing to read otherwise (empty, or every record deleted):
				// the position would never move to reach the end.
				ends[topicPartition{t, p.ID}] = high
			}
			assign = append(assign, kafka.TopicPartition{Topic: &t, Partition: p.ID, Offset: kafka.OffsetBeginning})
		}
	}
	if g.reader != nil {
		if err := g.reader.Add(assign); err != nil {
			g.close()
			return nil, fmt.Errorf("streams: global stores: batch reader: %w", err)
		}
	}
	if err := c.Assign(assign); err != nil {
		g.close()
		return nil, fmt.Errorf("streams: global stores: assign: %w", err)
	}
	// Restore in full before tasks start.
	start := time.Now()
	var n int64
	for len(ends) > 0 {
		if ctx.Err() != nil {
			g.close()
			return nil, ctx.Err()
		}
		if err := g.read(&n); err != nil {
			g.close()
			return nil, err
		}
		pos, err := c.Position(assign)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("streams: global stores: positions: %w", err)
		}
		for _, p := range pos {
			tp := topicPartition{*p.Topic, p.Partition}
			if end, ok := ends[tp]; ok && int64(p.Offset) >= end {
				delete(ends, tp)
			}
		}
	}
	for _, st := range g.stores {
		if err := st.Flush(); err != nil {
			g.close()
			return nil, err
		}
	}
	g.logger.Info("global stores restored", zap.Int64("records", n), zap.Duration("took", time.Since(start)))
	g.running = true
	go g.run()
	return g, nil
}

// globalReadBatch is how many records one batch read returns at most.
const globalReadBatch = 1000

// read applies what the consumer has: a batch of records (waiting up to
// 50 ms for the first), then the consumer queue's events; without the
// batch reader, one polled event. Records are counted in n.
func (g *globals) read(n *int64) error {
	if g.reader == nil {
		return g.event(g.cons.Poll(50), n)
	}
	k, err := g.reader.Read(50*time.Millisecond, g.buf)
	if err != nil {
		return fmt.Errorf("streams: global stores: batch read: %w", err)
	}
	for i := range g.buf[:k] {
		m := &g.buf[i]
		if m.Err != nil {
			return fmt.Errorf("streams: global stores: reading %s-%d: %w", m.Topic, m.Partition, m.Err)
		}
		// The batch's bytes are reused by the next Read: stores copy what
		// they keep, as they do for a polled record's.
		if err := g.apply(m.Topic, m.Partition, m.Offset, m.Key, m.Value, m.Timestamp); err != nil {
			return err
		}
		*n++
	}
	// Errors stay on the consumer's own queue (the partitions' records
	// are forwarded to the reader's).
	for range 100 {
		ev := g.cons.Poll(0)
		if ev == nil {
			break
		}
		if err := g.event(ev, n); err != nil {
			return err
		}
	}
	return nil
}

func (g *globals) apply(topic string, partition int32, offset int64, key, value []byte, ts int64) error {
	for _, spec := range g.specs {
		if spec.Topic != topic {
			continue
		}
		raw := record.ConsumerRecord{Topic: spec.Topic, Partition: partition,
			Offset: offset, Key: key, Value: value, Timestamp: ts}
		skip, err := spec.Update(g.stores[spec.Name], &raw)
		if skip != "" {
			g.logger.Warn("global store: skipping record", zap.String("store", spec.Name), zap.String("reason", skip),
				zap.Stringer("record", raw.Metadata()), zap.Error(err))
			g.m.dropped(skip)
			continue
		}
		if err != nil {
			return fmt.Errorf("streams: global store %q: %w", spec.Name, err)
		}
	}
	return nil
}

func (g *globals) run() {
	defer close(g.done)
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-flush.C:
			for _, st := range g.stores {
				if err := st.Flush(); err != nil {
					g.setErr(err)
					return
				}
			}
		default:
		}
		var n int64
		if err := g.read(&n); err != nil {
			g.setErr(err)
			return
		}
	}
}

// event applies one consumer event: a record goes to its store (counted in
// n); an error that means the store cannot be kept current is returned.
func (g *globals) event(ev kafka.Event, n *int64) error {
	switch e := ev.(type) {
	case *kafka.Message:
		if e.TopicPartition.Error != nil {
			return fmt.Errorf("streams: global stores: reading %s-%d: %w", *e.TopicPartition.Topic, e.TopicPartition.Partition, e.TopicPartition.Error)
		}
		if err := g.apply(*e.TopicPartition.Topic, e.TopicPartition.Partition, int64(e.TopicPartition.Offset),
			e.Key, e.Value, e.Timestamp.UnixMilli()); err != nil {
			return err
		}
		*n++
	case kafka.Error:
		if e.IsFatal() {
			g.fatal = true
			return fmt.Errorf("streams: global consumer: fatal: %w", e)
		}
		g.logger.Warn("global consumer", zap.Error(e))
	}
	return nil
}

func (g *globals) setErr(err error) {
	g.mu.Lock()
	if g.failed == nil {
		g.failed = err
	}
	g.mu.Unlock()
}

func (g *globals) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

func (g *globals) close() {
	if g.running {
		select {
		case <-g.done:
		default:
			close(g.stop)
			<-g.done
		}
	}
	if g.reader != nil {
		_ = g.reader.Close() // before the consumer it reads
		g.reader = nil
	}
	if g.cons != nil {
		if err := closeConsumer(g.cons, g.fatal, time.Now().Add(consumerCloseTimeout)); err != nil {
			g.logger.Warn("close global consumer", zap.Error(err))
		}
		g.cons = nil
	}
	if err := g.closeStores(); err != nil {
		g.logger.Warn("closing global stores", zap.Error(err))
	}
}

// closeStores flushes and closes every global store and returns what
// failed.
func (g *globals) closeStores() error {
	var errs []error
	for name, st := range g.stores {
		if err := st.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("streams: global store %q: flush: %w", name, err))
		}
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("streams: global store %q: close: %w", name, err))
		}
	}
	g.stores = map[string]store.StateStore{}
	return errors.Join(errs...)
}
