package rocksdb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// Leak-test parameters.
const (
	leakKVRounds     = 3000
	leakKVWarmup     = 200
	leakKVGeneration = 250
	leakWindowRounds = 300
	// leakWindowWarmup is shorter than leakKVWarmup: the window phase runs
	// after the key-value phase, and each of its rounds opens and closes
	// about seven RocksDB instances (350 in the warm-up).
	leakWindowWarmup  = 50
	leakUnclosedEvery = 10
	leakFDSlack       = 16
)

// leakMaxRSSGrowth bounds how much the resident set may grow between the
// end of the warm-up and the end of a phase.
//
// Measured on the reference machine (glibc malloc, RocksDB 7.8.3): a store
// leaked by skipping Close costs about 178 KiB of RSS and 7 descriptors even
// when it holds a few keys (a leaked block cache full of data would cost up
// to 50 MiB); a correct run grows by about 3 MiB over 2,800 key-value rounds
// (10 MiB under the race detector, whose own metadata grows), and over
// 8,000 rounds the RSS levels off after about 2,000 (glibc's arenas settle).
// 32 MiB is three times the worst correct run, and allows at most ~12 KiB
// per measured key-value round (~130 KiB per window round, each of which
// opens and closes about seven RocksDB instances): a store leaked every
// round, or every tenth, exceeds it, and the descriptor check catches any
// leaked store or segment (7 descriptors each) beyond two.
const leakMaxRSSGrowth = 32 << 20

// TestOpenCloseThousandsOfTimesKeepsRSSFlat opens, uses and closes RocksDB
// stores thousands of times — leaving an iterator open every 10th round for
// Close to free — and checks that the process's resident memory and open
// file descriptors stay flat: every C object a store creates is freed.
func TestOpenCloseThousandsOfTimesKeepsRSSFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("opens and closes thousands of RocksDB stores")
	}
	start := time.Now()
	t.Run("keyvalue", func(t *testing.T) {
		root := t.TempDir()
		cache := store.NewCache(1 << 20)
		leakPhase(t, leakKVRounds, leakKVWarmup, func(round int) {
			// The store is reopened from the same directory for
			// leakKVGeneration rounds, then from a new one: every open
			// keeps the previous info log as LOG.old.<time> (RocksDB keeps
			// 1,000), and directory scans of thousands of files would
			// dominate the run time.
			dir := filepath.Join(root, strconv.Itoa(round/leakKVGeneration))
			if round%leakKVGeneration == 0 && round > 0 {
				prev := filepath.Join(root, strconv.Itoa(round/leakKVGeneration-1))
				if round == leakKVGeneration {
					leakLogStoreFiles(t, filepath.Join(prev, "rocksdb", "kv"), leakKVGeneration)
				}
				if err := os.RemoveAll(prev); err != nil {
					t.Fatal(err)
				}
			}
			leakKeyValueRound(t, dir, cache, round)
		})
		if used := cache.UsedBytes(); used != 0 {
			t.Errorf("record cache still holds %d bytes after every store closed", used)
		}
	})
	t.Run("window", func(t *testing.T) {
		dir := t.TempDir()
		leakPhase(t, leakWindowRounds, leakWindowWarmup, func(round int) {
			leakWindowRound(t, dir, round)
		})
		if ents, err := os.ReadDir(filepath.Join(dir, "rocksdb", "w")); err == nil && len(ents) > 3 {
			t.Errorf("%d segment directories left; expired segments are not removed", len(ents))
		}
	})
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// leakPhase runs rounds, measuring after the warm-up and at the end.
func leakPhase(t *testing.T, rounds, warmup int, round func(int)) {
	start := time.Now()
	var base leakUsage
	for r := range rounds {
		if r == warmup {
			base = leakMeasure(t)
		}
		round(r)
		if t.Failed() {
			t.Fatalf("round %d failed", r)
		}
	}
	end := leakMeasure(t)
	per := rounds - warmup
	growth := end.rss - base.rss
	t.Logf("%d rounds in %v (%v/round)", rounds, time.Since(start).Round(time.Millisecond),
		(time.Since(start) / time.Duration(rounds)).Round(time.Microsecond))
	t.Logf("after %d warm-up rounds: %v", warmup, base)
	t.Logf("after %d more rounds:    %v", per, end)
	t.Logf("RSS growth %+.2f MiB (%+.0f B/round; bound %d MiB); fds %+d; threads %+d; Go heap %+.2f MiB",
		float64(growth)/(1<<20), float64(growth)/float64(per), leakMaxRSSGrowth>>20,
		end.fds-base.fds, end.threads-base.threads, float64(end.heap-base.heap)/(1<<20))
	if growth > leakMaxRSSGrowth {
		t.Errorf("RSS grew by %.1f MiB over %d rounds (bound %d MiB): stores leak memory",
			float64(growth)/(1<<20), per, leakMaxRSSGrowth>>20)
	}
	if end.fds > base.fds+leakFDSlack {
		t.Errorf("open file descriptors grew from %d to %d over %d rounds: stores leak files",
			base.fds, end.fds, per)
	}
}

