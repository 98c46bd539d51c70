package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of Run.
type Report struct {
	Opts    Options
	Machine string
	Load    string // load averages at the start -> at the end
	Results []Result
}

// Failed reports whether any row failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Err != nil {
			return true
		}
	}
	return false
}

// goal is a ratio of rates the project wants checked, measured in one run.
type goal struct {
	scenario, base string
	min            float64
}

var goals = []goal{
	{"passthrough", "raw", 1.5},  // issue 9, item 6: past the per-message client's ceiling
	{"count", "goka-count", 2.5}, // issue 9, item 6
	{"count", "raw", 0.7},        // the first bench's goals
	{"count-eos", "count", 0.8},
}

// metric is one figure of a row, with how to show it.
type metric struct {
	name   string
	get    func(Result) (float64, bool)
	format func(float64) string
	// lowerBetter: for CPU, latency and memory a ratio under 1 is good.
	lowerBetter bool
}

var metrics = []metric{
	{name: "records/s", get: func(r Result) (float64, bool) { return r.Rate, r.Rate > 0 }, format: thousands},
	{name: "CPU µs/rec", get: func(r Result) (float64, bool) { return r.CPUPerRecord(), r.CPU > 0 },
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }, lowerBetter: true},
	{name: "p50", get: func(r Result) (float64, bool) { return float64(r.Latency.P50), !r.Latency.Skipped && r.Latency.P50 > 0 },
		format: func(v float64) string { return fmtMs(time.Duration(v)) }, lowerBetter: true},
	{name: "p99", get: func(r Result) (float64, bool) { return float64(r.Latency.P99), !r.Latency.Skipped && r.Latency.P99 > 0 },
		format: func(v float64) string { return fmtMs(time.Duration(v)) }, lowerBetter: true},
	{name: "peak RSS", get: func(r Result) (float64, bool) { return float64(r.MaxRSS), r.MaxRSS > 0 },
		format: func(v float64) string { return mib(int64(v)) }, lowerBetter: true},
}

// summary is one row's figures and ratios to its baseline: one run's, or
// the medians over runs (ratios: the median of the per-run ratios).
type summary struct {
	name, base string
	kind       kind
	runs       int // successful runs summarized
	val        []float64
	has        []bool
	ratio      []float64
	hasRatio   []bool
	why        string // why latency was skipped
	err        error
	restore    Result // a successful run's restore figures (median rate)
}

// summarize summarizes the named rows of the given runs.
func (r *Report) summarize(runs []int) []summary {
	var out []summary
	for _, row := range r.Opts.rows {
		s := summary{name: row.name, base: row.base, kind: row.kind, val: make([]float64, len(metrics)), has: make([]bool, len(metrics)),
			ratio: make([]float64, len(metrics)), hasRatio: make([]bool, len(metrics))}
		vals := make([][]float64, len(metrics))
		ratios := make([][]float64, len(metrics))
		var last error
		var restores []Result
		for _, run := range runs {
			res, ok := r.result(run, row.name)
			if !ok {
				continue
			}
			if res.Err != nil {
				last = res.Err
				continue
			}
			s.runs++
			s.why = res.Latency.Why
			restores = append(restores, res)
			base, baseOK := r.result(run, row.base)
			for i, m := range metrics {
				v, ok := m.get(res)
				if !ok {
					continue
				}
				vals[i] = append(vals[i], v)
				if baseOK && base.Err == nil {
					if b, ok := m.get(base); ok && b > 0 {
						ratios[i] = append(ratios[i], v/b)
					}
				}
			}
		}
		if s.runs == 0 {
			s.err = last
			if s.err == nil {
				s.err = fmt.Errorf("not run")
			}
		}
		for i := range metrics {
			if len(vals[i]) > 0 {
				s.val[i], s.has[i] = median(vals[i]), true
			}
			if len(ratios[i]) > 0 {
				s.ratio[i], s.hasRatio[i] = median(ratios[i]), true
			}
		}
		if len(restores) > 0 {
			slices.SortFunc(restores, func(a, b Result) int { return int(a.Elapsed - b.Elapsed) })
			s.restore = restores[len(restores)/2]
		}
		out = append(out, s)
	}
	return out
}

// result finds a row's result in a run.
func (r *Report) result(run int, name string) (Result, bool) {
	if name == "" {
		return Result{}, false
	}
	for _, res := range r.Results {
		if res.Run == run && res.Scenario == name {
			return res, true
		}
	}
	return Result{}, false
}

