package window_test

import (
	"encoding/binary"
	"fmt"
	"github.com/millrace/millrace/internal/tasktest"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
	"github.com/millrace/millrace/window"
)

// Benchmark parameters shared by the windowed benchmarks.
const (
	// benchKeys distinct keys, each an 8-character string "k0001234"
	// (record.String() keys: what an application keyed by an id has).
	benchKeys = 10_000
	// benchRecordsPerMs is the event-time rate of the input as a whole: one
	// millisecond of stream time per 10 records. At 2 M records/s that is
	// 200 s of event time per second of wall time, so 60 s windows roll
	// over (and old segments expire) many times in a 3 s run.
	benchRecordsPerMs = 10
	// benchCommitEvery is how many records run between two commits, timed
	// inside the loop. A commit flushes the record caches: every dirty
	// window goes to the store in one batch and its compacted update goes
	// downstream. 100k records is a commit every ~50 ms at 2 M records/s,
	// twice as often as exactly-once's 100 ms default commit interval (and
	// far more than at-least-once's 30 s), so the flush cost is not
	// understated; a commit sees at most one dirty entry per key and open
	// window (about 10k), so caching compacts about 10 updates into one.
	benchCommitEvery = 100_000
	// benchCacheBytes is the instance's record-cache budget: it holds the
	// live windows of all 10k keys with room to spare, so nothing evicts.
	benchCacheBytes = 100 << 20
)

// benchKey is the 8-byte key of key number i.
func benchKey(i int) []byte { return fmt.Appendf(nil, "k%07d", i) }

// benchPerm is the order keys come in within one batch: a fixed permutation
// of 0..benchKeys-1 (7919 is prime and coprime with 10 000), so consecutive
// records have unrelated keys, as a hashed partition sees them.
func benchPerm(i int) int { return i * 7919 % benchKeys }

// sinkCounter is a RecordCollector that counts what sinks send and drops it;
// check, if set, also looks at each record (cheap checks only).
type sinkCounter struct {
	n     int
	check func(key, value []byte) error
}

func (s *sinkCounter) Send(_ string, _ int32, key, value []byte, _ record.Headers, _ int64) error {
	s.n++
	if s.check != nil {
		return s.check(key, value)
	}
	return nil
}
func (s *sinkCounter) PartitionCount(string) (int32, error) { return 1, nil }

// changeSerializer writes a Change[int64] as new then old value, 8 bytes
// big-endian each (an absent old value as 0): the new value is what a
// toStream() of the counts would write; the old one lets the benchmark check
// the counts add up, and costs 8 bytes of appending.
type changeSerializer struct{}

func (changeSerializer) Serialize(dst []byte, c window.Change[int64]) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.New))
	return binary.BigEndian.AppendUint64(dst, uint64(c.Old)), nil
}

// batchFeeder refills one input partition with a pre-built batch of
// benchKeys records (one per key, in benchPerm order), rewriting only
// timestamps and offsets so stream time keeps advancing: record i of the
// n-th batch has timestamp n*span + i/perMs + lag.
type batchFeeder struct {
	topic     string
	batch     []record.ConsumerRecord
	perMs     int   // records per millisecond on this partition
	lag       int64 // added to every timestamp
	next      int64 // first timestamp of the next batch, without lag
	offset    int64
	added     int
	partition int32
}

func newBatchFeeder(topic string, perMs int, lag int64, value func(key []byte) []byte) *batchFeeder {
	f := &batchFeeder{topic: topic, perMs: perMs, lag: lag, batch: make([]record.ConsumerRecord, benchKeys)}
	for i := range f.batch {
		k := benchKey(benchPerm(i))
		f.batch[i] = record.ConsumerRecord{Topic: topic, Key: k, Value: value(k)}
	}
	return f
}

// refill adds the next batch; call it only once the partition has nothing
// buffered. AddRecords keeps the slice, but the group lets go of a batch
// when it takes its last record, and by then every record of it has been
// processed, so rewriting timestamps and offsets in place (never keys or
// values, which decoded records may alias) reuses the batch without
// allocating and without touching anything still in use.
func (f *batchFeeder) refill(b *testing.B, t *task.Task) {
	for i := range f.batch {
		f.batch[i].Timestamp = f.next + int64(i/f.perMs) + f.lag
		f.batch[i].Offset = f.offset
		f.offset++
	}
	f.next += int64(len(f.batch) / f.perMs)
	f.added += len(f.batch)
	if err := t.AddRecords(f.topic, f.partition, f.batch); err != nil {
		b.Fatal(err)
	}
}

// benchWindowBackends are the window-store byte layers compared;
// rocksdb_backends_test.go adds RocksDB when cgo is on.
var benchWindowBackends = []struct {
	name    string
	windows window.WindowBackend
	kv      window.KeyValueBackend
}{
	{"memory", store.InMemoryWindow, store.InMemoryKeyValue},
}

