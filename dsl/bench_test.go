package dsl_test

// DSL versus hand-written Processor API, side by side: each pair builds
// the same pipeline both ways and runs it through a real task (the
// PartitionGroup, the graph, the sink's serializers) with a collector that
// drops what it is sent, so the difference is what the DSL's processors
// cost per record. Run with
//
//	go test -run '^$' -bench . -benchmem ./dsl/

import (
	"fmt"
	"github.com/millrace/millrace/internal/tasktest"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

const (
	// benchKeys distinct 8-byte string keys, in a fixed scrambled order
	// (7919 is prime, coprime with benchKeys).
	benchKeys = 1000
	// benchCacheBytes is the record cache of a benchmark's task.
	benchCacheBytes = 64 << 20
	// benchCommitEvery records between two commits inside the timed loop:
	// a cached count compacts about ten updates of a key into one.
	benchCommitEvery = 10_000
)

type discard struct{ n int }

func (d *discard) Send(string, int32, []byte, []byte, record.Headers, int64) error {
	d.n++
	return nil
}
func (d *discard) PartitionCount(string) (int32, error) { return 1, nil }

// benchBatch is one of every key, values "value-<key>" (16 bytes).
func benchBatch() []record.ConsumerRecord {
	batch := make([]record.ConsumerRecord, benchKeys)
	for i := range batch {
		k := fmt.Appendf(nil, "k%07d", i*7919%benchKeys)
		batch[i] = record.ConsumerRecord{Topic: "in", Key: k, Value: append([]byte("value-"), k[:]...)}
	}
	return batch
}

// runThroughTask pipes b.N records through t, a batch at a time, committing
// every benchCommitEvery records, and returns after a last untimed commit.
func runThroughTask(b *testing.B, t *task.Task) {
	batch := benchBatch()
	var offset, ts int64
	group := t.PartitionGroup()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if group.NumBuffered() == 0 {
			for j := range batch {
				batch[j].Offset, batch[j].Timestamp = offset, ts
				offset++
				ts++
			}
			if err := t.AddRecords("in", 0, batch); err != nil {
				b.Fatal(err)
			}
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if i%benchCommitEvery == 0 {
			if _, err := t.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if _, err := t.Commit(); err != nil {
		b.Fatal(err)
	}
}

// keep drops keys ending in 0: a tenth of the records.
func keep(k, _ string) bool { return k[len(k)-1] != '0' }

func length(v string) int64 { return int64(len(v)) }

// BenchmarkFilterMapValuesTo is source -> filter -> mapValues -> sink.
func BenchmarkFilterMapValuesTo(b *testing.B) {
	check := func(b *testing.B, col *discard) {
		if want := b.N - (b.N/benchKeys)*(benchKeys/10); col.n < want-benchKeys/10 || col.n > want+benchKeys/10 {
			b.Fatalf("sink saw %d records of %d", col.n, b.N)
		}
	}
	b.Run("dsl", func(b *testing.B) {
		bld := dsl.NewBuilder()
		s := dsl.FromTopics(bld, []string{"in"}, record.String(), record.String())
		dsl.To(dsl.MapValues(dsl.Filter(s, keep), length), "out")
		col := &discard{}
		runThroughTask(b, tasktest.Start(b, mustBuild(b, bld), col, benchCacheBytes))
		check(b, col)
	})
	b.Run("processor", func(b *testing.B) {
		bld := processor.NewBuilder()
		processor.AddSource(bld, "in", record.String(), record.String(), "in")
		processor.AddProcessor(bld, "filter", func() processor.Processor[string, string, string, string] { return &filterProc{} }, "in")
		processor.AddProcessor(bld, "map", func() processor.Processor[string, string, string, int64] { return &mapProc{} }, "filter")
		processor.AddSink(bld, "out", "out", record.String(), record.Int64(), "map")
		topo, err := bld.Build()
		if err != nil {
			b.Fatal(err)
		}
		col := &discard{}
		runThroughTask(b, tasktest.Start(b, topo, col, benchCacheBytes))
		check(b, col)
	})
}

type filterProc struct {
	ctx processor.Context[string, string]
}

func (p *filterProc) Init(ctx processor.Context[string, string]) error { p.ctx = ctx; return nil }
func (p *filterProc) Process(r record.Record[string, string]) error {
	if keep(r.Key(), r.Value()) {
		return p.ctx.Forward(r)
	}
	return nil
}
func (p *filterProc) Close() error { return nil }

type mapProc struct {
	ctx processor.Context[string, int64]
}

func (p *mapProc) Init(ctx processor.Context[string, int64]) error { p.ctx = ctx; return nil }
func (p *mapProc) Process(r record.Record[string, string]) error {
	if r.ValueIsNull() {
		return p.ctx.Forward(record.WithValue(r, int64(0)).WithNullValue())
	}
	return p.ctx.Forward(record.WithValue(r, length(r.Value())))
}
func (p *mapProc) Close() error { return nil }

// BenchmarkGroupByKeyCount is source -> count per key (in-memory
// timestamped store, no changelog) -> sink of the new counts, cached (one
// update per key per commit) and uncached (one per record).
func BenchmarkGroupByKeyCount(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := map[bool]string{true: "cached", false: "uncached"}[cached]
		b.Run(name+"/dsl", func(b *testing.B) {
			bld := dsl.NewBuilder()
			opts := []dsl.Option{dsl.As("counts"), dsl.InMemory()}
			if !cached {
				opts = append(opts, dsl.WithoutCaching())
			}
			counts := dsl.Count(dsl.GroupByKey(dsl.FromTopics(bld, []string{"in"}, record.String(), record.String())), opts...)
			dsl.To(dsl.ToStream(counts), "out")
			col := &discard{}
			t := tasktest.Start(b, mustBuild(b, bld), col, benchCacheBytes)
			runThroughTask(b, t)
			checkCounts(b, t, col, cached)
		})
		b.Run(name+"/processor", func(b *testing.B) {
			bld := processor.NewBuilder()
			processor.AddSource(bld, "in", record.String(), record.String(), "in")
			processor.AddProcessor(bld, "count", func() processor.Processor[string, string, string, int64] { return &countProc{} }, "in")
			processor.AddSink(bld, "out", "out", record.String(), record.Int64(), "count")
			sb := store.NewTimestampedKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64())
			if cached {
				sb.WithCaching()
			}
			bld.AddStore(sb, "count")
			topo, err := bld.Build()
			if err != nil {
				b.Fatal(err)
			}
			col := &discard{}
			t := tasktest.Start(b, topo, col, benchCacheBytes)
			runThroughTask(b, t)
			checkCounts(b, t, col, cached)
		})
	}
}

func checkCounts(b *testing.B, t *task.Task, col *discard, cached bool) {
	b.Helper()
	switch {
	case !cached && col.n != b.N:
		b.Fatalf("sink saw %d updates for %d records", col.n, b.N)
	case cached && (col.n == 0 || col.n > b.N):
		b.Fatalf("sink saw %d updates for %d records", col.n, b.N)
	}
	b.ReportMetric(float64(col.n)/float64(b.N), "updates/record")
	s, ok := t.Store("counts")
	if !ok {
		b.Fatal("no store counts")
	}
	kvs, ok := s.(store.KeyValueStore[string, store.ValueAndTimestamp[int64]])
	if !ok {
		b.Fatalf("store is a %T", s)
	}
	var total int64
	for i := range benchKeys {
		v, _, err := kvs.Get(fmt.Sprintf("k%07d", i))
		if err != nil {
			b.Fatal(err)
		}
		total += v.Value
	}
	if total != int64(b.N) {
		b.Fatalf("counts add up to %d, want %d", total, b.N)
	}
}

// countProc is a hand-written count: read, add one, write, and forward
// the new count, at once without a cache or from the cache's flush.
type countProc struct {
	ctx    processor.Context[string, int64]
	s      store.KeyValueStore[string, store.ValueAndTimestamp[int64]]
	cached bool
}

func (p *countProc) Init(ctx processor.Context[string, int64]) error {
	p.ctx = ctx
	s, err := processor.KeyValueStore[string, store.ValueAndTimestamp[int64]](ctx, "counts")
	if err != nil {
		return err
	}
	p.s = s
	err = store.SetFlushListener(s, false, func(k string, nv, _ *store.ValueAndTimestamp[int64], _ int64) error {
		r, err := record.New(k, nv.Value, nv.Timestamp)
		if err != nil {
			return err
		}
		return ctx.Forward(r)
	})
	p.cached = err == nil
	return nil
}

func (p *countProc) Process(r record.Record[string, string]) error {
	if r.KeyIsNull() || r.ValueIsNull() {
		p.ctx.Dropped("null")
		return nil
	}
	old, _, err := p.s.Get(r.Key())
	if err != nil {
		return err
	}
	nv := store.ValueAndTimestamp[int64]{Value: old.Value + 1, Timestamp: max(old.Timestamp, r.Timestamp())}
	if err := p.s.Put(r.Key(), nv); err != nil {
		return err
	}
	if p.cached {
		return nil
	}
	out, err := record.New(r.Key(), nv.Value, nv.Timestamp)
	if err != nil {
		return err
	}
	return p.ctx.Forward(out)
}

func (p *countProc) Close() error { return nil }