func (r *Report) allRuns() []int {
	var runs []int
	for run := 1; run <= r.Opts.Runs; run++ {
		runs = append(runs, run)
	}
	return runs
}

// machine describes where the run happens.
func machine(brokers string) string {
	model, cpus := "unknown", 0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if model == "unknown" {
					model = strings.TrimSpace(v)
				}
			case "processor":
				cpus++
			}
		}
		f.Close()
	}
	broker := "embedded kfake broker in the parent process; each row's processor runs in a child process of its own"
	if brokers != "" {
		broker = "Kafka cluster at " + brokers + "; each row's processor runs in a child process of its own"
	}
	return fmt.Sprintf("GOMAXPROCS=%d, %d CPUs (%s), %s %s/%s\nbroker:  %s",
		runtime.GOMAXPROCS(0), cpus, model, runtime.Version(), runtime.GOOS, runtime.GOARCH, broker)
}

// Print writes the tables, the goals and how things were measured.
func (r *Report) Print(w io.Writer, args []string) {
	o := r.Opts
	cmd := append([]string{"bench"}, args[1:]...)
	fmt.Fprintf(w, "\ncommand: %s\n", strings.Join(quoteArgs(cmd), " "))
	fmt.Fprintf(w, "options: -records %d -big-records %d -value-bytes %d -partitions %d -runs %d -latency-rate %d -latency-duration %v\n",
		o.Records, o.BigRecords, o.ValueBytes, o.Partitions, o.Runs, max(o.LatencyRate, 0), o.LatencyFor)
	if o.Buffered != 0 || len(o.AppConsumerConfig) > 0 || len(o.AppProducerConfig) > 0 {
		fmt.Fprintf(w, "NOT THE DEFAULTS: Apps run with BufferedRecordsPerPartition=%d (0 = default), ConsumerConfig=%v and ProducerConfig=%v\n",
			o.Buffered, o.AppConsumerConfig, o.AppProducerConfig)
	}
	if len(o.RawConfig) > 0 {
		fmt.Fprintf(w, "NOT THE TUNING BELOW: the raw baselines run with -raw-config %v\n", o.RawConfig)
	}
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	fmt.Fprintf(w, "load:    %s (1, 5, 15 min load averages at the start -> at the end)\n", r.Load)

	if o.Runs > 1 {
		for run := 1; run <= o.Runs; run++ {
			fmt.Fprintf(w, "\nrun %d of %d\n", run, o.Runs)
			table(w, r.summarize([]int{run}))
		}
		fmt.Fprintf(w, "\nmedian of %d runs (ratios: median of the per-run ratios)\n", o.Runs)
	} else {
		fmt.Fprintln(w)
	}
	all := r.summarize(r.allRuns())
	table(w, all)
	fmt.Fprintln(w, "  (x) = this row / its baseline (column \"vs\") in the same run; records/s: higher is better, the others: lower is better")

	r.printRestore(w, all)
	r.printComparisons(w, all)

	fmt.Fprintf(w, "\ngoals (ratios of rates measured in the same run")
	if o.Runs > 1 {
		fmt.Fprintf(w, "; median over the runs")
	}
	fmt.Fprintln(w, "):")
	for _, g := range goals {
		ratio, ok := r.rateRatio(g.scenario, g.base)
		label := fmt.Sprintf("%s >= %.1fx %s", g.scenario, g.min, g.base)
		switch {
		case !ok:
			fmt.Fprintf(w, "  %-28s n/a (needs both rows, successful)\n", label)
		case ratio >= g.min:
			fmt.Fprintf(w, "  %-28s %5.2fx  PASS\n", label, ratio)
		default:
			fmt.Fprintf(w, "  %-28s %5.2fx  MISS\n", label, ratio)
		}
	}
	r.printHow(w)
	for _, res := range r.Results {
		if res.Err != nil {
			fmt.Fprintf(w, "\nFAILED run %d %s: %v\n", res.Run, res.Scenario, res.Err)
		}
	}
}