type leakUsage struct {
	rss     int64 // resident bytes
	heap    int64 // Go heap in use
	fds     int
	threads int
}

func (u leakUsage) String() string {
	return fmt.Sprintf("RSS %.2f MiB, Go heap %.2f MiB, %d fds, %d threads",
		float64(u.rss)/(1<<20), float64(u.heap)/(1<<20), u.fds, u.threads)
}

// leakMeasure collects garbage, returns freed memory to the OS, and reads
// the resident set (/proc/self/statm), open descriptors and threads.
func leakMeasure(t *testing.T) leakUsage {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var u leakUsage
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		t.Fatalf("/proc/self/statm: %q", statm)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatalf("/proc/self/statm: %v", err)
	}
	u.rss = pages * int64(os.Getpagesize())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.heap = int64(ms.HeapInuse)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	u.fds = len(fds)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			u.threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return u
}

// leakLogStoreFiles logs what a store directory holds after rounds
// reopenings.
func leakLogStoreFiles(t *testing.T, dir string, rounds int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "LOG.old.") {
			old++
		}
	}
	t.Logf("after %d reopenings the store directory holds %d files, %d of them LOG.old.*", rounds, len(ents), old)
}

func leakCheck(t *testing.T, round int, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("round %d: %s: %v", round, what, err)
	}
}

// leakDrain reads an iterator to the end and returns how many entries it
// gave.
func leakDrain[K, V any](t *testing.T, round int, it store.Iterator[K, V]) int {
	t.Helper()
	n := 0
	for it.Next() {
		_, _ = it.Key(), it.Value()
		n++
	}
	leakCheck(t, round, "iterate", it.Err())
	return n
}

