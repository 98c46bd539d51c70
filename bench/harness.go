package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// distinctKeys is how many different keys the inputs use, but for the
// 1 M keys row.
const distinctKeys = 10_000

// Options configure a harness run. Zero values take the defaults of the
// command's flags.
type Options struct {
	Records     int           // throughput-phase records per row; default 2,000,000
	BigRecords  int           // records of count-1m-keys, raw-read and restore; default 1,000,000
	ValueBytes  int           // value size; default 100
	Partitions  int           // partitions of rows without a /pN suffix; default 4
	Brokers     string        // bootstrap servers; empty starts an embedded broker
	Runs        int           // repetitions of the row set; default 1
	Scenarios   []string      // row names; default AllScenarios()
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
	AppConsumerConfig map[string]string
	// AppProducerConfig is added to the Apps' Config.ProducerConfig (nil:
	// none), for measuring the App's producer properties.
	AppProducerConfig map[string]string
	// WrapperProducer also runs every App row on confluent-kafka-go's
	// producer (the row's name with +wrapper), right after it.
	WrapperProducer bool
	// RawConfig overrides the raw baselines' tuned properties
	// ("consumer.<property>" or "producer.<property>"), for diagnosis.
	RawConfig map[string]string
	// ConsumerCount counts at-least-once outputs with a read_uncommitted
	// consumer in the bench's process as well; false (the command's
	// default) counts them by the sum of their high watermarks, which
	// costs next to nothing. A counting consumer shares the machine's CPUs
	// with the processor it measures, and on two cores it took a fifth to
	// a half of what faster rows had (bench/README.md, "The bench's own
	// counter"). Exactly-once rows are always counted by a read_committed
	// consumer.
	ConsumerCount bool
	Progress      io.Writer // a progress line every second; nil: silent

	rows []row // resolved Scenarios
}

func (o *Options) withDefaults() error {
	if o.Records == 0 {
		o.Records = 2_000_000
	}
	if o.BigRecords == 0 {
		o.BigRecords = 1_000_000
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
	for _, c := range []struct {
		name string
		v    int
	}{{"-records", o.Records}, {"-big-records", o.BigRecords}, {"-value-bytes", o.ValueBytes},
		{"-partitions", o.Partitions}, {"-runs", o.Runs}} {
		if c.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", c.name, c.v))
		}
	}
	if o.LatencyFor < 0 {
		errs = append(errs, fmt.Errorf("-latency-duration %v is negative", o.LatencyFor))
	}
	for k := range o.RawConfig {
		if !strings.HasPrefix(k, "consumer.") && !strings.HasPrefix(k, "producer.") {
			errs = append(errs, fmt.Errorf("-raw-config: %q names neither consumer.<property> nor producer.<property>", k))
		}
	}
	if o.WrapperProducer {
		// Every App row is also run on confluent-kafka-go's producer,
		// right after it, so the two are measured in the same run.
		var with []string
		listed := map[string]bool{}
		for _, s := range o.Scenarios {
			listed[s] = true
		}
		for _, s := range o.Scenarios {
			with = append(with, s)
			if r, err := parseRow(s, o); err == nil && r.kind.isApp() && !r.wrapper && !listed[s+wrapperSuffix] {
				with = append(with, s+wrapperSuffix)
			}
		}
		o.Scenarios = with
	}
	seen := map[string]bool{}
	o.rows = nil
	for _, s := range o.Scenarios {
		r, err := parseRow(s, o)
		if err != nil {
			errs = append(errs, err)
		} else {
			o.rows = append(o.rows, r)
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("scenario %q listed twice", s))
		}
		seen[s] = true
	}
	return errors.Join(errs...)
}

