package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/kafkatest"
)

// distinctKeys is how many different keys the inputs use.
const distinctKeys = 10_000

// Options configure a harness run. Zero values take the defaults of the
// command's flags.
type Options struct {
	Records     int           // throughput-phase records per scenario; default 200,000
	ValueBytes  int           // value size; default 100
	Partitions  int           // partitions of input and output topics; default 4
	Brokers     string        // bootstrap servers; empty starts an embedded broker
	Runs        int           // repetitions of the scenario set; default 1
	Scenarios   []string      // default AllScenarios()
	LatencyRate int           // records/s in the latency phase; default 20,000; negative skips it
	LatencyFor  time.Duration // length of the latency phase; default 5 s
	Timeout     time.Duration // bound on each phase; default 2 minutes
	CPUProfile  string        // profile file for the throughput phases; empty: none
	Verbose     bool          // progress lines show per-partition output counts
	// Buffered sets the Apps' BufferedRecordsPerPartition (0: the App's
	// default), for diagnosis.
	Buffered int
	// AppConsumerConfig is added to the Apps' Config.ConsumerConfig (nil:
	// none), for diagnosis.
	AppConsumerConfig map[string]any
	// ConsumerCount counts the output with a consumer in every scenario
	// (read_uncommitted under at-least-once), so every scenario pays the
	// same counting cost; by default at-least-once outputs are counted by
	// their high watermarks, which costs next to nothing.
	ConsumerCount bool
	Progress      io.Writer // a progress line every second; nil: silent
}

func (o *Options) withDefaults() error {
	if o.Records == 0 {
		o.Records = 200_000
	}
	if o.ValueBytes == 0 {
		o.ValueBytes = 100
	}
	if o.Partitions == 0 {
		o.Partitions = 4
	}
	if o.Runs == 0 {
		o.Runs = 1
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios()
	}
	if o.LatencyRate == 0 {
		o.LatencyRate = 20_000
	}
	if o.LatencyFor == 0 {
		o.LatencyFor = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	var errs []error
	if o.Records < 0 {
		errs = append(errs, fmt.Errorf("-records %d is negative", o.Records))
	}
	if o.ValueBytes < 0 {
		errs = append(errs, fmt.Errorf("-value-bytes %d is negative", o.ValueBytes))
	}
	if o.Partitions < 0 {
		errs = append(errs, fmt.Errorf("-partitions %d is negative", o.Partitions))
	}
	if o.Runs < 0 {
		errs = append(errs, fmt.Errorf("-runs %d is negative", o.Runs))
	}
	if o.LatencyFor < 0 {
		errs = append(errs, fmt.Errorf("-latency-duration %v is negative", o.LatencyFor))
	}
	seen := map[string]bool{}
	for _, s := range o.Scenarios {
		if _, ok := scenarioByName(s); !ok {
			errs = append(errs, fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(AllScenarios(), ", ")))
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("scenario %q listed twice", s))
		}
		seen[s] = true
	}
	return errors.Join(errs...)
}

// Result is one scenario of one run.
type Result struct {
	Run      int
	Scenario string
	// Records is how many records the throughput phase moved.
	Records int
	// Startup is from starting the processor to the moment the clock
	// started (excluded from Elapsed).
	Startup time.Duration
	// Elapsed is from the clock start until the output held Records records.
	Elapsed time.Duration
	// Rate is Records / Elapsed, in records per second.
	Rate float64
	// ClockStart and Counted say how the throughput was measured.
	ClockStart, Counted string
	// CPU is the process's CPU time (user + system, every thread: Go,
	// librdkafka and, when embedded, the broker) during the throughput
	// phase.
	CPU     time.Duration
	Latency Latency
	Err     error
}

// Latency is the latency phase's outcome.
type Latency struct {
	Skipped            bool
	Committed          bool // read with a read_committed reader
	Sent, Received     int
	P50, P95, P99, Max time.Duration
}

