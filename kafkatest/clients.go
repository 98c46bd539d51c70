package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace/record"
)

// The client helpers below use franz-go's pure-Go client, so tests that use
// them need no client code (and no cgo) of their own.

// ErrTimeout is wrapped by the error of Read when fewer records than asked
// for arrived within the timeout.
var ErrTimeout = errors.New("kafkatest: timed out")

// DefaultTimeout bounds Produce, Read and ReadUntil when their options give
// none, and CreateTopic on a connected cluster.
const DefaultTimeout = 30 * time.Second

// ErrTopicExists is wrapped by the error of CreateTopic when the topic is
// already there.
var ErrTopicExists = errors.New("kafkatest: topic already exists")

// CreateTopic creates topic with the given partition count (and the
// cluster's default replication factor). A topic that exists already is
// an error wrapping ErrTopicExists.
func (c *Cluster) CreateTopic(topic string, partitions int32) error {
	seeds := c.seeds()
	if seeds == nil {
		return errors.New("kafkatest: CreateTopic on a cluster that is not running")
	}
	if partitions <= 0 {
		return fmt.Errorf("kafkatest: topic %q needs at least one partition, got %d", topic, partitions)
	}
	var err error
	if c.c != nil {
		err = c.c.CreateTopic(topic, partitions, nil)
	} else {
		err = createTopic(seeds, topic, partitions)
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("%w: %q", ErrTopicExists, topic)
	case err != nil:
		return fmt.Errorf("kafkatest: create topic %q: %w", topic, err)
	}
	return nil
}

// createTopic sends a CreateTopics request to the controller of seeds.
func createTopic(seeds []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(DefaultTimeout / time.Millisecond)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("the broker answered for %d topics, not 1", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		if msg := resp.Topics[0].ErrorMessage; msg != nil && *msg != "" {
			return fmt.Errorf("%w (%s)", err, *msg)
		}
		return err
	}
	return nil
}

// Produce writes recs to topic, serialized with keys and values, and
// returns once the cluster has acknowledged every one (or DefaultTimeout
// passed). Null keys and values are written as null, timestamps and
// headers as they are. A keyed record's partition is the murmur2 hash of
// its key bytes, Kafka's default, which is also where the App's producer
// puts keys: co-partitioned topics written here line up.
func Produce[K, V any](c *Cluster, topic string, keys record.Serializer[K], values record.Serializer[V], recs ...record.Record[K, V]) error {
	seeds := c.seeds()
	if seeds == nil {
		return errors.New("kafkatest: Produce on a cluster that is not running")
	}
	if keys == nil || values == nil {
		return fmt.Errorf("kafkatest: Produce to %q: nil serializer", topic)
	}
	out := make([]*kgo.Record, 0, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Timestamp: time.UnixMilli(r.Timestamp())}
		var err error
		if !r.KeyIsNull() {
			if kr.Key, err = serialize(keys, r.Key()); err != nil {
				return fmt.Errorf("kafkatest: Produce to %q: record %d: key: %w", topic, i, err)
			}
		}
		if !r.ValueIsNull() {
			if kr.Value, err = serialize(values, r.Value()); err != nil {
				return fmt.Errorf("kafkatest: Produce to %q: record %d: value: %w", topic, i, err)
			}
		}
		for _, h := range r.Headers() {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		out = append(out, kr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return fmt.Errorf("kafkatest: Produce to %q: %w", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("kafkatest: Produce to %q: %w", topic, err)
	}
	return nil
}

// serialize encodes v; a nil result (an empty encoding) is written as
// empty, not null: null is the record's flag.
func serialize[T any](s record.Serializer[T], v T) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // a serializer is user code
			b, err = nil, fmt.Errorf("serializer panicked: %v", p)
		}
	}()
	b, err = s.Serialize(nil, v)
	if err == nil && b == nil {
		b = []byte{}
	}
	return b, err
}

// ReadOptions configures Read and ReadUntil.
type ReadOptions struct {
	// Timeout bounds the read; 0 means DefaultTimeout.
	Timeout time.Duration
	// ReadUncommitted also returns records of open and aborted
	// transactions; by default Read sees committed records only, as an
	// exactly-once App's consumers do.
	ReadUncommitted bool
}

