package main

import (
	"bufio"
	"fmt"
	"io"
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
	Results []Result
}

// Failed reports whether any scenario failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Err != nil {
			return true
		}
	}
	return false
}

// goal is a ratio the project wants checked, measured in one run.
type goal struct {
	scenario, base string
	min            float64
}

var goals = []goal{
	{"passthrough", "raw", 0.9},
	{"count", "raw", 0.7},
	{"count-eos", "count", 0.8},
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
	broker := "embedded kfake broker in this process (it shares the CPUs with everything measured)"
	if brokers != "" {
		broker = "Kafka cluster at " + brokers
	}
	return fmt.Sprintf("GOMAXPROCS=%d, %d CPUs (%s), %s %s/%s\nbroker:  %s",
		runtime.GOMAXPROCS(0), cpus, model, runtime.Version(), runtime.GOOS, runtime.GOARCH, broker)
}

// Print writes the tables, the goals and how things were measured.
func (r *Report) Print(w io.Writer, args []string) {
	o := r.Opts
	cmd := append([]string{filepath.Base(args[0])}, args[1:]...)
	fmt.Fprintf(w, "\ncommand: %s\n", strings.Join(quoteArgs(cmd), " "))
	fmt.Fprintf(w, "options: -records %d -value-bytes %d -partitions %d -runs %d -scenarios %s -latency-rate %d -latency-duration %v\n",
		o.Records, o.ValueBytes, o.Partitions, o.Runs, strings.Join(o.Scenarios, ","), max(o.LatencyRate, 0), o.LatencyFor)
	if o.Buffered != 0 || len(o.AppConsumerConfig) > 0 {
		fmt.Fprintf(w, "NOT THE DEFAULTS: Apps run with BufferedRecordsPerPartition=%d (0 = default) and ConsumerConfig=%v\n",
			o.Buffered, o.AppConsumerConfig)
	}
	fmt.Fprintf(w, "machine: %s\n", r.Machine)

	runs := map[int][]Result{}
	for _, res := range r.Results {
		runs[res.Run] = append(runs[res.Run], res)
	}
	for run := 1; run <= o.Runs; run++ {
		if len(runs[run]) == 0 {
			continue
		}
		if o.Runs > 1 {
			fmt.Fprintf(w, "\nrun %d of %d\n", run, o.Runs)
		} else {
			fmt.Fprintln(w)
		}
		r.table(w, runs[run], nil)
	}
	if o.Runs > 1 {
		fmt.Fprintf(w, "\nmedian of %d runs (ratios: median of the per-run ratios)\n", o.Runs)
		rows, ratios := r.medians()
		r.table(w, rows, ratios)
	}

	fmt.Fprintf(w, "\ngoals (ratios of rates measured in the same run")
	if o.Runs > 1 {
		fmt.Fprintf(w, "; median over the runs")
	}
	fmt.Fprintln(w, "):")
	for _, g := range goals {
		ratio, ok := r.goalRatio(g)
		label := fmt.Sprintf("%s >= %.1fx %s", g.scenario, g.min, g.base)
		switch {
		case !ok:
			fmt.Fprintf(w, "  %-28s n/a (needs both scenarios, successful)\n", label)
		case ratio >= g.min:
			fmt.Fprintf(w, "  %-28s %5.2fx  PASS\n", label, ratio)
		default:
			fmt.Fprintf(w, "  %-28s %5.2fx  MISS\n", label, ratio)
		}
	}

	fmt.Fprintln(w, "\nhow it was measured:")
	fmt.Fprintf(w, "  records/s = %d records / time from the clock start until the output held them all; start-up is excluded:\n", o.Records)
	seen := map[string]bool{}
	for _, res := range r.Results {
		if res.Err != nil || seen[res.Scenario] {
			continue
		}
		seen[res.Scenario] = true
		fmt.Fprintf(w, "    %-16s clock starts at %s (start-up took %v); counted by the %s\n",
			res.Scenario, res.ClockStart, res.Startup.Round(time.Millisecond), res.Counted)
	}
	fmt.Fprintf(w, "  process CPU during the throughput phase (every thread: Go, librdkafka%s), run 1:\n", map[bool]string{true: ", the embedded broker", false: ""}[o.Brokers == ""])
	for _, res := range r.Results {
		if res.Err != nil || res.Run != 1 || res.Elapsed <= 0 {
			continue
		}
		fmt.Fprintf(w, "    %-16s %6.2f s CPU in %6.2f s = %3.0f%% of %d CPUs; %5.1f µs CPU per record\n", res.Scenario,
			res.CPU.Seconds(), res.Elapsed.Seconds(), 100*res.CPU.Seconds()/res.Elapsed.Seconds()/float64(runtime.NumCPU()),
			runtime.NumCPU(), float64(res.CPU.Microseconds())/float64(res.Records))
	}
	fmt.Fprintln(w, "  latency = reader's clock at receipt - record timestamp (the input's produce time, carried to the output);")
	fmt.Fprintln(w, "    timestamps have millisecond resolution (truncated), so each figure reads up to 1 ms high;")
	fmt.Fprintln(w, "    input producer linger.ms=1; raw and Millrace producers linger.ms=5; readers fetch.wait.max.ms=10;")
	fmt.Fprintln(w, "    *-eos rows are read with read_committed, so their latency includes the 100 ms commit interval.")
	for _, res := range r.Results {
		if res.Err != nil {
			fmt.Fprintf(w, "\nFAILED run %d %s: %v\n", res.Run, res.Scenario, res.Err)
		}
	}
}