// table prints one line per row: each figure with its ratio.
func table(w io.Writer, rows []summary) {
	widths := []int{18, 11, 18, 14, 18, 18, 16}
	head := []string{"row", "vs", "records/s (x)", "CPU µs/rec (x)", "p50 (x)", "p99 (x)", "peak RSS (x)"}
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(w, " | ")
			}
			if i < 2 {
				fmt.Fprintf(w, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(w, "%*s", widths[i], c)
			}
		}
		fmt.Fprintln(w)
	}
	line(head)
	var sep []string
	for _, wd := range widths {
		sep = append(sep, strings.Repeat("-", wd))
	}
	fmt.Fprintln(w, strings.Join(sep, "-+-"))
	for _, s := range rows {
		base := s.base
		if base == "" {
			base = "(baseline)"
		}
		if s.err != nil {
			line([]string{s.name, base, "FAILED", "-", "-", "-", "-"})
			continue
		}
		cells := []string{s.name, base}
		// metrics order: rate, cpu, p50, p99, rss
		for i, m := range metrics {
			if !s.has[i] {
				cells = append(cells, "-")
				continue
			}
			c := m.format(s.val[i])
			if s.hasRatio[i] {
				c += fmt.Sprintf(" (%.2f)", s.ratio[i])
			}
			cells = append(cells, c)
		}
		line(cells)
	}
}

// printRestore gives the restore rows' rates in records/s and MB/s.
func (r *Report) printRestore(w io.Writer, rows []summary) {
	header := false
	for _, s := range rows {
		if s.err != nil || (s.kind != kindRestore && s.kind != kindRawRead) {
			continue
		}
		if !header {
			fmt.Fprintln(w, "\nrestore (records of distinct keys in a changelog; MB = 10^6 bytes of keys and values):")
			header = true
		}
		res := s.restore
		fmt.Fprintf(w, "  %-10s %s records, %.1f MB in %v: %s records/s, %.1f MB/s", s.name, thousands(float64(res.Records)),
			float64(res.Restore.Bytes)/1e6, res.Elapsed.Round(time.Millisecond), thousands(res.Rate), res.MBps())
		if res.Kind == kindRestore {
			fmt.Fprintf(w, "; net of the %v an App takes to reach RUNNING on an empty changelog: %s records/s",
				res.Restore.EmptyStart.Round(time.Millisecond), thousands(res.NetRate()))
			fmt.Fprint(w, restoreRatios(s, rows))
		}
		fmt.Fprintln(w)
	}
}

// printComparisons compares rows that are not each other's baseline:
// Millrace's count against Goka's, and each App row on its own producer
// client against its +wrapper twin.
func (r *Report) printComparisons(w io.Writer, rows []summary) {
	pairs := [][2]string{{"count", "goka-count"}}
	for _, row := range r.Opts.rows {
		if row.wrapper {
			pairs = append(pairs, [2]string{strings.TrimSuffix(row.name, wrapperSuffix), row.name})
		}
	}
	for _, pr := range pairs {
		ratios := make([][]float64, len(metrics))
		for _, run := range r.allRuns() {
			a, okA := r.result(run, pr[0])
			b, okB := r.result(run, pr[1])
			if !okA || !okB || a.Err != nil || b.Err != nil {
				continue
			}
			for i, m := range metrics {
				va, okA := m.get(a)
				vb, okB := m.get(b)
				if okA && okB && vb > 0 {
					ratios[i] = append(ratios[i], va/vb)
				}
			}
		}
		var parts []string
		for i, m := range metrics {
			if len(ratios[i]) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.2fx", m.name, median(ratios[i])))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "\n%s / %s (same run): %s\n", pr[0], pr[1], strings.Join(parts, ", "))
		}
	}
}

// rateRatio is the ratio of two rows' rates: the run's own, or the median
// over runs.
func (r *Report) rateRatio(a, b string) (float64, bool) {
	var ratios []float64
	for _, run := range r.allRuns() {
		ra, okA := r.result(run, a)
		rb, okB := r.result(run, b)
		if okA && okB && ra.Err == nil && rb.Err == nil && ra.Rate > 0 && rb.Rate > 0 {
			ratios = append(ratios, ra.Rate/rb.Rate)
		}
	}
	if len(ratios) == 0 {
		return 0, false
	}
	return median(ratios), true
}