// Result is one row of one run.
type Result struct {
	Run      int
	Scenario string
	// Base is the row the ratios divide by ("" for a baseline).
	Base string
	Kind kind
	// Records is how many input records the measured window moved: from
	// the first output to the last (restore rows: every record).
	Records int
	// Startup is from starting the processor to the moment the clock
	// started (excluded from Elapsed).
	Startup time.Duration
	// FirstOut is from the clock start until the first output record was
	// counted, where the measured window starts.
	FirstOut time.Duration
	// Elapsed is the measured window: from the first output until the
	// output held every record (restore rows: from the child's start
	// until ready).
	Elapsed time.Duration
	// Rate is Records / Elapsed, in records per second.
	Rate float64
	// ClockStart and Counted say how the throughput was measured.
	ClockStart, Counted string
	// CPU is the processor's child process's CPU time (user + system,
	// every thread: Go, librdkafka, RocksDB) during the measured phase.
	CPU time.Duration
	// ParentCPU is this process's CPU time during the same phase: the
	// loader's and counters' and, when embedded, the broker's.
	ParentCPU time.Duration
	// MaxRSS is the child's peak resident set over its whole life, in
	// bytes.
	MaxRSS  int64
	Latency Latency
	// Restore has the restore rows' extra facts.
	Restore RestoreFacts
	Err     error
}

// CPUPerRecord is the child's CPU time per record of the measured phase,
// in microseconds.
func (r Result) CPUPerRecord() float64 {
	if r.Records == 0 {
		return 0
	}
	return float64(r.CPU.Nanoseconds()) / 1e3 / float64(r.Records)
}

// Latency is the latency phase's outcome.
type Latency struct {
	Skipped            bool
	Why                string // why it was skipped
	Committed          bool   // read with a read_committed reader
	Sent, Received     int
	P50, P95, P99, Max time.Duration
}

// Run runs every selected row opts.Runs times and returns the report.
// A row that fails is reported with its error and the run goes on; the
// error returned is for problems that stop the whole run.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	rep := &Report{Opts: opts, Machine: machine(opts.Brokers), Load: loadAverage()}
	bootstrap := opts.Brokers
	if bootstrap == "" {
		c, err := startEmbedded()
		if err != nil {
			return nil, err
		}
		defer c.Close()
		bootstrap = strings.Join(c.ListenAddrs(), ",")
	}
	// The admin client takes no go.logs.channel.enable (it has no log channel).
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	h := &harness{opts: opts, bootstrap: bootstrap, admin: admin, tag: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff),
		prog: newProgress(opts.Progress), keys: map[int][][]byte{}, values: map[int][][]byte{}}
	defer h.prog.close()
	for run := 1; run <= opts.Runs; run++ {
		for _, r := range opts.rows {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			h.prog.printf("[run %d/%d] %s", run, opts.Runs, r.name)
			res := h.runRow(ctx, run, r)
			switch {
			case res.Err != nil:
				h.prog.printf("[run %d/%d] %s FAILED: %v", run, opts.Runs, r.name, res.Err)
			case res.Latency.Skipped:
				h.prog.printf("[run %d/%d] %s: %.0f records/s, %.1f µs CPU/record, peak RSS %s", run, opts.Runs, r.name,
					res.Rate, res.CPUPerRecord(), mib(res.MaxRSS))
			default:
				h.prog.printf("[run %d/%d] %s: %.0f records/s, %.1f µs CPU/record, latency p50 %v p99 %v, peak RSS %s", run, opts.Runs, r.name,
					res.Rate, res.CPUPerRecord(), res.Latency.P50.Round(10*time.Microsecond), res.Latency.P99.Round(10*time.Microsecond), mib(res.MaxRSS))
			}
			rep.Results = append(rep.Results, res)
		}
	}
	rep.Load += " -> " + loadAverage()
	return rep, nil
}

// startEmbedded starts the in-process broker (kafkatest.Start's
// settings, with the kfake cluster at hand for the idle mode's request
// counting).
func startEmbedded() (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return c, nil
}

type harness struct {
	opts      Options
	bootstrap string
	admin     *kafka.AdminClient
	tag       string // makes topic and group names unique to this invocation
	prog      *progress
	keys      map[int][][]byte // by key space
	values    map[int][][]byte // pools of 1024 values, by size
}

// keySpace returns n distinct keys, made once.
func (h *harness) keySpace(n int) [][]byte {
	if ks, ok := h.keys[n]; ok {
		return ks
	}
	width := len(fmt.Sprint(n - 1))
	ks := make([][]byte, n)
	for i := range ks {
		ks[i] = fmt.Appendf(nil, "key-%0*d", width, i)
	}
	h.keys[n] = ks
	return ks
}