// Run runs every selected scenario opts.Runs times and returns the report.
// A scenario that fails is reported with its error and the run goes on;
// the error returned is for problems that stop the whole run.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	rep := &Report{Opts: opts, Machine: machine(opts.Brokers)}
	bootstrap := opts.Brokers
	if bootstrap == "" {
		c, err := kafkatest.Start(kafkatest.Config{})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		bootstrap = c.Bootstrap()
	}
	// The admin client takes no go.logs.channel.enable (it has no log channel).
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	h := &harness{opts: opts, bootstrap: bootstrap, admin: admin, tag: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff),
		prog: newProgress(opts.Progress)}
	defer h.prog.close()
	h.makeData()
	for run := 1; run <= opts.Runs; run++ {
		for _, name := range opts.Scenarios {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			sc, _ := scenarioByName(name)
			h.prog.printf("[run %d/%d] %s", run, opts.Runs, sc.name)
			res := h.runScenario(ctx, run, sc)
			if res.Err != nil {
				h.prog.printf("[run %d/%d] %s FAILED: %v", run, opts.Runs, sc.name, res.Err)
			} else if res.Latency.Skipped {
				h.prog.printf("[run %d/%d] %s: %.0f records/s", run, opts.Runs, sc.name, res.Rate)
			} else {
				h.prog.printf("[run %d/%d] %s: %.0f records/s, latency p50 %v p99 %v", run, opts.Runs, sc.name,
					res.Rate, res.Latency.P50.Round(10*time.Microsecond), res.Latency.P99.Round(10*time.Microsecond))
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

type harness struct {
	opts      Options
	bootstrap string
	admin     *kafka.AdminClient
	tag       string // makes topic and group names unique to this invocation
	prog      *progress
	keys      [][]byte
	values    [][]byte
}

// makeData prepares the keys and a pool of values; records pick both with
// a fixed seed, so every scenario sees the same input.
func (h *harness) makeData() {
	h.keys = make([][]byte, distinctKeys)
	for i := range h.keys {
		h.keys[i] = fmt.Appendf(nil, "key-%05d", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	h.values = make([][]byte, 1024)
	for i := range h.values {
		v := make([]byte, h.opts.ValueBytes)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		h.values[i] = v
	}
}

// records returns a generator of input records' keys and values, seeded so
// that runs repeat.
func (h *harness) records(seed uint64) func() (key, value []byte) {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func() ([]byte, []byte) {
		return h.keys[rng.IntN(len(h.keys))], h.values[rng.IntN(len(h.values))]
	}
}

func (h *harness) runScenario(ctx context.Context, run int, sc scenario) (res Result) {
	res = Result{Run: run, Scenario: sc.name, Records: h.opts.Records}
	fail := func(err error) Result {
		res.Err = err
		return res
	}
	defer h.prog.set("", nil)
	base := fmt.Sprintf("bench-%s-r%d-%s", h.tag, run, sc.name)
	in, out := base+"-in", base+"-out"
	topics := []string{in, out}
	if err := createTopics(ctx, h.admin, topics, h.opts.Partitions); err != nil {
		return fail(err)
	}
	if sc.kind == kindCount {
		topics = append(topics, base+"-counts-changelog") // created by the App
	}
	defer deleteTopics(h.admin, topics)

	// Pre-load.
	label := fmt.Sprintf("[run %d/%d] %s", run, h.opts.Runs, sc.name)
	if err := h.preload(ctx, label, in); err != nil {
		return fail(fmt.Errorf("pre-load: %w", err))
	}

	// Throughput.
	var counter outputCounter
	var err error
	switch {
	case sc.eos:
		counter, err = startConsumerCounter(h.bootstrap, out, int32(h.opts.Partitions), h.opts.Records, true)
		res.Counted = "read_committed consumer's record count"
	case h.opts.ConsumerCount:
		counter, err = startConsumerCounter(h.bootstrap, out, int32(h.opts.Partitions), h.opts.Records, false)
		res.Counted = "read_uncommitted consumer's record count (-consumer-count)"
	default:
		counter, err = startWatermarkCounter(h.bootstrap, out, int32(h.opts.Partitions), h.opts.Records)
		res.Counted = "sum of output high watermarks, polled every 20 ms"
	}
	if err != nil {
		return fail(err)
	}
	defer counter.stop()
	stateDir, err := os.MkdirTemp("", "millrace-bench-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(stateDir)
	began := time.Now()
	p, err := startProcessor(sc, h.bootstrap, base, in, out, stateDir, h.opts)
	if err != nil {
		return fail(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()
	res.ClockStart = p.clockStart()
	h.prog.set(label+" starting", func() string {
		line := fmt.Sprintf("(%v)", time.Since(began).Round(time.Millisecond))
		if r, ok := p.(interface{ restoring() string }); ok {
			if s := r.restoring(); s != "" {
				line += " " + s // state restoring from changelogs, live
			}
		}
		return line
	})
	select {
	case <-p.ready():
	case <-p.exited():
		return fail(fmt.Errorf("processor stopped before it was ready: %w", stopErr(p)))
	case <-time.After(h.opts.Timeout):
		return fail(fmt.Errorf("processor not ready within %v", h.opts.Timeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	t0 := p.readyAt()
	res.Startup = t0.Sub(began)
	stopProfile := h.startProfile(sc.name)
	cpu0 := processCPU()
	line := rateLine(counter.count, h.opts.Records, "records out", t0)
	if h.opts.Verbose {
		line = func() string {
			return rateLine(counter.count, h.opts.Records, "records out", t0)() + fmt.Sprint(" ", counter.perPartition())
		}
	}
	h.prog.set(label+" throughput", line)
	select {
	case <-counter.reached():
	case <-p.exited():
		stopProfile()
		return fail(fmt.Errorf("processor stopped with %d of %d records out: %w", counter.count(), h.opts.Records, stopErr(p)))
	case <-time.After(h.opts.Timeout):
		stopProfile()
		return fail(fmt.Errorf("only %d of %d records out after %v", counter.count(), h.opts.Records, h.opts.Timeout))
	case <-ctx.Done():
		stopProfile()
		return fail(ctx.Err())
	}
	stopProfile()
	res.CPU = processCPU() - cpu0
	res.Elapsed = counter.reachedAt().Sub(t0)
	res.Rate = float64(h.opts.Records) / res.Elapsed.Seconds()
	counter.stop()
	h.prog.set("", nil)

	// Latency.
	if h.opts.LatencyRate > 0 && h.opts.LatencyFor > 0 {
		lat, err := h.latency(ctx, label, sc, p, in, out)
		if err != nil {
			return fail(fmt.Errorf("latency phase: %w", err))
		}
		res.Latency = lat
	} else {
		res.Latency.Skipped = true
	}
	h.prog.set("", nil)
	stopped = true
	if err := p.stop(); err != nil {
		return fail(fmt.Errorf("processor stopped with an error: %w", err))
	}
	return res
}

// preload writes opts.Records records to topic and waits for every ack.
func (h *harness) preload(ctx context.Context, label, topic string) error {
	lp, err := newLoadProducer(h.bootstrap, map[string]any{"linger.ms": 20, "batch.size": 1 << 20,
		"batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1 << 20})
	if err != nil {
		return err
	}
	defer lp.close()
	start := time.Now()
	h.prog.set(label+" pre-load", rateLine(lp.acked.Load, h.opts.Records, "records acked", start))
	next := h.records(1)
	for i := 0; i < h.opts.Records; i++ {
		k, v := next()
		if err := lp.produce(ctx, topic, k, v, time.Now()); err != nil {
			return err
		}
	}
	return lp.wait(ctx, h.opts.Records, h.opts.Timeout)
}

// latency runs the paced phase against the running processor p.
func (h *harness) latency(ctx context.Context, label string, sc scenario, p processorHandle, in, out string) (Latency, error) {
	lat := Latency{Committed: sc.eos}
	total := int(float64(h.opts.LatencyRate) * h.opts.LatencyFor.Seconds())
	offsets, err := highWatermarks(h.bootstrap, out, int32(h.opts.Partitions))
	if err != nil {
		return lat, err
	}
	rd, err := startLatencyReader(h.bootstrap, out, offsets, sc.eos, total)
	if err != nil {
		return lat, err
	}
	defer rd.stop()
	lp, err := newLoadProducer(h.bootstrap, map[string]any{"linger.ms": 1})
	if err != nil {
		return lat, err
	}
	defer lp.close()
	var sent atomic.Int64
	start := time.Now()
	h.prog.set(label+" latency", func() string {
		return fmt.Sprintf("%d/%d sent at %d/s, %d received", sent.Load(), total, h.opts.LatencyRate, rd.count())
	})
	next := h.records(2)
	for n := 0; n < total; {
		due := min(int(float64(h.opts.LatencyRate)*time.Since(start).Seconds()), total)
		for ; n < due; n++ {
			k, v := next()
			if err := lp.produce(ctx, in, k, v, time.Now()); err != nil {
				return lat, err
			}
		}
		sent.Store(int64(n))
		select {
		case <-p.exited():
			return lat, fmt.Errorf("processor stopped: %w", stopErr(p))
		case <-ctx.Done():
			return lat, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	lat.Sent = total
	drain := 15*time.Second + h.opts.LatencyFor
	select {
	case <-rd.reached():
	case <-p.exited():
		return lat, fmt.Errorf("processor stopped: %w", stopErr(p))
	case <-time.After(drain):
	case <-ctx.Done():
		return lat, ctx.Err()
	}
	rd.stop()
	lats := rd.latencies()
	lat.Received = len(lats)
	if len(lats) == 0 {
		return lat, fmt.Errorf("no output record arrived within %v of the last input", drain)
	}
	if len(lats) < total {
		return lat, fmt.Errorf("%d of %d records arrived within %v of the last input", len(lats), total, drain)
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(int(p*float64(len(lats))), len(lats)-1)] }
	lat.P50, lat.P95, lat.P99, lat.Max = pct(0.50), pct(0.95), pct(0.99), lats[len(lats)-1]
	return lat, nil
}

// stopErr stops a processor that stopped by itself and returns why.
func stopErr(p processorHandle) error {
	if err := p.stop(); err != nil {
		return err
	}
	return errors.New("it returned no error")
}

// startProfile profiles until the returned function is called.
func (h *harness) startProfile(scenario string) func() {
	if h.opts.CPUProfile == "" {
		return func() {}
	}
	path := h.opts.CPUProfile
	if len(h.opts.Scenarios) > 1 || h.opts.Runs > 1 {
		ext := filepath.Ext(path)
		path = strings.TrimSuffix(path, ext) + "." + scenario + ext
	}
	f, err := os.Create(path)
	if err != nil {
		h.prog.printf("cpuprofile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		h.prog.printf("cpuprofile: %v", err)
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
			h.prog.printf("cpuprofile of %s's throughput phase written to %s", scenario, path)
		})
	}
}

// rateLine formats "done/total what (rate/s)" for progress lines.
func rateLine(done func() int64, total int, what string, since time.Time) func() string {
	return func() string {
		n := done()
		return fmt.Sprintf("%d/%d %s (%.0f records/s so far)", n, total, what, float64(n)/time.Since(since).Seconds())
	}
}

// progress prints the current status line every second.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	label string
	fn    func() string
	stopc chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, stopc: make(chan struct{}), done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.mu.Lock()
				if p.fn != nil {
					fmt.Fprintf(p.w, "  %s %s\n", p.label, p.fn())
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *progress) set(label string, fn func() string) {
	p.mu.Lock()
	p.label, p.fn = label, fn
	p.mu.Unlock()
}

func (p *progress) printf(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.mu.Unlock()
}

func (p *progress) close() {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
}

// processCPU returns the CPU time the process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
