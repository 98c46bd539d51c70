// Command metrics runs a word count on an embedded Kafka broker and serves
// its metrics on /metrics in Prometheus' format, through the
// metrics/prometheus exporter (docs/metrics.md lists every family).
//
// It writes -lines lines (one in a hundred is not JSON, to show the
// dropped-records count), waits until every word is counted, then restarts
// the App on an empty state directory: the counts restore from their
// changelog, with the restoration's progress as a live line on stderr.
// Then it writes a line a second until interrupted.
//
//	go run ./examples/metrics
//	curl -s localhost:9464/metrics | grep millrace_task_process_total
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/kafkatest"
	millprom "github.com/millrace/millrace/metrics/prometheus"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// ApplicationID of the example's App.
const ApplicationID = "metrics-example"

func main() {
	addr := flag.String("addr", "localhost:9464", "address to serve /metrics on")
	lines := flag.Int("lines", 20_000, "lines to write at start")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	logger := zap.NewNop()
	if *verbose {
		logger, _ = zap.NewDevelopment()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *lines, logger); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, lines int, logger *zap.Logger) error {
	d, err := Start(Options{Addr: addr, Logger: logger, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Printf("serving metrics at %s\n", d.URL)
	texts := make([]string, lines)
	var raw [][]byte
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d of the metrics example, word %d", i, i%500)
		if i%100 == 99 {
			raw = append(raw, []byte("not json"))
		}
	}
	if err := d.Write(texts, raw...); err != nil {
		return err
	}
	fmt.Printf("wrote %d lines and %d records that are not JSON\n", len(texts), len(raw))
	if err := d.WaitProcessed(ctx, int64(len(texts)), 5*time.Minute); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil // interrupted
		}
		return err
	}
	fmt.Println("every line counted; restarting on an empty state directory, which restores the counts:")
	if err := d.Restart(); err != nil {
		return err
	}
	fmt.Println("restored; writing a line a second (Ctrl-C stops)")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := d.Write([]string{fmt.Sprintf("tick %d", i)}); err != nil {
				return err
			}
		}
	}
}

// Options configure Start.
type Options struct {
	// Addr to serve /metrics on ("127.0.0.1:0" picks a free port).
	Addr string
	// Logger of the App; nil means none.
	Logger *zap.Logger
	// Progress receives restoration progress lines; nil means none.
	Progress io.Writer
}

// Demo is the running example: the broker, the App and the HTTP server.
type Demo struct {
	// URL of the metrics endpoint.
	URL string

	opts     Options
	cluster  *kafkatest.Cluster
	srv      *http.Server
	served   chan error
	handler  atomic.Pointer[http.Handler]
	stateDir string

	mu   sync.Mutex
	app  *streams.App
	done chan error
	seq  int
}

// Start starts the broker, the App and the metrics endpoint.
func Start(opts Options) (*Demo, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{LinesTopic: Partitions, CountTopic: Partitions}})
	if err != nil {
		return nil, err
	}
	d := &Demo{opts: opts, cluster: c, served: make(chan error, 1)}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	d.URL = "http://" + ln.Addr().String() + "/metrics"
	notYet := http.Handler(http.NotFoundHandler())
	d.handler.Store(&notYet)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { (*d.handler.Load()).ServeHTTP(w, r) })
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { d.served <- d.srv.Serve(ln) }()
	if err := d.startApp(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// startApp starts an App on a new state directory, with its own exporter
// and registry (an exporter serves one App).
func (d *Demo) startApp() error {
	topo, err := NewTopology()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "metrics-example-")
	if err != nil {
		return err
	}
	exp := millprom.New(millprom.Options{})
	hooks := []streams.Hook{exp}
	if d.opts.Progress != nil {
		hooks = append(hooks, streams.NewRestorePrinter(d.opts.Progress, streams.RestorePrinterOptions{}))
	}
	app, err := streams.New(topo, streams.Config{ApplicationID: ApplicationID, BootstrapServers: d.cluster.Bootstrap(),
		StateDir: dir, CommitInterval: 200 * time.Millisecond, Logger: d.opts.Logger, Hooks: hooks,
		// DEBUG adds what costs the per-record path: the sinks' records,
		// bytes and end-to-end latency, each record's processing time.
		MetricsRecordingLevel: streams.RecordDebug,
		// A record that is not JSON is logged, skipped and counted.
		DeserializationHandler: handler.LogAndContinue{}})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	reg := prom.NewRegistry()
	reg.MustRegister(exp, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(d.opts.Logger)})
	d.handler.Store(&h)
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	d.mu.Lock()
	d.app, d.done, d.stateDir = app, done, dir
	d.mu.Unlock()
	return d.waitRunning(app, done, time.Minute)
}

func (d *Demo) waitRunning(app *streams.App, done chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for app.State() != streams.Running {
		select {
		case err := <-done:
			return fmt.Errorf("the App stopped before it ran: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the App is %s after %v, not RUNNING", app.State(), timeout)
		}
	}
	return nil
}

// App returns the running App.
func (d *Demo) App() *streams.App {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.app
}

// Restart stops the App and starts a new one on an empty state directory:
// its store restores from the changelog before it processes anything.
func (d *Demo) Restart() error {
	if err := d.stopApp(); err != nil {
		return err
	}
	return d.startApp()
}

func (d *Demo) stopApp() error {
	d.mu.Lock()
	app, done, dir := d.app, d.done, d.stateDir
	d.app = nil
	d.mu.Unlock()
	if app == nil {
		return nil
	}
	err := app.Close()
	<-done
	os.RemoveAll(dir)
	return err
}

// Write writes lines (as JSON) and raw records (as they are) to the lines
// topic, keyed so they spread over its partitions. Call it from one
// goroutine.
func (d *Demo) Write(lines []string, raw ...[]byte) error {
	var recs []record.Record[string, []byte]
	add := func(v []byte) error {
		d.seq++
		r, err := record.New(fmt.Sprintf("line-%d", d.seq), v, time.Now().UnixMilli())
		recs = append(recs, r)
		return err
	}
	for _, l := range lines {
		v, err := json.Marshal(Line{Text: l})
		if err != nil {
			return err
		}
		if err := add(v); err != nil {
			return err
		}
	}
	for _, v := range raw {
		if err := add(v); err != nil {
			return err
		}
	}
	return kafkatest.Produce(d.cluster, LinesTopic, record.String(), record.Bytes(), recs...)
}

// WaitProcessed waits until the App's first sub-topology (decoding and
// splitting lines) has processed n records and the second has counted
// every word they held.
func (d *Demo) WaitProcessed(ctx context.Context, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m := d.App().Metrics()
		var lines, split, counted int64
		for _, t := range m.Tasks {
			switch t.ID.Subtopology {
			case 0:
				lines += t.Processed
				for _, s := range t.Sinks {
					split += s.Records
				}
			case 1:
				counted += t.Processed
			}
		}
		if lines >= n && counted == split {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d of %d lines processed, %d of %d words counted", timeout, lines, n, counted, split)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the App, the server and the broker.
func (d *Demo) Close() {
	if err := d.stopApp(); err != nil {
		d.opts.Logger.Warn("closing the App", zap.Error(err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.opts.Logger.Warn("closing the metrics server", zap.Error(err))
	}
	if err := <-d.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.opts.Logger.Warn("metrics server", zap.Error(err))
	}
	d.cluster.Close()
}