// valuePool returns 1024 random values of size bytes, made once with a
// fixed seed.
func (h *harness) valuePool(size int) [][]byte {
	if vs, ok := h.values[size]; ok {
		return vs
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vs := make([][]byte, 1024)
	for i := range vs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		vs[i] = v
	}
	h.values[size] = vs
	return vs
}

// records returns a generator of a row's input keys and values, seeded so
// that runs repeat.
func (h *harness) records(r row, seed uint64) func() (key, value []byte) {
	keys, values := h.keySpace(r.keySpace), h.valuePool(r.valueBytes)
	rng := rand.New(rand.NewPCG(seed, 7))
	return func() ([]byte, []byte) {
		return keys[rng.IntN(len(keys))], values[rng.IntN(len(values))]
	}
}

// topicBase names a row's topics and group: row names may hold '/'.
func (h *harness) topicBase(run int, r row) string {
	return fmt.Sprintf("bench-%s-r%d-%s", h.tag, run, strings.NewReplacer("/", "-", "+", "-").Replace(r.name))
}

// clockOf says when a kind's clock starts.
func clockOf(k kind) string {
	switch k {
	case kindRaw:
		return "consumer assignment"
	case kindGoka:
		return "goka Processor.WaitForReady"
	case kindRawRead:
		return "the child's start (ends when every record is read)"
	case kindRestore:
		return "the child's start (ends at App state RUNNING)"
	}
	return "App state RUNNING"
}

