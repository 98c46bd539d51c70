// Command bench measures Millrace end to end against Kafka: consume ->
// process -> produce throughput and end-to-end latency, for a baseline loop
// written directly on librdkafka (no framework) and for Millrace Apps, in
// one run on the same broker, so every figure can be divided by the
// baseline's.
//
//	go run ./bench                      # embedded kfake broker, every scenario
//	go run ./bench -brokers host:9092   # a real cluster
//	go run ./bench -scenarios raw,count -records 500000 -runs 3
//
// Scenarios (fresh topics and a fresh consumer group for each):
//
//	raw              librdkafka consumer (group, Poll API, commit every 100 ms)
//	                 producing each record unchanged with a librdkafka producer
//	passthrough      Millrace source -> sink, bytes serdes, at-least-once
//	count            Millrace count per key in a cached RocksDB store, forwarding
//	                 every new count, at-least-once (30 s commit interval)
//	count-eos        the same under exactly-once v2 (100 ms commits)
//	passthrough-eos  pass-through under exactly-once v2
//
// Throughput: the input topic is pre-loaded with -records records (keys from
// 10,000 distinct values, -value-bytes values, timestamps = produce time);
// then the processor starts and the clock runs from the moment it is ready
// (the App reaches RUNNING; the raw loop gets its assignment) until the
// output holds every record: the sum of the output's high watermarks,
// polled every 20 ms, under at-least-once; a read_committed consumer's count
// under exactly-once, where only committed records count.
//
// Latency: with the processor still running, records are produced at
// -latency-rate for -latency-duration; a reader consumes the output
// (read_committed under exactly-once, so those figures include the commit
// interval) and records now - record timestamp, the input's produce time,
// which every scenario carries through to the output.
//
// With no -brokers the broker runs inside this process and shares its CPUs:
// ratios measured in one run are the figures to read, not absolute rates.
// The report also gives the process's CPU time during each throughput
// phase, which tells a processor that is busy from one that is waiting.
//
// For diagnosis, not for the figures of record: -cpuprofile profiles each
// throughput phase (Go code only; librdkafka's C threads are invisible to
// pprof), -v shows per-partition progress, -buffered and
// -app-consumer-config change the Apps' BufferedRecordsPerPartition and
// consumer properties (the report then says it is not the defaults).
// Outputs are counted by a consumer in every scenario (-consumer-count,
// on by default), so at-least-once and exactly-once pay the same counting
// cost; -consumer-count=false counts at-least-once by high watermarks.
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
	var o Options
	var scenarios string
	flag.IntVar(&o.Records, "records", 200_000, "records per scenario for the throughput phase")
	flag.IntVar(&o.ValueBytes, "value-bytes", 100, "size of each record value in bytes")
	flag.IntVar(&o.Partitions, "partitions", 4, "partitions of every input and output topic")
	flag.StringVar(&o.Brokers, "brokers", "", "Kafka bootstrap servers; empty starts an embedded kfake broker")
	flag.IntVar(&o.Runs, "runs", 1, "how many times to run the whole set of scenarios")
	flag.StringVar(&scenarios, "scenarios", strings.Join(AllScenarios(), ","), "comma-separated scenarios to run")
	flag.IntVar(&o.LatencyRate, "latency-rate", 20_000, "records/s produced during the latency phase (0 skips it)")
	flag.DurationVar(&o.LatencyFor, "latency-duration", 5*time.Second, "length of the latency phase")
	flag.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "bound on each phase of a scenario")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each scenario's throughput phase to this file\n"+
		"(with several scenarios, the scenario's name is inserted before the extension)")
	flag.IntVar(&o.Buffered, "buffered", 0, "BufferedRecordsPerPartition of the Apps (0: Millrace's default), for diagnosis")
	appConsumer := flag.String("app-consumer-config", "", "extra librdkafka properties for the Apps' consumers, k=v,k=v (Config.ConsumerConfig), for diagnosis")
	flag.BoolVar(&o.ConsumerCount, "consumer-count", true, "count outputs with a consumer in every scenario (exactly-once scenarios always are), so every scenario pays the same counting cost; false counts at-least-once outputs by high watermarks")
	flag.BoolVar(&o.Verbose, "v", false, "progress lines show per-partition output counts")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Scenarios = append(o.Scenarios, s)
		}
	}
	if *appConsumer != "" {
		o.AppConsumerConfig = map[string]any{}
		for _, kv := range strings.Split(*appConsumer, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				fmt.Fprintf(os.Stderr, "bench: -app-consumer-config: %q is not k=v\n", kv)
				os.Exit(2)
			}
			o.AppConsumerConfig[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if o.LatencyRate == 0 {
		o.LatencyRate = -1 // Options: negative skips the phase, zero means the default
	}
	o.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, o)
	if rep != nil {
		rep.Print(os.Stdout, os.Args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}
