// Command rssbench measures the peak resident memory of RocksDB stores the
// way a streams.App holds them: one key-value store per task, 32 tasks,
// together holding 1 M keys with 100-byte values, written, checkpointed
// (flushed to disk) and read back. Each configuration runs in a child
// process of its own, and the peak is the child's getrusage maxrss:
//
//	go run ./store/rocksdb/internal/rssbench                   # base, per-store defaults, 64 and 256 MiB budgets
//	go run ./store/rocksdb/internal/rssbench -passes 3         # every key written three times
//	go run ./store/rocksdb/internal/rssbench -budgets -1,32,128 -trace
//
// A budget in MiB is a rocksdb.Memory attached to the state directory, as
// the App does with Config.StoreMemoryBytes; -1 is the per-store defaults
// (a 50 MiB block cache and 3 x 16 MiB write buffers per store), 0 opens
// no store (the process's base). -trace prints the RSS and the budget's
// usage every 50,000 operations, on stderr. The figures depend on the C
// allocator: run it with MALLOC_ARENA_MAX=2 in the environment, or
// LD_PRELOAD=libjemalloc.so.2, to compare (docs/operations.md).
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// result is what a child reports to the parent, one JSON line.
type result struct {
	WriteSeconds, ReadSeconds float64
	GoSysBytes                uint64 // the Go runtime's memory from the OS
	PeakCacheBytes            int64  // the shared cache's peak usage (budgets only)
	PeakWriteBufferBytes      int64
}

