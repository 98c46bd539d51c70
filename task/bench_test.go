package task

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// discard is a RecordCollector that counts and drops.
type discard struct{ n int }

func (d *discard) Send(string, int32, []byte, []byte, record.Headers, int64) error {
	d.n++
	return nil
}
func (d *discard) PartitionCount(string) (int32, error) { return 1, nil }

type passThrough[K, V any] struct{ ctx processor.Context[K, V] }

func (p *passThrough[K, V]) Init(ctx processor.Context[K, V]) error { p.ctx = ctx; return nil }
func (p *passThrough[K, V]) Process(r record.Record[K, V]) error    { return p.ctx.Forward(r) }
func (p *passThrough[K, V]) Close() error                           { return nil }

func newPassThrough[K, V any]() processor.Processor[K, V, K, V] { return &passThrough[K, V]{} }

// passThroughTopology is source -> p1 -> p2 -> sink over []byte.
func passThroughTopology(tb testing.TB, topics ...string) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "source", record.Bytes(), record.Bytes(), topics...)
	processor.AddProcessor(b, "p1", newPassThrough[[]byte, []byte], "source")
	processor.AddProcessor(b, "p2", newPassThrough[[]byte, []byte], "p1")
	processor.AddSink(b, "sink", "out", record.Bytes(), record.Bytes(), "p2")
	topo, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return topo
}

func makeBatch(topic string, n int) []record.ConsumerRecord {
	recs := make([]record.ConsumerRecord, n)
	for i := range recs {
		recs[i] = record.ConsumerRecord{Topic: topic, Offset: int64(i), Timestamp: int64(i),
			Key: []byte(fmt.Sprintf("key-%d", i%100)), Value: make([]byte, 100)}
	}
	return recs
}

// feeder refills a task's input with one reused batch. In order, each
// refill continues the offsets and timestamps where the last one ended, as
// a partition's records do; otherwise every refill restarts them at 0, so
// every record after the first batch is late (older than stream time).
type feeder struct {
	batch   []record.ConsumerRecord
	next    int64
	inOrder bool
}

func newFeeder(inOrder bool) *feeder {
	return &feeder{batch: makeBatch("in", 1024), inOrder: inOrder}
}

func (f *feeder) refill(tb testing.TB, t *Task) {
	if f.inOrder {
		for i := range f.batch {
			f.batch[i].Offset, f.batch[i].Timestamp = f.next, f.next
			f.next++
		}
	}
	if err := t.AddRecords("in", 0, f.batch); err != nil {
		tb.Fatal(err)
	}
}