// printHow says how each figure was measured.
func (r *Report) printHow(w io.Writer) {
	o := r.Opts
	fmt.Fprintln(w, "\nrows:")
	for _, row := range o.rows {
		suffix := ""
		if strings.Contains(row.name, "/") {
			suffix = fmt.Sprintf(" (on %d partitions)", row.partitions)
			if row.partitions == 1 {
				suffix = " (on 1 partition)"
			}
		}
		if row.wrapper {
			suffix += ", on confluent-kafka-go's producer instead of the App's own client"
		}
		fmt.Fprintf(w, "  %-18s %s%s\n", row.name, row.doc, suffix)
	}
	fmt.Fprintln(w, "\nbaselines:")
	fmt.Fprintf(w, "  raw, raw-eos, raw-read tuning: %s\n", rawTuningText())
	fmt.Fprintf(w, "  goka-count: %s\n", gokaTuningText())
	fmt.Fprintln(w, "  Millrace rows run with the App's defaults (at-least-once: 30 s commits; exactly-once v2: 100 ms commits).")

	fmt.Fprintln(w, "\nhow it was measured:")
	fmt.Fprintln(w, "  records/s = input records moved from the first output record to the last / that time, so every processor's")
	fmt.Fprintln(w, "    start-up (group join, offset fetch, first fetch, producer id) is left out alike; CPU µs/rec over the same window.")
	fmt.Fprintln(w, "    Restore rows: every record / time from the child's start until it was ready (read everything; RUNNING).")
	seen := map[string]bool{}
	for _, res := range r.Results {
		if res.Err != nil || seen[res.Scenario] {
			continue
		}
		seen[res.Scenario] = true
		fmt.Fprintf(w, "    %-18s %s records", res.Scenario, thousands(float64(res.Records)))
		if res.Startup > 0 {
			fmt.Fprintf(w, "; ready (%s) %v after the start, first output %v later", res.ClockStart,
				res.Startup.Round(time.Millisecond), res.FirstOut.Round(time.Millisecond))
		} else {
			fmt.Fprintf(w, "; clock from %s", res.ClockStart)
		}
		fmt.Fprintf(w, "; %s\n", res.Counted)
	}
	fmt.Fprintln(w, "  CPU µs/rec = the child process's CPU time (user + system, all threads: Go, librdkafka, RocksDB) in the")
	fmt.Fprintln(w, "    measured phase / its records; the parent's (loader, counters, embedded broker) is not in it. Run 1:")
	for _, res := range r.Results {
		if res.Err != nil || res.Run != 1 || res.Elapsed <= 0 {
			continue
		}
		fmt.Fprintf(w, "    %-18s child %6.2f s CPU in %6.2f s = %3.0f%% of %d CPUs; parent %6.2f s\n", res.Scenario,
			res.CPU.Seconds(), res.Elapsed.Seconds(), 100*res.CPU.Seconds()/res.Elapsed.Seconds()/float64(runtime.NumCPU()),
			runtime.NumCPU(), res.ParentCPU.Seconds())
	}
	fmt.Fprintln(w, "  peak RSS = the child's VmHWM when it stopped: its peak over its whole life (start-up, throughput, latency).")
	fmt.Fprintln(w, "  latency = reader's clock at receipt - the input's produce time (the record timestamp, carried to the output;")
	fmt.Fprintln(w, "    goka-count carries it in a bench-ts header); timestamps have millisecond resolution, so each figure")
	fmt.Fprintln(w, "    reads up to 1 ms high; input producer linger.ms=1; readers fetch.wait.max.ms=10; *-eos rows are read")
	fmt.Fprintln(w, "    read_committed, so their latency includes the 100 ms commit interval.")
	for _, row := range o.rows {
		if !row.hasLatency() && row.shape != shapeLog {
			fmt.Fprintf(w, "    %s has no latency figures: its outputs are cache-compacted and leave at commits (every 30 s).\n", row.name)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

func thousands(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// WriteFiles writes report.txt and report.svg into dir.
func (r *Report) WriteFiles(dir string, args []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	r.Print(&b, args)
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	var svg strings.Builder
	title, subtitle := r.chartTitle(args)
	writeChart(&svg, r.summarize(r.allRuns()), title, subtitle)
	return os.WriteFile(filepath.Join(dir, "report.svg"), []byte(svg.String()), 0o644)
}

func (r *Report) chartTitle(args []string) (string, string) {
	cmd := append([]string{"bench"}, args[1:]...)
	return "Millrace bench: each row / its baseline, measured in the same run",
		fmt.Sprintf("%s; load %s", strings.Join(quoteArgs(cmd), " "), r.Load)
}
