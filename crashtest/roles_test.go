package crashtest

// The child roles: the embedded broker and the App. Both run in this test
// binary, started by the parent test with MILLRACE_CRASHTEST_ROLE set (see
// TestMain). They talk to the parent through stdout lines that start with
// linePrefix; their logs go to stderr, which the parent sends to a file.
// Both stop when their stdin closes, so no child outlives the parent.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/millrace/millrace/internal/faultpoint"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

const (
	envRole    = "MILLRACE_CRASHTEST_ROLE"   // "broker" or "app"
	envTopics  = "MILLRACE_CRASHTEST_TOPICS" // broker: "in:4,out:4", created at start
	envApp     = "MILLRACE_CRASHTEST_APP"    // app: the JSON appSpec
	envCrashAt = "MILLRACE_CRASH_AT"         // app: "point:N", SIGKILL at the Nth hit
	// app: extra librdkafka properties over the suite's, "k=v,k=v"; an
	// empty value drops the suite's setting (for experiments, e.g.
	// MILLRACE_CRASH_CONSUMER=fetch.queue.backoff.ms= runs with
	// librdkafka's own fetch back-off).
	envConsumer = "MILLRACE_CRASH_CONSUMER"
	envProducer = "MILLRACE_CRASH_PRODUCER"

	linePrefix = "@@ "

	inputTopic  = "in"
	outputTopic = "out"
	storeName   = "counts"
)

// appSpec configures one App process.
type appSpec struct {
	Bootstrap      string        `json:"bootstrap"`
	ApplicationID  string        `json:"application_id"`
	StateDir       string        `json:"state_dir"`
	EOS            bool          `json:"eos"`
	Store          string        `json:"store"` // "rocksdb" (cached) or "memory"
	InstanceID     string        `json:"instance_id,omitempty"`
	CommitInterval time.Duration `json:"commit_interval"`
	SessionTimeout time.Duration `json:"session_timeout"`
	// DumpTasks, when positive, makes the process a dumper: once RUNNING
	// with that many local tasks it prints its whole store and stops.
	DumpTasks int `json:"dump_tasks,omitempty"`
}

// result is one output value: the key's count after an input, and that
// input's per-key sequence number. Under exactly-once Count == Seq for every
// output; under at-least-once Count >= Seq (a smaller count means lost
// state).
type result struct{ Count, Seq int64 }

func resultSerde() record.Serde[result] {
	return record.SerdeFuncs(func(v result) ([]byte, error) {
		b := binary.BigEndian.AppendUint64(nil, uint64(v.Count))
		return binary.BigEndian.AppendUint64(b, uint64(v.Seq)), nil
	}, decodeResult)
}

func decodeResult(b []byte) (result, error) {
	if len(b) != 16 {
		return result{}, fmt.Errorf("result of %d bytes, want 16", len(b))
	}
	return result{Count: int64(binary.BigEndian.Uint64(b)), Seq: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// counter is the workload: a non-idempotent count per key (get, +1, put) in
// a changelogged store, forwarded with the input's sequence number. A record
// processed twice, or an update lost, shows in the output.
type counter struct {
	ctx    processor.Context[string, result]
	counts store.KeyValueStore[string, int64]
}

func (c *counter) Init(ctx processor.Context[string, result]) (err error) {
	c.ctx = ctx
	c.counts, err = processor.KeyValueStore[string, int64](ctx, storeName)
	return err
}

func (c *counter) Process(r record.Record[string, int64]) error {
	n, _, err := c.counts.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	if err := c.counts.Put(r.Key(), n); err != nil {
		return err
	}
	return c.ctx.Forward(record.WithValue(r, result{Count: n, Seq: r.Value()}))
}

func (c *counter) Close() error { return nil }

func countingTopology(storeKind string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), inputTopic)
	processor.AddProcessor(b, "count", func() processor.Processor[string, int64, string, result] { return &counter{} }, "in").
		WithStores(storeName)
	processor.AddSink(b, "out", outputTopic, record.String(), resultSerde(), "count")
	switch storeKind {
	case "rocksdb":
		b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue(storeName), record.String(), record.Int64()).WithCaching())
	case "memory":
		b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue(storeName), record.String(), record.Int64()))
	default:
		return nil, fmt.Errorf("unknown store kind %q", storeKind)
	}
	return b.Build()
}

// emitter writes protocol lines to stdout, whole lines at a time.
type emitter struct{ mu sync.Mutex }

func (e *emitter) emit(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(os.Stdout, linePrefix+format+"\n", args...)
}

// dumpStacksOnSIGUSR1 writes every goroutine's stack to stderr whenever
// the process gets SIGUSR1: the parent asks for it when a child hangs.
func dumpStacksOnSIGUSR1() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		buf := make([]byte, 16<<20)
		for range ch {
			n := runtime.Stack(buf, true)
			fmt.Fprintf(os.Stderr, "==== goroutine dump (SIGUSR1) at %s\n%s\n==== end of goroutine dump\n",
				time.Now().Format(time.RFC3339Nano), buf[:n])
		}
	}()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// armCrash installs the faultpoint hook that SIGKILLs this process at the
