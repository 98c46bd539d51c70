package rocksdb_test

import (
	"fmt"
	"github.com/millrace/millrace/internal/tasktest"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// countProcessor counts records per key in a key-value store: Get, add 1,
// Put, what a DSL count does per record (without forwarding the counts).
type countProcessor struct {
	counts store.KeyValueStore[string, int64]
}

func (p *countProcessor) Init(ctx processor.Context[string, int64]) error {
	s, err := processor.KeyValueStore[string, int64](ctx, "counts")
	p.counts = s
	return err
}

func (p *countProcessor) Process(r record.Record[string, []byte]) error {
	n, _, err := p.counts.Get(r.Key())
	if err != nil {
		return err
	}
	return p.counts.Put(r.Key(), n+1)
}

func (p *countProcessor) Close() error { return nil }

// discardCollector drops what sinks send.
type discardCollector struct{}

func (discardCollector) Send(string, int32, []byte, []byte, record.Headers, int64) error { return nil }
func (discardCollector) PartitionCount(string) (int32, error)                            { return 1, nil }

// BenchmarkCountThroughTask counts records per key through a real task:
// source (8-byte string keys "k0001234", 16-byte values) -> a processor
// doing Get, +1, Put on a cached key-value store of (string, int64), over
// 10k keys (in a fixed permutation, so consecutive records have unrelated
// keys), with a timed commit (cache flush) every benchCommitEvery records,
// and every benchCommitEveryEOS records: exactly-once's 100 ms commit
// interval at the goal of 4 M records/s (at-least-once commits every 30 s).
// The record cache (100 MiB) holds every key, so Gets hit. records/s counts
// input records. The counts are checked afterwards: they add up to the
// records processed.
func BenchmarkCountThroughTask(b *testing.B) {
	for _, be := range benchBackends {
		b.Run("backend="+be.name, func(b *testing.B) {
			for _, every := range []int{benchCommitEvery, benchCommitEveryEOS} {
				b.Run(fmt.Sprintf("commit-every=%d", every), func(b *testing.B) { benchCountThroughTask(b, be.supplier, every) })
			}
		})
	}
}

// benchCommitEveryEOS is the records between two commits of exactly-once's
// 100 ms commit interval at 4 M records/s.
const benchCommitEveryEOS = 400_000

func benchCountThroughTask(b *testing.B, supplier func(string) store.KeyValueBytesSupplier, commitEvery int) {
	const keys = 10_000
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.Bytes(), "in")
	processor.AddProcessor(bld, "count", func() processor.Processor[string, []byte, string, int64] { return &countProcessor{} }, "in").
		WithStores("counts")
	bld.AddStore(store.NewKeyValueBuilder(supplier("counts"), record.String(), record.Int64()).WithCaching())
	topo, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	t := tasktest.Start(b, topo, discardCollector{}, benchCacheBytes)
	batch := make([]record.ConsumerRecord, keys)
	for i := range batch {
		batch[i] = record.ConsumerRecord{Topic: "in", Key: fmt.Appendf(nil, "k%07d", i*7919%keys), Value: make([]byte, 16)}
	}
	var offset int64
	refill := func() {
		for i := range batch {
			batch[i].Offset, batch[i].Timestamp = offset, offset/10
			offset++
		}
		if err := t.AddRecords("in", 0, batch); err != nil {
			b.Fatal(err)
		}
	}
	group := t.PartitionGroup()
	// Warm up: every key is in the store and the cache before the timer.
	for range keys {
		if group.NumBuffered() == 0 {
			refill()
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	var committing time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if group.NumBuffered() == 0 {
			refill()
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if i%commitEvery == 0 {
			began := time.Now()
			if _, err := t.Commit(); err != nil {
				b.Fatal(err)
			}
			committing += time.Since(began)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// The commits' share of each record's time, so the rate at another
	// commit cadence can be worked out: (ns/op - commit-ns/rec) is the
	// per-record path, commit-ns/rec scales with commits per record.
	b.ReportMetric(float64(committing.Nanoseconds())/float64(b.N), "commit-ns/rec")
	// Process what the last refill left, so every key's count is known.
	for group.NumBuffered() > 0 {
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	s, _ := t.Store("counts")
	it, err := s.(store.KeyValueStore[string, int64]).All()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	var total int64
	for it.Next() {
		total += it.Value()
	}
	if err := it.Err(); err != nil {
		b.Fatal(err)
	}
	if total != offset {
		b.Fatalf("counts add up to %d, want %d records", total, offset)
	}
}
