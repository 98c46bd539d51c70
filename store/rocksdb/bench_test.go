package rocksdb_test

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/linxGnu/grocksdb"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// Benchmark parameters.
const (
	// benchCacheBytes is the record-cache budget of cached stores: it holds
	// the 10k-key sets whole; the 1M-key sets (about 128 and 220 MB of
	// cache entries) do not fit, so those benchmarks evict.
	benchCacheBytes = 100 << 20
	// benchCommitEvery is how many operations run between two Flush calls
	// (commits) of a cached store; the flushes are timed. 100k operations
	// is a commit every 33 ms at 3 M records/s: three times more often than
	// the exactly-once default of 100 ms, and far more than the 30 s
	// at-least-once default, so the commit cost is not understated.
	benchCommitEvery = 100_000
	// benchValueBytes is the size of the values of put, get and range100.
	benchValueBytes = 100
	// benchPrefillBatch is the size of the write batches that prefill a
	// store through its backend.
	benchPrefillBatch = 10_000
	// benchRangeLen is the number of consecutive keys range100 reads.
	benchRangeLen = 100
)

// benchKey spreads index i over the 32-bit key space (Knuth's
// multiplicative hash, a bijection on uint32), so consecutive indexes are
// far apart in key order. Keys are int64, serialized as 8 bytes big-endian.
func benchKey(i int) int64 { return int64(uint32(i) * 2654435761) }

// benchRand is a xorshift64 generator: cheap enough not to show in the
// figures, and it gives a uniform (not cyclic) access pattern, so an LRU
// cache smaller than the key set still hits in proportion to its size.
type benchRand uint64

func (r *benchRand) intn(n int) int {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = benchRand(x)
	return int(x % uint64(n))
}

// benchBackends are the byte-store suppliers under test.
var benchBackends = []struct {
	name     string
	supplier func(name string) store.KeyValueBytesSupplier
}{
	{"memory", store.InMemoryKeyValue},
	{"rocksdb", rocksdb.KeyValue},
}

var benchSizes = []struct {
	name string
	n    int
}{
	{"10k", 10_000},
	{"1M", 1_000_000},
}

func benchOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// BenchmarkKeyValue measures the typed key-value store over both backends,
// with and without the record cache:
//
//	put       Put of a 100-byte value to an existing key
//	get       Get of an existing key (100-byte value)
//	getput    Get, add 1, Put of an int64 counter (what a count does)
//	range100  Range over 100 consecutive keys, reading every entry, Close
//
// Keys are 8-byte big-endian int64s, drawn uniformly at random from the
// prefilled key set (10k or 1M keys; 1M is skipped with -short). With the
// cache on (100 MiB, warmed before the timer), Flush (a commit) runs every
// 10,000 operations inside the timed loop; without it the loop has no
// Flush. Metrics: records/s is operations per second (one range100 is one
// record; keys/s counts the entries it reads); with the cache on, hit% is
// the cache hit rate of the timed Gets and commit% the share of the time
// spent in Flush.
func BenchmarkKeyValue(b *testing.B) {
	for _, be := range benchBackends {
		b.Run("backend="+be.name, func(b *testing.B) {
			for _, cached := range []bool{false, true} {
				b.Run("cache="+benchOnOff(cached), func(b *testing.B) {
					for _, size := range benchSizes {
						b.Run("keys="+size.name, func(b *testing.B) {
							if size.n > 10_000 && testing.Short() {
								b.Skip("1M-key benchmarks are skipped with -short")
							}
							benchKeyValueOps(b, be.supplier, cached, size.n)
						})
					}
				})
			}
		})
	}
}

// benchFixture is one prefilled store shared by the op sub-benchmarks of one
// backend, cache setting and key count, so the (slow, for 1M keys) prefill
// runs once.
type benchFixture[V any] struct {
	kv    store.KeyValueStore[int64, V]
	cache *store.Cache
}