// Nth hit of a point: "point:N", or "point:N+delay" to kill that long after
// the hit, from another goroutine, while the runtime carries on (into the
// transaction commit after commit.offsets-sent, say).
func armCrash(spec string, e *emitter) error {
	point, nth, ok := strings.Cut(spec, ":")
	nth, delayText, delayed := strings.Cut(nth, "+")
	n, err := strconv.ParseInt(nth, 10, 64)
	var delay time.Duration
	if err == nil && delayed {
		delay, err = time.ParseDuration(delayText)
	}
	if !ok || err != nil || n < 1 || delay < 0 {
		return fmt.Errorf("%s=%q: want point:N or point:N+delay with N >= 1", envCrashAt, spec)
	}
	var hits atomic.Int64
	faultpoint.Set(func(p string) {
		if p != point || hits.Add(1) != n {
			return
		}
		if !delayed {
			e.emit("FAULT %s %d", point, n)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way; never return into the runtime
		}
		go func() {
			time.Sleep(delay)
			e.emit("FAULT %s %d+%v", point, n, delay)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}()
	})
	return nil
}

// appMain runs one App instance until stdin closes (a clean Close), it is
// killed, or Run fails. Stdin also takes commands, one a line: "disarm"
// removes the crash hook.
func appMain() int {
	dumpStacksOnSIGUSR1()
	var e emitter
	var spec appSpec
	if err := json.Unmarshal([]byte(os.Getenv(envApp)), &spec); err != nil {
		e.emit("EXIT error bad %s: %v", envApp, err)
		return 2
	}
	if at := os.Getenv(envCrashAt); at != "" {
		if err := armCrash(at, &e); err != nil {
			e.emit("EXIT error %v", err)
			return 2
		}
	}
	logCfg := zap.NewProductionEncoderConfig()
	logCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(logCfg), zapcore.Lock(os.Stderr), zap.InfoLevel))
	defer func() { _ = logger.Sync() }()

	topo, err := countingTopology(spec.Store)
	if err != nil {
		e.emit("EXIT error %v", err)
		return 2
	}
	cfg := streams.Config{
		ApplicationID:       spec.ApplicationID,
		BootstrapServers:    spec.Bootstrap,
		InstanceID:          spec.InstanceID,
		StateDir:            spec.StateDir,
		CommitInterval:      spec.CommitInterval,
		SessionTimeout:      spec.SessionTimeout,
		StartupTimeout:      30 * time.Second,
		Logger:              logger,
		StateListener:       func(from, to streams.State) { e.emit("STATE %s %s", from, to) },
		ConsumerConfig:      map[string]any{"fetch.queue.backoff.ms": 0},
		ProcessingGuarantee: streams.AtLeastOnce,
	}
	if spec.EOS {
		// The runtime's own transaction timeout (10 s) bounds how long a
		// killed instance's open transaction holds read_committed readers.
		cfg.ProcessingGuarantee = streams.ExactlyOnceV2
	}
	for _, o := range []struct {
		env string
		m   *map[string]any
	}{{envConsumer, &cfg.ConsumerConfig}, {envProducer, &cfg.ProducerConfig}} {
		if err := overrideConfig(o.m, os.Getenv(o.env)); err != nil {
			e.emit("EXIT error %s: %v", o.env, err)
			return 2
		}
	}
	app, err := streams.New(topo, cfg)
	if err != nil {
		e.emit("EXIT error %v", err)
		return 2
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	stdinClosed := make(chan struct{})
	go func() {
		defer close(stdinClosed)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "disarm":
				faultpoint.Set(nil)
				e.emit("DISARMED")
			}
		}
	}()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastTasks string
	for {
		select {
		case err := <-done:
			return exit(&e, err)
		case <-stdinClosed:
			err := app.Close()
			<-done
			return exit(&e, err)
		case <-tick.C:
			ids := app.LocalTasks()
			names := make([]string, len(ids))
			for i, id := range ids {
				names[i] = id.String()
			}
			if s := strings.Join(names, ","); s != lastTasks {
				lastTasks = s
				e.emit("TASKS %s", s)
			}
			if spec.DumpTasks > 0 && len(ids) == spec.DumpTasks && app.State() == streams.Running {
				if err := dump(app, &e); err != nil {
					_ = app.Close()
					<-done
					return exit(&e, fmt.Errorf("dump: %w", err))
				}
				err := app.Close()
				<-done
				return exit(&e, err)
			}
		}
	}
}

// overrideConfig applies "k=v,k=v" to *m; an empty value deletes k.
func overrideConfig(m *map[string]any, spec string) error {
	if spec == "" {
		return nil
	}
	if *m == nil {
		*m = map[string]any{}
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not k=v", kv)
		}
		if v == "" {
			delete(*m, k)
			continue
		}
		(*m)[k] = v
	}
	return nil
}

// dump prints every entry of the local store, sorted by key.
func dump(app *streams.App, e *emitter) error {
	kv, err := streams.KeyValueStore[string, int64](app, storeName)
	if err != nil {
		return err
	}
	it, err := kv.All()
	if err != nil {
		return err
	}
	type entry struct {
		k string
		v int64
	}
	var all []entry
	for it.Next() {
		all = append(all, entry{it.Key(), it.Value()})
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	for _, en := range all {
		e.emit("DUMP %s %d", en.k, en.v)
	}
	e.emit("DUMPED %d", len(all))
	return nil
}

func exit(e *emitter, err error) int {
	if err != nil {
		e.emit("EXIT error %s", strings.ReplaceAll(err.Error(), "\n", " | "))
		return 1
	}
	e.emit("EXIT ok")
	return 0
}