// BenchmarkWindowedCountThroughTask counts records per key in 60 s tumbling
// windows (grace 5 s) through a real task: source (8-byte string keys,
// 16-byte values) -> window.Count over a cached window store (RocksDB or in
// memory) -> sink of the windowed counts to a discarding collector, with a
// timed commit every benchCommitEvery records, and every
// benchCommitEveryEOS: exactly-once's 100 ms commit interval at the goal of
// 2 M records/s. 10k keys, 10 records per ms of event time, in order.
// records/s counts input records.
//
// With the cache, the sink sees one compacted update per dirty window per
// commit (about 10k per 100k records), not one per record. The check is
// exact anyway: the forwarded changes' new-minus-old values add up to the
// number of records counted, so a pipeline that loses or double-counts
// anything fails.
func BenchmarkWindowedCountThroughTask(b *testing.B) {
	for _, be := range benchWindowBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, every := range []int{benchCommitEvery, benchCommitEveryEOS} {
				b.Run(fmt.Sprintf("commit-every=%d", every), func(b *testing.B) { benchWindowedCount(b, be.windows, every) })
			}
		})
	}
}

// benchCommitEveryEOS is the records between two commits of exactly-once's
// 100 ms commit interval at 2 M records/s.
const benchCommitEveryEOS = 200_000

func benchWindowedCount(b *testing.B, backend window.WindowBackend, commitEvery int) {
	w := mw(window.Tumbling(60*time.Second, 5*time.Second))
	bld := processor.NewBuilder()
	processor.AddSource(bld, "in", record.String(), record.Bytes(), "in")
	processor.AddProcessor(bld, "count", window.Count[string, []byte](w, "counts"), "in").WithStores("counts")
	processor.AddSink(bld, "out", "counts-out", window.TimeWindowedSerde(record.String(), w.Size()),
		record.Serializer[window.Change[int64]](changeSerializer{}), "count")
	bld.AddStore(window.TimeWindowStore(backend, "counts", w, record.String(), record.Int64()))
	topo, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	var delta int64
	col := &sinkCounter{check: func(key, value []byte) error {
		if len(key) != 8+8 || len(value) != 16 {
			return fmt.Errorf("sink got key %x value %x", key, value)
		}
		delta += int64(binary.BigEndian.Uint64(value)) - int64(binary.BigEndian.Uint64(value[8:]))
		return nil
	}}
	t := tasktest.Start(b, topo, col, benchCacheBytes)
	in := newBatchFeeder("in", benchRecordsPerMs, 0, func([]byte) []byte { return make([]byte, 16) })
	group := t.PartitionGroup()

	var committing time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if group.NumBuffered() == 0 {
			in.refill(b, t)
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
	timedOut := col.n
	// The last commit, untimed, flushes what the timed loop left dirty.
	if _, err := t.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(timedOut)/float64(b.N), "updates/record")
	if col.n <= 0 || col.n > b.N {
		b.Fatalf("sink saw %d updates for %d records, want 1..%d", col.n, b.N, b.N)
	}
	if delta != int64(b.N) {
		b.Fatalf("forwarded counts add up to %d, want %d records", delta, b.N)
	}
	if d := t.Stats().Dropped(); d != 0 {
		b.Fatalf("%d records dropped: %v", d, t.Stats().DroppedReasons())
	}
}

// BenchmarkStreamStreamJoinThroughTask runs an inner stream-stream join
// within ±1 s (grace 0) through a real task: two sources (topics left and
// right, partition 0 of the same task; 8-byte string keys, 10-byte string
// values) -> window.Join over the two duplicate-keeping window stores of
// window.JoinStores (RocksDB or in memory, uncached as JoinStores builds
// them) -> joiner concatenating the two values ("l-k0001234+r-k0001234") ->
// sink to a discarding collector, with a timed commit every
// benchCommitEvery records. records/s counts input records of both sides.
//
// Input: the two sides together advance 1 ms of event time per 10 records
// (5 per side). Each side's batch has every one of the 10k keys once, so a
// key comes back on the same side every 2 s; the right side's records of a
// key trail the left's by 100 ms. So every right record finds exactly one
// left record within the window (the one 100 ms before it; the previous
// and next ones are 1.9 s and 2.1 s away), and every left record finds none
// when it arrives (its partner is not there yet): exactly one output per
// pair, 0.5 outputs per input record. The check is exact: outputs equal the
// right records processed.
//
// The buffers keep what is within retention (2.001 s), but a window store
// drops whole segments, and the segment interval is max(retention/2, 60 s)
// as in Kafka Streams, so each side holds up to ~62 s of records (about
// 310k) and a 60 s segment expires every 600k input records.
func BenchmarkStreamStreamJoinThroughTask(b *testing.B) {
	for _, be := range benchWindowBackends {
		b.Run(be.name, func(b *testing.B) { benchStreamStreamJoin(b, window.InnerJoin, be.windows, be.kv, benchCommitEvery) })
	}
}