// spec returns the child spec of a row.
func (h *harness) spec(r row, appID, in, in2, out, stateDir string) childSpec {
	s := childSpec{Row: r.name, Kind: r.kind, EOS: r.eos, Bootstrap: h.bootstrap, AppID: appID, In: in, In2: in2, Out: out,
		StateDir: stateDir, Partitions: r.partitions, Records: r.records, Buffered: h.opts.Buffered,
		AppConsumerConfig: h.opts.AppConsumerConfig, AppProducerConfig: h.opts.AppProducerConfig, RawConfig: h.opts.RawConfig, WrapperProducer: r.wrapper}
	if p := h.opts.CPUProfile; p != "" {
		if len(h.opts.rows) > 1 || h.opts.Runs > 1 {
			ext := filepath.Ext(p)
			p = strings.TrimSuffix(p, ext) + "." + strings.NewReplacer("/", "-", "+", "-").Replace(r.name) + ext
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		s.CPUProfile = p
	}
	return s
}

func (h *harness) runRow(ctx context.Context, run int, r row) (res Result) {
	if r.shape == shapeLog {
		return h.runRestoreRow(ctx, run, r)
	}
	res = Result{Run: run, Scenario: r.name, Base: r.base, Kind: r.kind, Records: r.records}
	fail := func(err error) Result {
		res.Err = err
		return res
	}
	defer h.prog.set("", nil)
	base := h.topicBase(run, r)
	in, out, in2 := base+"-in", base+"-out", ""
	topics := []string{in, out}
	if r.shape != shapeKeys {
		in2 = base + "-in2"
		topics = append(topics, in2)
	}
	if err := createTopics(ctx, h.admin, topics, r.partitions, nil); err != nil {
		return fail(err)
	}
	defer deleteTopicsWithPrefix(h.admin, base)

	label := fmt.Sprintf("[run %d/%d] %s", run, h.opts.Runs, r.name)
	if err := h.preloadRow(ctx, label, r, in, in2); err != nil {
		return fail(fmt.Errorf("pre-load: %w", err))
	}

	stateDir, err := os.MkdirTemp("", "millrace-bench-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(stateDir)
	began := time.Now()
	p, err := startChild(h.spec(r, base, in, in2, out, stateDir), clockOf(r.kind))
	if err != nil {
		return fail(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()

	var counter outputCounter
	switch {
	case r.kind == kindWindowed:
		counter = startChildCounter(p, r.records)
		res.Counted = "counted by the App's processed-records counter, read from the child every 50 ms (outputs are cache-compacted)"
	case r.eos:
		counter, err = startConsumerCounter(h.bootstrap, out, int32(r.partitions), r.outputs(), true)
		res.Counted = "counted by a read_committed consumer of the output"
	case h.opts.ConsumerCount:
		counter, err = startConsumerCounter(h.bootstrap, out, int32(r.partitions), r.outputs(), false)
		res.Counted = "counted by a read_uncommitted consumer of the output"
	default:
		counter, err = startWatermarkCounter(h.bootstrap, out, int32(r.partitions), r.outputs())
		res.Counted = "counted by the sum of the output's high watermarks, polled every 20 ms"
	}
	if err != nil {
		return fail(err)
	}
	defer counter.stop()
	if r.shape == shapePairs {
		res.Counted += fmt.Sprintf(" (%d joined pairs)", r.outputs())
	}
	res.ClockStart = p.clockStart()
	h.prog.set(label+" starting", func() string {
		line := fmt.Sprintf("(%v)", time.Since(began).Round(time.Millisecond))
		if s := p.restoring(); s != "" {
			line += " " + s // state restoring from changelogs, live
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
	res.Startup = t0.Sub(p.started.at)
	line := rateLine(counter.count, r.outputs(), "records out", t0)
	if h.opts.Verbose {
		line = func() string {
			return rateLine(counter.count, r.outputs(), "records out", t0)() + fmt.Sprint(" ", counter.perPartition())
		}
	}
	h.prog.set(label+" throughput", line)
	deadline := time.After(h.opts.Timeout)
	waitFor := func(ch <-chan struct{}) error {
		select {
		case <-ch:
			return nil
		case <-p.exited():
			return fmt.Errorf("processor stopped with %d of %d records out: %w", counter.count(), r.outputs(), stopErr(p))
		case <-deadline:
			return fmt.Errorf("only %d of %d records out after %v", counter.count(), r.outputs(), h.opts.Timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The measured window runs from the first output to the last, so the
	// start-up of every processor (joining, fetching offsets, the first
	// fetch, the producer's id) is left out alike.
	if err := waitFor(counter.firstOut()); err != nil {
		return fail(err)
	}
	cpu0, err := p.cpu(false)
	if err != nil {
		return fail(err)
	}
	parent0 := processCPU()
	first, firstN := counter.firstAt()
	if err := waitFor(counter.reached()); err != nil {
		return fail(err)
	}
	cpu1, err := p.cpu(true)
	if err != nil {
		return fail(err)
	}
	res.CPU, res.ParentCPU = cpu1-cpu0, processCPU()-parent0
	res.FirstOut = first.Sub(t0)
	res.Elapsed = counter.reachedAt().Sub(first)
	// Input records per output record: 2 for a join's pairs.
	res.Records = int(int64(r.outputs())-firstN) * r.records / r.outputs()
	if res.Records <= 0 || res.Elapsed <= 0 {
		// Everything arrived at once (tiny inputs): measure from the clock start.
		res.Records, res.Elapsed, res.CPU = r.records, counter.reachedAt().Sub(t0), cpu1-p.readyStamp.cpu
		res.Counted += "; all at once, so from the clock start"
	}
	res.Rate = float64(res.Records) / res.Elapsed.Seconds()
	counter.stop()
	h.prog.set("", nil)

	switch {
	case !r.hasLatency():
		res.Latency = Latency{Skipped: true, Why: "outputs are cache-compacted and leave at commits (every 30 s)"}
	case h.opts.LatencyRate > 0 && h.opts.LatencyFor > 0:
		lat, err := h.latency(ctx, label, r, p, in, in2, out)
		if err != nil {
			return fail(fmt.Errorf("latency phase: %w", err))
		}
		res.Latency = lat
	default:
		res.Latency = Latency{Skipped: true, Why: "-latency-rate 0"}
	}
	h.prog.set("", nil)
	stopped = true
	err = p.stop()
	res.MaxRSS = p.maxRSS()
	if err != nil {
		return fail(fmt.Errorf("processor stopped with an error: %w", err))
	}
	return res
}

// preloadRow writes a row's throughput input and waits for every ack.
func (h *harness) preloadRow(ctx context.Context, label string, r row, in, in2 string) error {
	switch r.shape {
	case shapePairs:
		pairs := r.records / 2
		return h.load(ctx, label, r.records, func(i int, send func(topic string, k, v []byte) error) error {
			k, v := pairKey(i), h.valuePool(r.valueBytes)[i%1024]
			if err := send(in, k, v); err != nil {
				return err
			}
			return send(in2, k, v)
		}, pairs)
	case shapeTable:
		keys, values := h.keySpace(r.keySpace), h.valuePool(r.valueBytes)
		if err := h.load(ctx, label+" table", len(keys), func(i int, send func(string, []byte, []byte) error) error {
			return send(in2, keys[i], values[i%len(values)])
		}, len(keys)); err != nil {
			return err
		}
	}
	next := h.records(r, 1)
	return h.load(ctx, label, r.records, func(_ int, send func(string, []byte, []byte) error) error {
		k, v := next()
		return send(in, k, v)
	}, r.records)
}

// pairKey is the key of the stream-join's pair i (both sides).
func pairKey(i int) []byte { return fmt.Appendf(nil, "pair-%09d", i) }

// load calls step steps times; each step sends records through send.
// It waits until want records are acknowledged.
func (h *harness) load(ctx context.Context, label string, want int, step func(i int, send func(topic string, k, v []byte) error) error, steps int) error {
	lp, err := newLoadProducer(h.bootstrap, map[string]any{"linger.ms": 20, "batch.size": 1 << 20,
		"batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1 << 20})
	if err != nil {
		return err
	}
	defer lp.close()
	start := time.Now()
	h.prog.set(label+" pre-load", rateLine(lp.acked.Load, want, "records acked", start))
	send := func(topic string, k, v []byte) error { return lp.produce(ctx, topic, k, v, time.Now()) }
	for i := range steps {
		if err := step(i, send); err != nil {
			return err
		}
	}
	return lp.wait(ctx, want, h.opts.Timeout)
}

// latency runs the paced phase against the running processor p.
func (h *harness) latency(ctx context.Context, label string, r row, p *childProc, in, in2, out string) (Latency, error) {
	lat := Latency{Committed: r.eos}
	sends := int(float64(h.opts.LatencyRate) * h.opts.LatencyFor.Seconds())
	outputs := sends
	if r.shape == shapePairs {
		sends -= sends % 2
		outputs = sends / 2
	}
	offsets, err := highWatermarks(h.bootstrap, out, int32(r.partitions))
	if err != nil {
		return lat, err
	}
	rd, err := startLatencyReader(h.bootstrap, out, offsets, r.eos, outputs)
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
		return fmt.Sprintf("%d/%d sent at %d/s, %d received", sent.Load(), sends, h.opts.LatencyRate, rd.count())
	})
	next := h.records(r, 2)
	send := func(n int) error {
		switch r.shape {
		case shapePairs:
			// Pair keys after the throughput phase's, one side per send.
			k, v := pairKey(r.records/2+n/2), h.valuePool(r.valueBytes)[n%1024]
			topic := in
			if n%2 == 1 {
				topic = in2
			}
			return lp.produce(ctx, topic, k, v, time.Now())
		default:
			k, v := next()
			return lp.produce(ctx, in, k, v, time.Now())
		}
	}
	for n := 0; n < sends; {
		due := min(int(float64(h.opts.LatencyRate)*time.Since(start).Seconds()), sends)
		if r.shape == shapePairs {
			due -= due % 2
		}
		for ; n < due; n++ {
			if err := send(n); err != nil {
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
	lat.Sent = outputs
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
	if len(lats) < outputs {
		return lat, fmt.Errorf("%d of %d records arrived within %v of the last input", len(lats), outputs, drain)
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(int(p*float64(len(lats))), len(lats)-1)] }
	lat.P50, lat.P95, lat.P99, lat.Max = pct(0.50), pct(0.95), pct(0.99), lats[len(lats)-1]
	return lat, nil
}

// stopErr stops a processor that stopped by itself and returns why.
func stopErr(p *childProc) error {
	if err := p.stop(); err != nil {
		return err
	}
	return errors.New("it returned no error")
}

// childCounter polls a child's processed-records count.
type childCounter struct {
	*target
}

func startChildCounter(p *childProc, want int) *childCounter {
	c := &childCounter{target: newTarget(want, 0)}
	go func() {
		defer close(c.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.stopc:
				return
			case <-p.exited():
				return
			case <-t.C:
			}
			select {
			case <-p.ready():
			default:
				continue
			}
			if n, err := p.requestInt("count"); err == nil {
				c.set(n, time.Now())
			}
		}
	}()
	return c
}

func (c *childCounter) stop() { c.halt() }

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

// loadAverage returns the 1-minute load average ("?" if unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
