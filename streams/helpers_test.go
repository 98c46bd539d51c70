package streams_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/streams"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func cluster(t testing.TB, topics map[string]int32) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(kafkatest.Config{Topics: topics})
	must(t, err)
	t.Cleanup(c.Close)
	return c
}

type kv struct {
	key, value string
	ts         int64
}

// produce writes records (keyed, so they land where Java clients put them)
// and waits for every acknowledgement.
func produce(t testing.TB, bootstrap, topic string, recs []kv) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"go.logs.channel.enable": false, "linger.ms": 5, "log_level": 3})
	must(t, err)
	defer p.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	var failed error
	go func() {
		defer wg.Done()
		n := 0
		for e := range p.Events() {
			if m, ok := e.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil && failed == nil {
					failed = m.TopicPartition.Error
				}
				n++
				if n == len(recs) {
					return
				}
			}
		}
	}()
	for _, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Value: []byte(r.value), Timestamp: time.UnixMilli(r.ts)}
		if r.key != "" {
			m.Key = []byte(r.key)
		}
		for {
			err := p.Produce(m, nil)
			if err == nil {
				break
			}
			if ke, ok := err.(kafka.Error); ok && ke.Code() == kafka.ErrQueueFull {
				time.Sleep(time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("producing timed out")
	}
	must(t, failed)
}

// consumed is one output record.
type consumed struct {
	key, value []byte
	ts         int64
	partition  int32
	offset     int64
}

// consumeUntil reads topic from the beginning (read_committed when
// committed is set) until done says so or the timeout passes.
func consumeUntil(t testing.TB, bootstrap, topic string, committed bool, timeout time.Duration, done func([]consumed) bool, apps ...*running) []consumed {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": fmt.Sprintf("reader-%d", time.Now().UnixNano()),
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "isolation.level": iso, "go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer c.Close()
	must(t, c.SubscribeTopics([]string{topic}, nil))
	var out []consumed
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if done(out) {
			return out
		}
		for _, a := range apps {
			if a.app.State() == streams.Error {
				t.Fatalf("App failed while waiting for output: %v", a.stop(t))
			}
		}
		if m, ok := c.Poll(50).(*kafka.Message); ok {
			out = append(out, consumed{key: m.Key, value: m.Value, ts: m.Timestamp.UnixMilli(),
				partition: m.TopicPartition.Partition, offset: int64(m.TopicPartition.Offset)})
		}
	}
	return out
}

// running is an App running in the background.
type running struct {
	app  *streams.App
	done chan error
}

func start(t testing.TB, topo *processor.Topology, cfg streams.Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 2 * time.Second
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 20 * time.Second
	}
	app, err := streams.New(topo, cfg)
	must(t, err)
	r := &running{app: app, done: make(chan error, 1)}
	go func() { r.done <- app.Run(context.Background()) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop closes the App and returns Run's error.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- r.app.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not return within 60s")
	}
	return nil
}

// waitState waits until the App reaches a state.
func waitState(t testing.TB, app *streams.App, want streams.State, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for app.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("App in state %s after %v, want %s", app.State(), timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