// benchThroughTask runs b.N records of in-order or late input through a
// task of topo and checks the sink saw every one.
func benchThroughTask(b *testing.B, topo *processor.Topology, inOrder bool) *Task {
	col := &discard{}
	t, err := New(Config{ID: processor.TaskID{}, Topology: topo, Collector: col})
	if err != nil {
		b.Fatal(err)
	}
	if err := t.InitializeStores(); err != nil {
		b.Fatal(err)
	}
	if err := t.CompleteRestoration(); err != nil {
		b.Fatal(err)
	}
	in := newFeeder(inOrder)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if t.group.NumBuffered() == 0 {
			in.refill(b, t)
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if col.n != b.N {
		b.Fatalf("sink saw %d records, want %d", col.n, b.N)
	}
	return t
}

// BenchmarkPassThroughTask measures a record's whole way through a task:
// PartitionGroup head decode and ordering, source -> 2 processors -> sink
// (serialization into reused buffers) and the stream-time punctuation
// check, on in-order input.
func BenchmarkPassThroughTask(b *testing.B) {
	benchThroughTask(b, passThroughTopology(b, "in"), true)
}

// BenchmarkPassThroughTaskLateRecords is BenchmarkPassThroughTask on input
// whose every record is late (older than stream time): the difference is
// what counting a late record and its lateness costs.
func BenchmarkPassThroughTaskLateRecords(b *testing.B) {
	t := benchThroughTask(b, passThroughTopology(b, "in"), false)
	// Not late: the first batch, and each batch's last record (its
	// timestamp is stream time).
	if late, want := t.Stats().LateRecords.Load(), int64(b.N-1024-b.N/1024); late < want {
		b.Fatalf("%d late records of %d, want at least %d", late, b.N, want)
	}
}

// BenchmarkSourceToSinkTask is the bench's pass-through row inside one
// task: source -> sink over []byte, in-order input, nothing in between.
func BenchmarkSourceToSinkTask(b *testing.B) {
	bld := processor.NewBuilder()
	processor.AddSource(bld, "source", record.Bytes(), record.Bytes(), "in")
	processor.AddSink(bld, "sink", "out", record.Bytes(), record.Bytes(), "source")
	topo, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	benchThroughTask(b, topo, true)
}

// BenchmarkPassThroughBaseline does by hand what BenchmarkPassThroughTask
// does through the engine (take a record, two pass-through hops, serialize,
// send), with no ordering, no graph and no punctuation check: the ratio of
// the two is the engine's overhead.
func BenchmarkPassThroughBaseline(b *testing.B) {
	col := &discard{}
	batch := makeBatch("in", 1024)
	hop := func(r record.Record[[]byte, []byte]) record.Record[[]byte, []byte] { return r }
	kbuf, vbuf := make([]byte, 0, 64), make([]byte, 0, 256)
	ser := record.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := &batch[i%len(batch)]
		r, err := record.New(raw.Key, raw.Value, raw.Timestamp)
		if err != nil {
			b.Fatal(err)
		}
		r = hop(hop(r))
		kb, _ := ser.Serialize(kbuf[:0], r.Key())
		vb, _ := ser.Serialize(vbuf[:0], r.Value())
		if err := col.Send("out", -1, kb, vb, r.Headers(), r.Timestamp()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPassThroughTaskPublishing is BenchmarkPassThroughTask as a
// runtime drives it with metrics on: every 256 records (the runtime's
// chunk) it reads the clock, reports the chunk's time and publishes the
// task's metrics. Its ratio to BenchmarkPassThroughTask is what metrics
// cost per record.
func BenchmarkPassThroughTaskPublishing(b *testing.B) {
	col := &discard{}
	t, err := New(Config{ID: processor.TaskID{}, Topology: passThroughTopology(b, "in"), Collector: col})
	if err != nil {
		b.Fatal(err)
	}
	if err := t.InitializeStores(); err != nil {
		b.Fatal(err)
	}
	if err := t.CompleteRestoration(); err != nil {
		b.Fatal(err)
	}
	in := newFeeder(true)
	const chunk = 256
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if t.group.NumBuffered() == 0 {
			in.refill(b, t)
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if (i+1)%chunk == 0 {
			now := time.Now()
			t.ObserveProcessing(chunk, now.Sub(start), 0)
			t.PublishMetrics(now)
			start = now
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	t.PublishMetrics(time.Now())
	if m := t.Metrics(time.Now()); col.n != b.N || m.Sources[0].Processed != int64(b.N) {
		b.Fatalf("sink saw %d records, metrics %d, want %d", col.n, m.Sources[0].Processed, b.N)
	}
}

// BenchmarkPassThroughTaskMeteringSinks is BenchmarkPassThroughTask with
// Config.MeterSinks, as a runtime runs it at recording level DEBUG: each
// record the sink sends is counted for its node and topic.
func BenchmarkPassThroughTaskMeteringSinks(b *testing.B) {
	col := &discard{}
	t, err := New(Config{ID: processor.TaskID{}, Topology: passThroughTopology(b, "in"), Collector: col, MeterSinks: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := t.InitializeStores(); err != nil {
		b.Fatal(err)
	}
	if err := t.CompleteRestoration(); err != nil {
		b.Fatal(err)
	}
	in := newFeeder(true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if t.group.NumBuffered() == 0 {
			in.refill(b, t)
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	t.PublishMetrics(time.Now())
	if m := t.Metrics(time.Now()); col.n != b.N || m.Sinks[0].Records != int64(b.N) {
		b.Fatalf("sink saw %d records, metrics %d, want %d", col.n, m.Sinks[0].Records, b.N)
	}
}
