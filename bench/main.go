// Command bench measures Millrace end to end against Kafka: consume ->
// process -> produce throughput, CPU per record, end-to-end latency and
// peak memory, for Millrace Apps, for Goka and for baselines written
// directly on librdkafka, in one run on the same broker, so every figure
// can be divided by its baseline's. README.md next to this file describes
// the rows and gives the figures of one run.
//
//	go run ./bench                      # embedded kfake broker, every row (about 5 minutes)
//	go run ./bench -quick               # every row on small inputs (a smoke run, about 1 minute)
//	go run ./bench -out /tmp/bench      # also writes report.txt and report.svg (a chart of the ratios) there
//	go run ./bench -brokers host:9092   # a real cluster
//	go run ./bench -scenarios raw,count,count/p16 -records 500000 -runs 3
//	go run ./bench -idle 10s            # requests/s an idle App sends the broker
//
// Rows (fresh topics and a fresh consumer group each; any row with a /pN
// suffix runs on N partitions and is divided by its baseline's /pN row):
//
//	raw              baseline: librdkafka consume -> produce, tuned, at-least-once
//	                 (idempotent producer; commits only what is delivered)
//	passthrough      Millrace source -> sink, bytes serdes (vs raw)
//	count            Millrace count per key, RocksDB + cache, every new count forwarded (vs raw)
//	goka-count       Goka v1.1.14's count per key, LevelDB, at-least-once (vs raw;
//	                 the report also gives count / goka-count)
//	windowed-count   DSL count per key in 60 s tumbling windows, RocksDB + cache (vs raw)
//	stream-join      DSL inner join of two streams within 1 s (vs raw)
//	table-join       DSL stream-table inner join, the table pre-loaded (vs raw)
//	count-1m-keys    count over 1 M distinct keys, -big-records records (vs raw)
//	raw-eos          baseline: the raw loop with transactions every 100 ms, read_committed
//	passthrough-eos  passthrough under exactly-once v2 (vs raw-eos)
//	count-eos        count under exactly-once v2 (vs raw-eos)
//	raw-1kb          baseline: raw with 1 KB values
//	passthrough-1kb  passthrough with 1 KB values (vs raw-1kb)
//	raw-read         baseline: a tuned consumer reading a changelog of -big-records records
//	restore          an App with an empty state dir restoring that changelog into RocksDB,
//	                 until RUNNING, in records/s and MB/s (vs raw-read)
//	raw/p1 passthrough/p1 count/p1 raw/p16 passthrough/p16 count/p16
//
// Each row's processor runs in a child process (this binary re-executed),
// so its CPU time and its peak RSS are its own: not the embedded broker's,
// the loader's or an earlier row's.
//
// Throughput: the input is pre-loaded with -records records (keys from
// 10,000 distinct values, -value-bytes values, timestamps = produce time);
// then the processor starts and the clock runs from the moment it is ready
// (the App reaches RUNNING; the raw loop gets its assignment; Goka's
// WaitForReady returns) until the output holds every record, counted by
// a consumer (read_committed under exactly-once, where only committed
// records count). The windowed count's outputs are compacted by its cache,
// so it is counted by the App's processed-records counter instead.
//
// Latency: with the processor still running, records are produced at
// -latency-rate for -latency-duration; a reader consumes the output and
// records now - the input's produce time, which every row carries through
// to the output.
//
// With no -brokers the broker runs inside this process and shares the
// CPUs with the processors: read ratios measured in one run, not absolute
// rates. The report gives the load averages at the start and the end.
//
// For diagnosis, not for the figures of record: -cpuprofile profiles each
// child's throughput phase (Go code only; librdkafka's C threads are
// invisible to pprof), -v shows per-partition progress, -buffered and
// -app-consumer-config change the Apps' BufferedRecordsPerPartition and
// consumer properties, -app-producer-config their producer's properties,
// -raw-config the raw baselines' properties (the
// report then says it is not the defaults).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if isChild() {
		os.Exit(childMain())
	}
	var o Options
	var scenarios, outDir string
	var quick bool
	var idle time.Duration
	flag.IntVar(&o.Records, "records", 2_000_000, "records per row for the throughput phase (2 M: a window of several seconds, so a start-up transient does not set the rate)")
	flag.IntVar(&o.BigRecords, "big-records", 1_000_000, "records of the count-1m-keys, raw-read and restore rows")
	flag.IntVar(&o.ValueBytes, "value-bytes", 100, "size of each record value in bytes (the -1kb rows use 1024)")
	flag.IntVar(&o.Partitions, "partitions", 4, "partitions of every row's topics, but for rows named row/pN")
	flag.StringVar(&o.Brokers, "brokers", "", "Kafka bootstrap servers; empty starts an embedded kfake broker")
	flag.IntVar(&o.Runs, "runs", 1, "how many times to run the whole set of rows")
	flag.StringVar(&scenarios, "scenarios", "", "comma-separated rows to run (default: all; with -idle: "+strings.Join(defaultIdleRows, ",")+")\n"+
		"all: "+strings.Join(AllScenarios(), ","))
	flag.IntVar(&o.LatencyRate, "latency-rate", 20_000, "records/s produced during the latency phase (0 skips it)")
	flag.DurationVar(&o.LatencyFor, "latency-duration", 5*time.Second, "length of the latency phase")
	flag.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "bound on each phase of a row")
	flag.BoolVar(&quick, "quick", false, "a smoke run: -records 20000 -big-records 100000 -latency-duration 1s -latency-rate 5000, unless given")
	flag.StringVar(&outDir, "out", "", "also write report.txt and report.svg (a chart of the ratios) into this directory")
	flag.DurationVar(&idle, "idle", 0, "instead of the rows' figures, count the requests per second each processor sends the broker\n"+
		"while its input is empty, over this long (embedded broker only)")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each row's throughput phase to this file\n"+
		"(with several rows, the row's name is inserted before the extension)")
	flag.IntVar(&o.Buffered, "buffered", 0, "BufferedRecordsPerPartition of the Apps (0: Millrace's default), for diagnosis")
	appConsumer := flag.String("app-consumer-config", "", "extra librdkafka properties for the Apps' consumers, k=v,k=v (Config.ConsumerConfig), for diagnosis")
	appProducer := flag.String("app-producer-config", "", "extra librdkafka properties for the Apps' producer, k=v,k=v (Config.ProducerConfig), for measuring its defaults")
	rawConfig := flag.String("raw-config", "", "override the raw baselines' properties, consumer.k=v,producer.k=v, for diagnosis")
	flag.BoolVar(&o.ConsumerCount, "consumer-count", false, "count at-least-once outputs with a consumer in the bench's process too (exactly-once rows always are);\n"+
		"by default they are counted by their high watermarks, which costs the shared CPUs next to nothing")
	flag.BoolVar(&o.WrapperProducer, "wrapper-producer", false, "also run every App row on confluent-kafka-go's producer instead of the App's own client\n"+
		"(row name +wrapper, same baseline), right after it; any App row may also be listed with +wrapper in -scenarios")
	flag.BoolVar(&o.Verbose, "v", false, "progress lines show per-partition output counts")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quickDefaults(&o, set)
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Scenarios = append(o.Scenarios, s)
		}
	}
	var err error
	if o.AppConsumerConfig, err = parseKVs("-app-consumer-config", *appConsumer); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.AppProducerConfig, err = parseKVs("-app-producer-config", *appProducer); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.RawConfig, err = parseKVs("-raw-config", *rawConfig); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.LatencyRate == 0 {
		o.LatencyRate = -1 // Options: negative skips the phase, zero means the default
	}
	o.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if idle > 0 {
		results, err := RunIdle(ctx, o, idle)
		PrintIdle(os.Stdout, results, os.Args)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := Run(ctx, o)
	if rep != nil {
		rep.Print(os.Stdout, os.Args)
		if outDir != "" {
			if werr := rep.WriteFiles(outDir, os.Args); werr != nil {
				fmt.Fprintln(os.Stderr, "bench: -out:", werr)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "bench: wrote %s/report.txt and %s/report.svg\n", outDir, outDir)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}

// quickDefaults shrinks the run for -quick, leaving the flags given.
func quickDefaults(o *Options, set map[string]bool) {
	if !set["records"] {
		o.Records = 20_000
	}
	if !set["big-records"] {
		o.BigRecords = 100_000
	}
	if !set["latency-duration"] {
		o.LatencyFor = time.Second
	}
	if !set["latency-rate"] {
		o.LatencyRate = 5_000
	}
}

// parseKVs parses k=v,k=v; empty is nil.
func parseKVs(flagName, s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s: %q is not k=v", flagName, kv)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}
