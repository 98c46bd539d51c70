package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/millrace/millrace/internal/murmur2"
	"hash"
	"io"
	"log"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// The goka-count row is Goka's count per key, written as its examples
// count (goka.DefineGroup with Input, Persist and Output; ctx.Value,
// ctx.SetValue, ctx.Emit of every new count), on the same broker as the
// other rows and the same input. Its guarantee is at-least-once, as the
// App's default: Goka marks an input offset only once the table write and
// the emit of its record are acknowledged, and sarama commits marked
// offsets every second. Storage: Goka's default, LevelDB, in the row's
// state directory (the App's count uses RocksDB with a cache).
//
// Goka's output timestamps are its emit times (sarama stamps records it
// is given none), so the input's timestamp travels in the bench-ts header
// for the latency reader; that costs Goka a small header per record.
//
// sarama is set up as a performance-minded user would for this broker and
// guarantee; gokaTuningText lists the settings. Keys are hashed as Kafka
// hashes them (kafkaHasher), since the input comes from a librdkafka
// producer.

// latencyHeader carries the input timestamp (8 bytes, big-endian Unix
// milliseconds) through processors that do not keep record timestamps.
const latencyHeader = "bench-ts"

// gokaConfig is the sarama configuration of the goka-count row.
func gokaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	// The newest version on which sarama's group consumer and kfake agree:
	// from V2_4_0_0 (flexible group requests) sarama fails to decode a
	// group response ("kafka: error decoding packet: invalid byteslice
	// length").
	cfg.Version = sarama.V2_3_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Fetch.Default = 4 << 20
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.ChannelBufferSize = 4096
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Messages = 10_000
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1 // sarama requires it for idempotence
	return cfg
}

// gokaTuningText describes the sarama settings for the report.
func gokaTuningText() string {
	return "sarama " + gokaConfig().Version.String() + ", Offsets.Initial=oldest Fetch.Default=4MiB MaxWaitTime=100ms ChannelBufferSize=4096;\n" +
		"    producer Idempotent=true RequiredAcks=all MaxOpenRequests=1 Compression=none Flush.Frequency=5ms Flush.Bytes=1MiB Flush.Messages=10000;\n" +
		"    storage LevelDB (goka's default), Kafka's murmur2 key hasher (Goka's default is FNV-1a), offsets auto-committed every 1 s once processed"
}

// kafkaHasher makes Goka place keys where Java clients, librdkafka's
// murmur2_random and the App do: Goka's default hasher is FNV-1a, which
// would send the counts (and Goka's table writes) of a key read from
// partition p to another partition. Sarama's hash partitioner takes
// int32(Sum32) mod n, so Sum32 returns murmur2 with the sign bit
// cleared: Kafka's toPositive(murmur2(key)) mod n.
type kafkaHasher struct{ b []byte }

func newKafkaHasher() hash.Hash32 { return &kafkaHasher{} }

func (h *kafkaHasher) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }
func (h *kafkaHasher) Sum32() uint32               { return uint32(murmur2.Positive(h.b)) }
func (h *kafkaHasher) Reset()                      { h.b = h.b[:0] }
func (h *kafkaHasher) Size() int                   { return 4 }
func (h *kafkaHasher) BlockSize() int              { return 4 }

func (h *kafkaHasher) Sum(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, h.Sum32())
}

// gokaHandle runs a Goka processor; it is ready once WaitForReady returns.
type gokaHandle struct {
	p      *goka.Processor
	cancel context.CancelFunc
	readyC chan struct{}
	at     time.Time
	done   chan struct{}
	err    error
	once   sync.Once
}

func startGoka(spec childSpec) (*gokaHandle, error) {
	goka.ReplaceGlobalConfig(gokaConfig())
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	out := goka.Stream(spec.Out)
	count := func(ctx goka.Context, _ any) {
		var n int64
		if v := ctx.Value(); v != nil {
			n = v.(int64)
		}
		n++
		ctx.SetValue(n)
		var ts [8]byte
		binary.BigEndian.PutUint64(ts[:], uint64(ctx.Timestamp().UnixMilli()))
		ctx.Emit(out, ctx.Key(), n, goka.WithCtxEmitHeaders(goka.Headers{latencyHeader: ts[:]}))
	}
	g := goka.DefineGroup(goka.Group(spec.AppID),
		goka.Input(goka.Stream(spec.In), new(codec.Bytes), count),
		goka.Output(out, new(codec.Int64)),
		goka.Persist(new(codec.Int64)),
	)
	p, err := goka.NewProcessor(strings.Split(spec.Bootstrap, ","), g,
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithTopicManagerConfig(tmc)),
		goka.WithStorageBuilder(storage.DefaultBuilder(filepath.Join(spec.StateDir, "goka"))),
		goka.WithHasher(newKafkaHasher),
		goka.WithLogger(log.New(io.Discard, "", 0)))
	if err != nil {
		return nil, fmt.Errorf("goka processor: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &gokaHandle{p: p, cancel: cancel, readyC: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.err = p.Run(ctx)
	}()
	go func() {
		if p.WaitForReadyContext(ctx) == nil {
			select {
			case <-h.done: // WaitForReady also returns when Run ended
			default:
				h.at = time.Now()
				close(h.readyC)
			}
		}
	}()
	return h, nil
}

func (h *gokaHandle) ready() <-chan struct{}  { return h.readyC }
func (h *gokaHandle) readyAt() time.Time      { return h.at }
func (h *gokaHandle) exited() <-chan struct{} { return h.done }

func (h *gokaHandle) stop() error {
	h.once.Do(h.cancel)
	<-h.done
	if h.err != nil && strings.Contains(h.err.Error(), context.Canceled.Error()) {
		return nil
	}
	return h.err
}