func main() {
	var (
		child      = flag.Bool("child", false, "run one configuration (internal)")
		budget     = flag.Int("budget", -1, "child: budget in MiB; -1 per-store defaults, 0 no stores")
		budgets    = flag.String("budgets", "0,-1,64,256", "configurations to run, comma-separated budgets in MiB")
		partitions = flag.Int("partitions", 32, "tasks, one store each")
		keys       = flag.Int("keys", 1_000_000, "distinct keys over all the stores")
		valueBytes = flag.Int("value", 100, "value size in bytes")
		passes     = flag.Int("passes", 1, "times each key is written")
		dir        = flag.String("dir", "", "state directory (default: a temporary one per run)")
		trace      = flag.Bool("trace", false, "print the RSS and the budget's usage as the run goes, on stderr")
	)
	flag.Parse()
	w := workload{partitions: *partitions, keys: *keys, valueBytes: *valueBytes, passes: *passes, trace: *trace}
	if *child {
		if err := w.run(*budget, *dir); err != nil {
			fmt.Fprintln(os.Stderr, "rssbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := parent(w, *budgets, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "rssbench:", err)
		os.Exit(1)
	}
}

type workload struct {
	partitions, keys, valueBytes, passes int
	trace                                bool
}

func parent(w workload, budgets, dir string) error {
	fmt.Printf("%d stores (partitions), %d keys x %d-byte values, written %d time(s), flushed, read back; %s, %d CPUs\n",
		w.partitions, w.keys, w.valueBytes, w.passes, runtime.Version(), runtime.NumCPU())
	fmt.Printf("%-22s %10s %9s %9s %10s %11s %13s\n", "configuration", "peak RSS", "writes/s", "reads/s", "Go sys", "cache peak", "write buffers")
	for _, b := range strings.Split(budgets, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil {
			return fmt.Errorf("budget %q: %w", b, err)
		}
		args := []string{"-child", "-budget", strconv.Itoa(mib), "-partitions", strconv.Itoa(w.partitions),
			"-keys", strconv.Itoa(w.keys), "-value", strconv.Itoa(w.valueBytes), "-passes", strconv.Itoa(w.passes),
			"-trace=" + strconv.FormatBool(w.trace)}
		if dir != "" {
			args = append(args, "-dir", filepath.Join(dir, "budget"+strconv.Itoa(mib)))
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("budget %d MiB: %w", mib, err)
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("budget %d MiB: child said %q: %w", mib, out, err)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return errors.New("no rusage for the child")
		}
		name := "per-store defaults"
		switch {
		case mib == 0:
			name = "no stores (base)"
		case mib > 0:
			name = fmt.Sprintf("shared %d MiB", mib)
		}
		rate := func(n int, s float64) string {
			if s == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0fk", float64(n)/s/1000)
		}
		cache, wb := "-", "-"
		if mib > 0 {
			cache, wb = fmt.Sprintf("%d MiB", r.PeakCacheBytes>>20), fmt.Sprintf("%d MiB", r.PeakWriteBufferBytes>>20)
		}
		fmt.Printf("%-22s %6d MiB %9s %9s %6d MiB %11s %13s\n", name, ru.Maxrss>>10,
			rate(w.keys*w.passes, r.WriteSeconds), rate(w.keys, r.ReadSeconds), r.GoSysBytes>>20, cache, wb)
	}
	return nil
}

// run is a child: one configuration, its figures on stdout.
func (w workload) run(budgetMiB int, dir string) error {
	var r result
	if budgetMiB == 0 {
		return report(r)
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "rssbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	var mem *rocksdb.Memory
	if budgetMiB > 0 {
		m, err := rocksdb.NewMemory(rocksdb.MemoryConfig{TotalBytes: int64(budgetMiB) << 20})
		if err != nil {
			return err
		}
		defer m.Close()
		if err := m.Attach(dir); err != nil {
			return err
		}
		mem = m
	}
	stores := make([]store.KeyValueBytes, w.partitions)
	for p := range stores {
		s := rocksdb.KeyValue("counts").Get()
		task := fmt.Sprintf("0_%d", p)
		if err := s.Init(store.InitContext{TaskID: task, StateDir: filepath.Join(dir, task), Logger: zap.NewNop()}); err != nil {
			return err
		}
		defer s.Close()
		stores[p] = s
	}
	sample := func() {
		if w.trace {
			st := rocksdb.MemoryStats{}
			if mem != nil {
				st = mem.Stats()
			}
			fmt.Fprintf(os.Stderr, "rss %d MiB, cache %d MiB (pinned %d), write buffers %d MiB\n",
				rss()>>20, st.UsedBytes>>20, st.PinnedBytes>>20, st.WriteBufferBytes>>20)
		}
		if mem != nil {
			st := mem.Stats()
			r.PeakCacheBytes = max(r.PeakCacheBytes, st.UsedBytes)
			r.PeakWriteBufferBytes = max(r.PeakWriteBufferBytes, st.WriteBufferBytes)
		}
	}
	value := make([]byte, w.valueBytes)
	key := make([]byte, 8)
	const sampleEvery = 50_000
	start := time.Now()
	for pass := range w.passes {
		for i := range w.keys {
			k := spread(i)
			binary.BigEndian.PutUint64(key, k)
			binary.BigEndian.PutUint64(value, uint64(pass))
			if err := stores[k%uint64(w.partitions)].Put(key, value); err != nil {
				return err
			}
			if i%sampleEvery == 0 {
				sample()
			}
		}
	}
	sample()
	// The checkpoint of every task: memtables to files.
	for _, s := range stores {
		if err := store.FlushToDisk(s); err != nil {
			return err
		}
	}
	r.WriteSeconds = time.Since(start).Seconds()
	start = time.Now()
	step := coprime(w.keys)
	for i := range w.keys {
		k := spread(i * step % w.keys) // all the keys, in another order than the writes'
		binary.BigEndian.PutUint64(key, k)
		if _, ok, err := stores[k%uint64(w.partitions)].Get(key); err != nil || !ok {
			return fmt.Errorf("read key %d: found %v, %v", k, ok, err)
		}
		if i%sampleEvery == 0 {
			sample()
		}
	}
	r.ReadSeconds = time.Since(start).Seconds()
	sample()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.GoSysBytes = ms.Sys
	return report(r)
}

// spread maps 0..n-1 to distinct keys spread over the 64-bit space.
func spread(i int) uint64 { return uint64(i) * 0x9E3779B97F4A7C15 }

// coprime returns a step that walks 0..n-1 as a permutation: i*step % n.
func coprime(n int) int {
	step := 7919
	for gcd(step, n) != 1 {
		step++
	}
	return step
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func report(r result) error {
	return json.NewEncoder(os.Stdout).Encode(r)
}

// rss returns the process's resident set now, from /proc (Linux).
func rss() int64 {
	b, _ := os.ReadFile("/proc/self/statm")
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n * int64(os.Getpagesize())
}