// leakKeyValueRound reopens the key-value store in dir (cached two rounds
// out of three), writes, reads, iterates with Range and PrefixScan, flushes
// and closes it. Every 10th round one iterator (Range or PrefixScan in
// turn) is left open and must be freed by Close.
func leakKeyValueRound(t *testing.T, dir string, cache *store.Cache, round int) {
	b := store.NewKeyValueBuilder(rocksdb.KeyValue("kv"), record.String(), record.Int64())
	if round%3 != 0 {
		b.WithCaching()
	}
	ss, err := b.Build()
	leakCheck(t, round, "build", err)
	s := ss.(store.KeyValueStore[string, int64])
	leakCheck(t, round, "init", s.Init(store.InitContext{StateDir: dir, Logger: zap.NewNop(), Cache: cache}))
	for i := range 8 {
		leakCheck(t, round, "put", s.Put("user-"+strconv.Itoa(i), int64(round*100+i)))
	}
	leakCheck(t, round, "put", s.Put("other", int64(round)))
	v, ok, err := s.Get("user-3")
	leakCheck(t, round, "get", err)
	if !ok || v != int64(round*100+3) {
		t.Fatalf("round %d: get user-3 = %d, %v; want %d", round, v, ok, round*100+3)
	}

	var unclosed store.Iterator[string, int64]
	it, err := s.Range("user-2", "user-5")
	leakCheck(t, round, "range", err)
	if n := leakDrain(t, round, it); n != 4 {
		t.Fatalf("round %d: range user-2..user-5 gave %d entries, want 4", round, n)
	}
	if round%(2*leakUnclosedEvery) == 0 {
		unclosed = it
	} else {
		leakCheck(t, round, "close range", it.Close())
	}
	it, err = s.PrefixScan([]byte("user-"))
	leakCheck(t, round, "prefix scan", err)
	if round%(2*leakUnclosedEvery) == leakUnclosedEvery {
		unclosed = it
		it.Next() // positioned, not drained
	} else {
		if n := leakDrain(t, round, it); n != 8 {
			t.Fatalf("round %d: prefix scan gave %d entries, want 8", round, n)
		}
		leakCheck(t, round, "close prefix scan", it.Close())
	}

	leakCheck(t, round, "flush", s.Flush())
	leakCheck(t, round, "close", s.Close())
	if unclosed != nil {
		// The store's Close freed the C iterator: moving or closing it
		// again must not touch freed memory. (What Next returns is not
		// checked: a cached store's iterator still yields its snapshot of
		// cached entries after Close.)
		unclosed.Next()
		leakCheck(t, round, "close iterator after store close", unclosed.Close())
	}
}

// leakWindowRound reopens the window store in dir and puts windows over two
// hours, four hours after the previous round's: the segments left by the
// previous round are reopened by Init and dropped by the first put, four
// new 30-minute segments are created, and the oldest of them expires
// before the round ends. It then fetches, iterates (leaving All open every
// 10th round), flushes and closes.
func leakWindowRound(t *testing.T, dir string, round int) {
	b := store.NewWindowBuilder(rocksdb.Window("w", time.Hour, time.Minute, false), record.String(), record.Int64())
	ss, err := b.Build()
	leakCheck(t, round, "build", err)
	s := ss.(store.WindowStore[string, int64])
	leakCheck(t, round, "init", s.Init(store.InitContext{StateDir: dir, Logger: zap.NewNop()}))
	base := int64(round) * (4 * time.Hour).Milliseconds()
	const step = 15 * time.Minute
	var last int64
	for j := range 8 {
		last = base + int64(j)*step.Milliseconds()
		for _, k := range []string{"a", "b", "c"} {
			leakCheck(t, round, "put", s.Put(k, int64(round+j), last))
		}
	}
	v, ok, err := s.Fetch("b", last)
	leakCheck(t, round, "fetch", err)
	if !ok || v != int64(round+7) {
		t.Fatalf("round %d: fetch b@%d = %d, %v; want %d", round, last, v, ok, round+7)
	}
	ft, err := s.FetchRange("a", base, last)
	leakCheck(t, round, "fetch range", err)
	// Retention 1h: windows starting after last-1h, that is the last four.
	if n := leakDrain(t, round, ft); n != 4 {
		t.Fatalf("round %d: fetch range gave %d windows, want 4", round, n)
	}
	leakCheck(t, round, "close fetch range", ft.Close())
	all, err := s.All()
	leakCheck(t, round, "all", err)
	if round%leakUnclosedEvery == 0 {
		all.Next() // left open across segments, for Close to free
	} else {
		if n := leakDrain(t, round, all); n != 12 {
			t.Fatalf("round %d: all gave %d windows, want 12", round, n)
		}
		leakCheck(t, round, "close all", all.Close())
		all = nil
	}
	leakCheck(t, round, "flush", s.Flush())
	leakCheck(t, round, "close", s.Close())
	if all != nil {
		// Closing an iterator the store's Close already freed is harmless.
		// (Not Next: over several segments it still yields a nil key after
		// Close, which the window layer cannot decode.)
		leakCheck(t, round, "close all after store close", all.Close())
	}
}