// BenchmarkStreamStreamJoinCommitEvery10kThroughTask is the join benchmark
// committing ten times as often: every 10k records, 1 s of event time, so
// every record is still within the buffers' retention (2.001 s) at the
// commit after it and is written to the store, as under exactly-once's
// 100 ms commits at a realistic event-time rate. (At 100k, most records
// expire from the in-memory index before the commit and are never
// written.)
func BenchmarkStreamStreamJoinCommitEvery10kThroughTask(b *testing.B) {
	for _, be := range benchWindowBackends {
		b.Run(be.name, func(b *testing.B) { benchStreamStreamJoin(b, window.InnerJoin, be.windows, be.kv, benchCommitEvery/10) })
	}
}

// BenchmarkStreamStreamLeftJoinThroughTask is the join benchmark as a left
// join with a 1 s grace: every left record waits in the unmatched buffer
// until its partner arrives, and finding the due ones must stay cheap
// however many wait (the output is the same, one per pair).
func BenchmarkStreamStreamLeftJoinThroughTask(b *testing.B) {
	for _, be := range benchWindowBackends {
		b.Run(be.name, func(b *testing.B) { benchStreamStreamJoin(b, window.LeftJoin, be.windows, be.kv, benchCommitEvery) })
	}
}

func benchStreamStreamJoin(b *testing.B, kind window.JoinKind, windows window.WindowBackend, kv window.KeyValueBackend, commitEvery int) {
	const rightLagMs = 100
	w := mw(window.JoinWithin(1*time.Second, 0))
	names := window.JoinStoreNames{Left: "left-buf", Right: "right-buf"}
	if kind != window.InnerJoin {
		w = mw(window.JoinWithin(1*time.Second, time.Second))
		names.Unmatched = "unmatched"
	}
	left, right := window.Join[string, string, string, string](kind, w, names,
		func(_ string, l, r *string) string { return *l + "+" + *r },
		record.String(), record.String(), record.String())
	bld := processor.NewBuilder()
	processor.AddSource(bld, "l", record.String(), record.String(), "left")
	processor.AddSource(bld, "r", record.String(), record.String(), "right")
	stores := []string{names.Left, names.Right}
	if names.Unmatched != "" {
		stores = append(stores, names.Unmatched)
	}
	processor.AddProcessor(bld, "join-left", left, "l").WithStores(stores...)
	processor.AddProcessor(bld, "join-right", right, "r").WithStores(stores...)
	processor.AddSink(bld, "out", "joined", record.String(), record.String(), "join-left", "join-right")
	for _, sb := range window.JoinStores(windows, kv, names, w, record.String(), record.String(), record.String()) {
		bld.AddStore(sb)
	}
	topo, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	col := &sinkCounter{check: func(key, value []byte) error {
		// "l-<key>+r-<key>": both values belong to the record's key.
		if len(value) != 2*(2+len(key))+1 || string(value[2:2+len(key)]) != string(key) ||
			string(value[len(value)-len(key):]) != string(key) {
			return fmt.Errorf("sink got %s=%s", key, value)
		}
		return nil
	}}
	t := tasktest.Start(b, topo, col, benchCacheBytes)
	// Both partitions are caught up: the task never waits (MaxTaskIdle) for
	// one side while the other has records, as with consumer lag 0.
	for _, topic := range []string{"left", "right"} {
		if err := t.SetLag(topic, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	perSide := benchRecordsPerMs / 2
	lf := newBatchFeeder("left", perSide, 0, func(k []byte) []byte { return append([]byte("l-"), k...) })
	rf := newBatchFeeder("right", perSide, rightLagMs, func(k []byte) []byte { return append([]byte("r-"), k...) })
	group := t.PartitionGroup()
	buffered := func(topic string) int {
		n, _, err := group.Buffered(topic, 0)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each side is refilled as soon as it runs dry, so both always have
		// records and the task interleaves them by timestamp.
		if buffered("left") == 0 {
			lf.refill(b, t)
		}
		if buffered("right") == 0 {
			rf.refill(b, t)
		}
		if ok, err := t.Process(); !ok || err != nil {
			b.Fatal(ok, err)
		}
		// Commits as in the count benchmark; the join's stores have no
		// cache, so a commit only checks them and collects offsets.
		if (i+1)%commitEvery == 0 {
			if _, err := t.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(col.n)/float64(b.N), "outputs/input")
	rights := rf.added - buffered("right")
	if col.n != rights {
		b.Fatalf("join emitted %d records for %d right records processed, want one each", col.n, rights)
	}
	if b.N > benchKeys && col.n == 0 {
		b.Fatalf("no join output for %d records", b.N)
	}
}