// Read reads topic from the start of every partition until n records have
// arrived, decodes them with keys and values (null bytes become null keys
// and values) and returns them, in partition order within each
// partition. Fewer than n within the timeout is an error wrapping
// ErrTimeout, returned with what did arrive.
func Read[K, V any](c *Cluster, topic string, keys record.Deserializer[K], values record.Deserializer[V], n int, opts ReadOptions) ([]record.Record[K, V], error) {
	var out []record.Record[K, V]
	if n <= 0 {
		return out, checkRead(c, "Read", []string{topic}, keys, values)
	}
	err := read(c, "Read", []string{topic}, keys, values, opts, func(_ string, r record.Record[K, V]) bool {
		out = append(out, r)
		return len(out) >= n
	})
	if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: %d of %d records from %q within %v", ErrTimeout, len(out), n, topic, opts.timeout())
	}
	return out, err
}

// ReadUntil reads topics from the start of every partition, decodes each
// record with keys and values (null bytes become null keys and values) and
// passes it, with its topic, to done, in partition order within each
// partition, until done returns true. It is for outputs whose record count
// is not known in advance, such as a cached aggregation's updates: read
// until the last expected value has arrived. done not returning true
// within the timeout is an error wrapping ErrTimeout.
func ReadUntil[K, V any](c *Cluster, topics []string, keys record.Deserializer[K], values record.Deserializer[V], opts ReadOptions, done func(topic string, r record.Record[K, V]) bool) error {
	if done == nil {
		return fmt.Errorf("kafkatest: ReadUntil from %q: nil done function", topics)
	}
	err := read(c, "ReadUntil", topics, keys, values, opts, done)
	if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: reading %q, the condition did not hold within %v", ErrTimeout, topics, opts.timeout())
	}
	return err
}

// checkRead reports what makes a read impossible: no cluster, no topic, a
// nil deserializer.
func checkRead[K, V any](c *Cluster, op string, topics []string, keys record.Deserializer[K], values record.Deserializer[V]) error {
	switch {
	case c.seeds() == nil:
		return fmt.Errorf("kafkatest: %s on a cluster that is not running", op)
	case len(topics) == 0:
		return fmt.Errorf("kafkatest: %s: no topic given", op)
	case keys == nil || values == nil:
		return fmt.Errorf("kafkatest: %s from %q: nil deserializer", op, topics)
	}
	return nil
}

func (o ReadOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// read consumes topics from their start and calls done for each decoded
// record until done returns true. It returns ErrTimeout itself when the
// timeout passes first.
func read[K, V any](c *Cluster, op string, topics []string, keys record.Deserializer[K], values record.Deserializer[V], opts ReadOptions, done func(string, record.Record[K, V]) bool) error {
	if err := checkRead(c, op, topics, keys, values); err != nil {
		return err
	}
	seeds := c.seeds()
	isolation := kgo.ReadCommitted()
	if opts.ReadUncommitted {
		isolation = kgo.ReadUncommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(isolation))
	if err != nil {
		return fmt.Errorf("kafkatest: %s from %q: %w", op, topics, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout())
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ErrTimeout
		}
		var decodeErr error
		finished := false
		fetches.EachRecord(func(kr *kgo.Record) {
			if decodeErr != nil || finished {
				return
			}
			r, err := decode(kr, keys, values)
			if err != nil {
				decodeErr = fmt.Errorf("kafkatest: %s from %q: partition %d offset %d: %w", op, kr.Topic, kr.Partition, kr.Offset, err)
				return
			}
			finished = done(kr.Topic, r)
		})
		if decodeErr != nil {
			return decodeErr
		}
		if finished {
			return nil
		}
	}
}

func decode[K, V any](kr *kgo.Record, keys record.Deserializer[K], values record.Deserializer[V]) (r record.Record[K, V], err error) {
	defer func() {
		if p := recover(); p != nil { // a deserializer is user code
			r, err = record.Record[K, V]{}, fmt.Errorf("deserializer panicked: %v", p)
		}
	}()
	var k K
	var v V
	if kr.Key != nil {
		if k, err = keys.Deserialize(kr.Key); err != nil {
			return record.Record[K, V]{}, fmt.Errorf("key: %w", err)
		}
	}
	if kr.Value != nil {
		if v, err = values.Deserialize(kr.Value); err != nil {
			return record.Record[K, V]{}, fmt.Errorf("value: %w", err)
		}
	}
	r, err = record.New(k, v, max(kr.Timestamp.UnixMilli(), 0))
	if err != nil {
		return record.Record[K, V]{}, err
	}
	if len(kr.Headers) > 0 {
		hs := make(record.Headers, 0, len(kr.Headers))
		for _, h := range kr.Headers {
			hs = append(hs, record.Header{Key: h.Key, Value: h.Value})
		}
		r = r.WithHeaders(hs)
	}
	if kr.Key == nil {
		r = r.WithNullKey()
	}
	if kr.Value == nil {
		r = r.WithNullValue()
	}
	return r, nil
}