func benchKeyValueOps(b *testing.B, supplier func(string) store.KeyValueBytesSupplier, cached bool, n int) {
	dir, owner := b.TempDir(), b // the stores live until this benchmark ends
	var (
		values   *benchFixture[[]byte]
		counters *benchFixture[int64]
	)
	bytesStore := func(b *testing.B) *benchFixture[[]byte] {
		if values == nil {
			values = benchOpen(b, owner, supplier("values"), record.Bytes(), cached, n, dir, func(dst []byte, i int) []byte {
				for j := range benchValueBytes {
					dst = append(dst, byte(i+j))
				}
				return dst
			})
		}
		return values
	}
	counterStore := func(b *testing.B) *benchFixture[int64] {
		if counters == nil {
			counters = benchOpen(b, owner, supplier("counters"), record.Int64(), cached, n, dir, func(dst []byte, i int) []byte {
				return binary.BigEndian.AppendUint64(dst, 0)
			})
		}
		return counters
	}

	b.Run("op=put", func(b *testing.B) {
		f := bytesStore(b)
		value := make([]byte, benchValueBytes)
		rnd := benchRand(0x9E3779B97F4A7C15)
		commits := benchCommits{store: f.kv, cached: cached}
		before := benchStart(b, f.cache)
		for b.Loop() {
			value[0]++
			if err := f.kv.Put(benchKey(rnd.intn(n)), value); err != nil {
				b.Fatal(err)
			}
			commits.done(b)
		}
		benchReport(b, f.cache, before, &commits, 1)
	})

	b.Run("op=get", func(b *testing.B) {
		f := bytesStore(b)
		rnd := benchRand(0x2545F4914F6CDD1D)
		commits := benchCommits{store: f.kv, cached: cached}
		before := benchStart(b, f.cache)
		for b.Loop() {
			v, ok, err := f.kv.Get(benchKey(rnd.intn(n)))
			if err != nil || !ok || len(v) != benchValueBytes {
				b.Fatalf("get: %d bytes, found %v, %v", len(v), ok, err)
			}
			commits.done(b)
		}
		benchReport(b, f.cache, before, &commits, 1)
	})

	b.Run("op=getput", func(b *testing.B) {
		f := counterStore(b)
		rnd := benchRand(0x853C49E6748FEA9B)
		commits := benchCommits{store: f.kv, cached: cached}
		before := benchStart(b, f.cache)
		for b.Loop() {
			k := benchKey(rnd.intn(n))
			c, ok, err := f.kv.Get(k)
			if err != nil || !ok {
				b.Fatalf("get: found %v, %v", ok, err)
			}
			if err := f.kv.Put(k, c+1); err != nil {
				b.Fatal(err)
			}
			commits.done(b)
		}
		benchReport(b, f.cache, before, &commits, 1)
	})

	b.Run("op=range100", func(b *testing.B) {
		f := bytesStore(b)
		sorted := make([]int64, n)
		for i := range sorted {
			sorted[i] = benchKey(i)
		}
		slices.Sort(sorted)
		rnd := benchRand(0xDA942042E4DD58B5)
		commits := benchCommits{store: f.kv, cached: cached}
		before := benchStart(b, f.cache)
		for b.Loop() {
			j := rnd.intn(n - benchRangeLen + 1)
			it, err := f.kv.Range(sorted[j], sorted[j+benchRangeLen-1])
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for it.Next() {
				if len(it.Value()) != benchValueBytes {
					b.Fatalf("range: value of %d bytes", len(it.Value()))
				}
				got++
			}
			if err := it.Err(); err != nil {
				b.Fatal(err)
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
			if got != benchRangeLen {
				b.Fatalf("range: %d entries, want %d", got, benchRangeLen)
			}
			commits.done(b)
		}
		benchReport(b, f.cache, before, &commits, benchRangeLen)
	})
}

// benchOpen builds, opens and prefills a store with keys benchKey(0..n-1).
// The prefill goes to the backend under the cache in write batches of
// 10,000, then flushes it (so RocksDB serves reads from its files, as after
// a restore); a cache is then warmed by reading every key through it. The store closes when owner
// ends; b is the sub-benchmark that needs it first.
func benchOpen[V any](b, owner *testing.B, supplier store.KeyValueBytesSupplier, vs record.Serde[V], cached bool, n int,
	dir string, value func(dst []byte, i int) []byte) *benchFixture[V] {
	start := time.Now()
	builder := store.NewKeyValueBuilder(supplier, record.Int64(), vs)
	if cached {
		builder.WithCaching()
	}
	ss, err := builder.Build()
	if err != nil {
		b.Fatal(err)
	}
	cache := store.NewCache(benchCacheBytes)
	if err := ss.Init(store.InitContext{StateDir: dir, Logger: zap.NewNop(), Cache: cache}); err != nil {
		b.Fatal(err)
	}
	kv := ss.(store.KeyValueStore[int64, V])
	owner.Cleanup(func() {
		if err := kv.Close(); err != nil {
			owner.Error(err)
		}
	})
	backend, ok := store.Inner(kv)
	if !ok {
		b.Fatal("store.Inner: not a typed store")
	}
	if u, ok := backend.(interface{ Unwrap() store.KeyValueBytes }); ok {
		backend = u.Unwrap()
	}
	batch := make([]store.Entry, 0, benchPrefillBatch)
	var keys, vals []byte
	for i := range n {
		if len(batch) == 0 {
			keys, vals = make([]byte, 0, 8*benchPrefillBatch), vals[:0]
		}
		k0, v0 := len(keys), len(vals)
		keys = binary.BigEndian.AppendUint64(keys, uint64(benchKey(i)))
		vals = value(vals, i)
		batch = append(batch, store.Entry{Key: keys[k0:len(keys):len(keys)], Value: vals[v0:len(vals):len(vals)]})
		if len(batch) == benchPrefillBatch || i == n-1 {
			if err := backend.Write(batch); err != nil {
				b.Fatal(err)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	if err := backend.Flush(); err != nil {
		b.Fatal(err)
	}
	if cached {
		// Warm the cache: read every key once through it, so it starts
		// full (the most recently read keys), as in a steady state.
		for i := range n {
			if _, ok, err := kv.Get(benchKey(i)); err != nil || !ok {
				b.Fatalf("warm-up get: found %v, %v", ok, err)
			}
		}
	}
	if testing.Verbose() {
		b.Logf("prefilled %s with %d keys in %v", supplier.Name(), n, time.Since(start).Round(time.Millisecond))
	}
	return &benchFixture[V]{kv: kv, cache: cache}
}

// benchCommits counts the operations of a timed loop and, for a cached
// store, flushes it (a commit) every benchCommitEvery operations, timing
// the flushes.
type benchCommits struct {
	store  store.StateStore
	cached bool
	ops    int
	time   time.Duration
}

func (c *benchCommits) done(b *testing.B) {
	c.ops++
	if c.cached && c.ops%benchCommitEvery == 0 {
		start := time.Now()
		if err := c.store.Flush(); err != nil {
			b.Fatal(err)
		}
		c.time += time.Since(start)
	}
}

// benchStart enables allocation reports and returns the cache counters
// before the timed loop.
func benchStart(b *testing.B, c *store.Cache) store.CacheStats {
	b.ReportAllocs()
	return c.Stats()
}

// benchReport reports records/s, keys/s for ranges and, when the store is
// cached, the hit rate of the timed operations and the share of the time
// spent in commits (Flush).
func benchReport(b *testing.B, c *store.Cache, before store.CacheStats, commits *benchCommits, keysPerOp int) {
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "records/s")
	if commits.cached {
		b.ReportMetric(100*commits.time.Seconds()/secs, "commit%")
	}
	if keysPerOp > 1 {
		b.ReportMetric(float64(b.N*keysPerOp)/secs, "keys/s")
	}
	after := c.Stats()
	if hits, misses := after.Hits-before.Hits, after.Misses-before.Misses; hits+misses > 0 {
		b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit%")
	}
}

// BenchmarkRawRocksDBGetPut is the baseline of the uncached getput: the same
// read-modify-write of an int64 over 10k keys written straight against
// grocksdb (pinned Get, copy, Put, WAL off, Kafka's options), with no store
// layers. Compare it with .../cache=off/keys=10k/op=getput in the same run.
func BenchmarkRawRocksDBGetPut(b *testing.B) {
	opts := grocksdb.NewDefaultOptions()
	defer opts.Destroy()
	opts.SetCreateIfMissing(true)
	table := grocksdb.NewDefaultBlockBasedTableOptions()
	defer table.Destroy()
	cache := grocksdb.NewLRUCache(rocksdb.DefaultBlockCacheBytes)
	defer cache.Destroy()
	table.SetBlockCache(cache)
	table.SetBlockSize(rocksdb.DefaultBlockSizeBytes)
	table.SetFilterPolicy(grocksdb.NewBloomFilter(10))
	opts.SetBlockBasedTableFactory(table)
	opts.SetWriteBufferSize(rocksdb.DefaultWriteBufferBytes)
	opts.SetMaxWriteBufferNumber(rocksdb.DefaultMaxWriteBuffers)
	opts.SetCompression(grocksdb.NoCompression)
	opts.SetCompactionStyle(grocksdb.UniversalCompactionStyle)
	db, err := grocksdb.OpenDb(opts, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	wo := grocksdb.NewDefaultWriteOptions()
	defer wo.Destroy()
	wo.DisableWAL(true)
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	const n = 10_000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = binary.BigEndian.AppendUint64(nil, uint64(benchKey(i)))
		if err := db.Put(wo, keys[i], binary.BigEndian.AppendUint64(nil, 0)); err != nil {
			b.Fatal(err)
		}
	}
	var r benchRand = 0x9E3779B97F4A7C15
	val := make([]byte, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := keys[r.intn(n)]
		h, err := db.GetPinned(ro, k)
		if err != nil {
			b.Fatal(err)
		}
		copy(val, h.Data())
		h.Destroy()
		binary.BigEndian.PutUint64(val, binary.BigEndian.Uint64(val)+1)
		if err := db.Put(wo, k, val); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
