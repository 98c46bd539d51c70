package crashtest

// The parent's own Kafka clients: the input producer and the output
// readers.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// input is the workload: which key each input record has, in production
// order, and how many records each key gets.
type input struct {
	keys []string
	seqs []int64 // seqs[i]: records[i]'s sequence number within its key
	want map[string]int64
}

func keyName(k int) string { return fmt.Sprintf("k%04d", k) }

func makeInput(rng interface{ IntN(int) int }, keys, records int) *input {
	in := &input{want: map[string]int64{}}
	for i := 0; i < records; i++ {
		k := keyName(rng.IntN(keys))
		in.want[k]++
		in.keys = append(in.keys, k)
		in.seqs = append(in.seqs, in.want[k])
	}
	return in
}

// produceInput writes the input at an even pace over d, then waits for every
// acknowledgement. Keys are partitioned as Java clients do (murmur2), so each
// key's records keep their order in one partition.
func produceInput(ctx context.Context, bootstrap string, in *input, d time.Duration, progress func(sent int)) error {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"enable.idempotence": true, "linger.ms": 5, "go.logs.channel.enable": false, "log_level": 3,
		"go.delivery.report.fields": "key"})
	if err != nil {
		return err
	}
	defer p.Close()
	var mu sync.Mutex
	var failed error
	acked := 0
	allAcked := make(chan struct{})
	go func() {
		for e := range p.Events() {
			m, ok := e.(*kafka.Message)
			if !ok {
				continue
			}
			mu.Lock()
			if m.TopicPartition.Error != nil && failed == nil {
				failed = fmt.Errorf("input delivery: %w", m.TopicPartition.Error)
			}
			acked++
			if acked == len(in.keys) {
				close(allAcked)
			}
			mu.Unlock()
		}
	}()
	topic := inputTopic
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for sent < len(in.keys) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := int(float64(len(in.keys)) * min(1, float64(time.Since(start))/float64(d)))
		for ; sent < due; sent++ {
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
				Key: []byte(in.keys[sent]), Value: binary.BigEndian.AppendUint64(nil, uint64(in.seqs[sent]))}
			for {
				err := p.Produce(m, nil)
				if err == nil {
					break
				}
				var ke kafka.Error
				if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
					time.Sleep(time.Millisecond)
					continue
				}
				return fmt.Errorf("produce input: %w", err)
			}
		}
		if progress != nil {
			progress(sent)
		}
	}
	select {
	case <-allAcked:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("only %d of %d input records acknowledged within 60s", acked, len(in.keys))
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	return failed
}

// out is one output record.
type out struct {
	key       string
	r         result
	partition int32
	offset    int64
}

func newReader(bootstrap string, committed bool) (*kafka.Consumer, error) {
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": "crashtest-reader",
		"enable.auto.commit": false, "isolation.level": iso, "go.logs.channel.enable": false, "log_level": 3,
		"fetch.queue.backoff.ms": 0})
	if err != nil {
		return nil, err
	}
	topic := outputTopic
	var tps []kafka.TopicPartition
	for p := int32(0); p < partitions; p++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func decodeOut(m *kafka.Message) (out, error) {
	r, err := decodeResult(m.Value)
	if err != nil {
		return out{}, fmt.Errorf("output %d@%d: %w", m.TopicPartition.Partition, m.TopicPartition.Offset, err)
	}
	return out{key: string(m.Key), r: r, partition: m.TopicPartition.Partition, offset: int64(m.TopicPartition.Offset)}, nil
}

// liveReader follows the output while the Apps run: it tells the parent
// when every key's last input has a result and how long the output stalled.
type liveReader struct {
	mu       sync.Mutex
	maxSeq   map[string]int64
	records  int
	last     time.Time
	stall    time.Duration // longest gap between two records while measuring
	measure  bool
	err      error
	cancel   context.CancelFunc
	finished chan struct{}
}

func startLiveReader(bootstrap string, committed bool) (*liveReader, error) {
	c, err := newReader(bootstrap, committed)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	lr := &liveReader{maxSeq: map[string]int64{}, cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(lr.finished)
		defer c.Close()
		for ctx.Err() == nil {
			ev := c.Poll(50)
			m, ok := ev.(*kafka.Message)
			if !ok {
				continue
			}
			o, err := decodeOut(m)
			lr.mu.Lock()
			if err != nil && lr.err == nil {
				lr.err = err
			}
			now := time.Now()
			if lr.measure && !lr.last.IsZero() {
				lr.stall = max(lr.stall, now.Sub(lr.last))
			}
			lr.last = now
			lr.records++
			lr.maxSeq[o.key] = max(lr.maxSeq[o.key], o.r.Seq)
			lr.mu.Unlock()
		}
	}()
	return lr, nil
}

// setMeasuring turns the stall measurement on or off.
func (lr *liveReader) setMeasuring(on bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.measure = on
	lr.last = time.Time{}
}

// missing returns how many keys still lack a result for their last input,
// and a few of them.
func (lr *liveReader) missing(want map[string]int64) (int, []string) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	var keys []string
	for k, n := range want {
		if lr.maxSeq[k] < n {
			keys = append(keys, fmt.Sprintf("%s (has %d of %d)", k, lr.maxSeq[k], n))
		}
	}
	slices.Sort(keys)
	total := len(keys)
	return total, keys[:min(len(keys), 5)]
}

func (lr *liveReader) close() {
	lr.cancel()
	<-lr.finished
}

// readAll reads the whole output, with every App stopped: until each
// partition's position reaches the high watermark it had at the start.
func readAll(bootstrap string, committed bool, timeout time.Duration) ([]out, error) {
	c, err := newReader(bootstrap, committed)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	topic := outputTopic
	high := make([]int64, partitions)
	for p := int32(0); p < partitions; p++ {
		_, h, err := c.QueryWatermarkOffsets(topic, p, 10_000)
		if err != nil {
			return nil, fmt.Errorf("watermarks of %s-%d: %w", topic, p, err)
		}
		high[p] = h
	}
	var all []out
	deadline := time.Now().Add(timeout)
	for {
		done := true
		var tps []kafka.TopicPartition
		for p := int32(0); p < partitions; p++ {
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p})
		}
		pos, err := c.Position(tps)
		if err != nil {
			return nil, err
		}
		for _, tp := range pos {
			if int64(tp.Offset) < high[tp.Partition] {
				done = false
			}
		}
		if done {
			return all, nil
		}
		if time.Now().After(deadline) {
			return all, fmt.Errorf("output read incomplete after %v: positions %v, high watermarks %v (%d records read)",
				timeout, pos, high, len(all))
		}
		m, ok := c.Poll(50).(*kafka.Message)
		if !ok {
			continue
		}
		o, err := decodeOut(m)
		if err != nil {
			return nil, err
		}
		all = append(all, o)
	}
}