// table prints rows; ratioOf gives the ratio column (nil: rate / the
// rows' raw rate).
func (r *Report) table(w io.Writer, rows []Result, ratioOf map[string]float64) {
	raw := rawRate(rows)
	fmt.Fprintf(w, "%-16s | %10s | %12s | %8s | %8s | %8s | %8s\n", "scenario", "records/s", "ratio vs raw", "p50", "p95", "p99", "max")
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", 16)+"-+-"+strings.Repeat("-", 10)+"-+-"+strings.Repeat("-", 12)+
		strings.Repeat("-+-"+strings.Repeat("-", 8), 4))
	for _, res := range rows {
		if res.Err != nil {
			fmt.Fprintf(w, "%-16s | %10s | %12s | %8s | %8s | %8s | %8s\n", res.Scenario, "FAILED", "-", "-", "-", "-", "-")
			continue
		}
		ratio := "-"
		if ratioOf != nil {
			if q, ok := ratioOf[res.Scenario]; ok {
				ratio = fmt.Sprintf("%.2fx", q)
			}
		} else if raw > 0 {
			ratio = fmt.Sprintf("%.2fx", res.Rate/raw)
		}
		l := res.Latency
		lat := func(d time.Duration) string {
			if l.Skipped {
				return "-"
			}
			return fmtMs(d)
		}
		fmt.Fprintf(w, "%-16s | %10s | %12s | %8s | %8s | %8s | %8s\n", res.Scenario, thousands(res.Rate), ratio,
			lat(l.P50), lat(l.P95), lat(l.P99), lat(l.Max))
	}
}

func rawRate(rows []Result) float64 {
	for _, res := range rows {
		if res.Scenario == "raw" && res.Err == nil {
			return res.Rate
		}
	}
	return 0
}

// goalRatio is the goal's ratio: the run's own, or the median over runs.
func (r *Report) goalRatio(g goal) (float64, bool) {
	var ratios []float64
	for run := 1; run <= r.Opts.Runs; run++ {
		var a, b float64
		for _, res := range r.Results {
			if res.Run != run || res.Err != nil {
				continue
			}
			switch res.Scenario {
			case g.scenario:
				a = res.Rate
			case g.base:
				b = res.Rate
			}
		}
		if a > 0 && b > 0 {
			ratios = append(ratios, a/b)
		}
	}
	if len(ratios) == 0 {
		return 0, false
	}
	return median(ratios), true
}

// medians summarizes several runs: per scenario, the median rate and
// median percentiles, and the median of its per-run ratios to raw.
func (r *Report) medians() ([]Result, map[string]float64) {
	var out []Result
	ratioOf := map[string]float64{}
	for _, name := range r.Opts.Scenarios {
		var rates, ratios, p50, p95, p99, mx []float64
		for _, res := range r.Results {
			if res.Scenario != name || res.Err != nil {
				continue
			}
			rates = append(rates, res.Rate)
			if raw := rawRate(r.runResults(res.Run)); raw > 0 {
				ratios = append(ratios, res.Rate/raw)
			}
			p50 = append(p50, float64(res.Latency.P50))
			p95 = append(p95, float64(res.Latency.P95))
			p99 = append(p99, float64(res.Latency.P99))
			mx = append(mx, float64(res.Latency.Max))
		}
		if len(rates) == 0 {
			out = append(out, Result{Scenario: name, Err: fmt.Errorf("failed in every run")})
			continue
		}
		if len(ratios) > 0 {
			ratioOf[name] = median(ratios)
		}
		out = append(out, Result{Scenario: name, Rate: median(rates), Latency: Latency{Skipped: r.Opts.LatencyRate <= 0,
			P50: time.Duration(median(p50)), P95: time.Duration(median(p95)), P99: time.Duration(median(p99)),
			Max: time.Duration(median(mx))}})
	}
	return out, ratioOf
}

func (r *Report) runResults(run int) []Result {
	var rows []Result
	for _, res := range r.Results {
		if res.Run == run {
			rows = append(rows, res)
		}
	}
	return rows
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
