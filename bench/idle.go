package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The idle mode (-idle D) starts each selected processor, with its
// defaults, on an empty input and counts the requests the embedded broker
// receives while nothing arrives: after the processor is ready and one
// second has passed, for D. A kfake control function sees every request
// (it only counts, then lets the broker handle the request); nothing else
// talks to the broker meanwhile. It also gives the child's CPU time over
// D, as a share of one core.

// defaultIdleRows are the rows the idle mode runs unless -scenarios says
// otherwise.
var defaultIdleRows = []string{"raw", "passthrough", "count", "passthrough-eos", "goka-count"}

// IdleResult is one row of the idle mode.
type IdleResult struct {
	Scenario string
	For      time.Duration
	Requests [kmsg.MaxKey + 1]int64 // by request key, over For
	CPU      time.Duration
	Err      error
}

// Rate returns the requests per second of one key, or of all with key -1.
func (r IdleResult) Rate(key int16) float64 {
	var n int64
	if key >= 0 {
		n = r.Requests[key]
	} else {
		for _, c := range r.Requests {
			n += c
		}
	}
	return float64(n) / r.For.Seconds()
}

// requestCounter counts the broker's requests by key.
type requestCounter struct {
	n [kmsg.MaxKey + 1]atomic.Int64
}

func (c *requestCounter) snapshot() (out [kmsg.MaxKey + 1]int64) {
	for i := range c.n {
		out[i] = c.n[i].Load()
	}
	return out
}

// RunIdle runs the idle mode for each of opts.Scenarios (default
// defaultIdleRows) on an embedded broker.
func RunIdle(ctx context.Context, opts Options, d time.Duration) ([]IdleResult, error) {
	if opts.Brokers != "" {
		return nil, errors.New("-idle counts requests at the embedded broker; it cannot run with -brokers")
	}
	if d <= 0 {
		return nil, fmt.Errorf("-idle %v is not positive", d)
	}
	if len(opts.Scenarios) == 0 {
		opts.Scenarios = defaultIdleRows
	}
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	cl, err := startEmbedded()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var counts requestCounter
	cl.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		if k := req.Key(); k >= 0 && int(k) < len(counts.n) {
			counts.n[k].Add(1)
		}
		return nil, nil, false // not handled: the broker answers as usual
	})
	bootstrap := strings.Join(cl.ListenAddrs(), ",")
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	h := &harness{opts: opts, bootstrap: bootstrap, admin: admin, tag: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff),
		prog: newProgress(opts.Progress), keys: map[int][][]byte{}, values: map[int][][]byte{}}
	defer h.prog.close()
	var out []IdleResult
	for _, r := range opts.rows {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		h.prog.printf("[idle] %s", r.name)
		res := h.idleRow(ctx, &counts, r, d)
		if res.Err != nil {
			h.prog.printf("[idle] %s FAILED: %v", r.name, res.Err)
		} else {
			h.prog.printf("[idle] %s: %.1f Fetch requests/s, %.1f requests/s in all", r.name, res.Rate(kmsg.Fetch.Int16()), res.Rate(-1))
		}
		out = append(out, res)
	}
	return out, nil
}

func (h *harness) idleRow(ctx context.Context, counts *requestCounter, r row, d time.Duration) (res IdleResult) {
	res = IdleResult{Scenario: r.name, For: d}
	if r.shape == shapeLog {
		res.Err = fmt.Errorf("%s has no idle phase (it reads a changelog and stops)", r.name)
		return res
	}
	base := h.topicBase(1, r) + "-idle"
	in, out, in2 := base+"-in", base+"-out", ""
	topics := []string{in, out}
	if r.shape != shapeKeys {
		in2 = base + "-in2"
		topics = append(topics, in2)
	}
	if err := createTopics(ctx, h.admin, topics, r.partitions, nil); err != nil {
		res.Err = err
		return res
	}
	defer deleteTopicsWithPrefix(h.admin, base)
	stateDir, err := os.MkdirTemp("", "millrace-bench-")
	if err != nil {
		res.Err = err
		return res
	}
	defer os.RemoveAll(stateDir)
	spec := h.spec(r, base, in, in2, out, stateDir)
	spec.Buffered, spec.AppConsumerConfig, spec.AppProducerConfig, spec.RawConfig, spec.CPUProfile = 0, nil, nil, nil, "" // the defaults
	p, err := startChild(spec, clockOf(r.kind))
	if err != nil {
		res.Err = err
		return res
	}
	defer p.stop()
	select {
	case <-p.ready():
	case <-p.exited():
		res.Err = fmt.Errorf("stopped before it was ready: %w", stopErr(p))
		return res
	case <-time.After(h.opts.Timeout):
		res.Err = fmt.Errorf("not ready within %v", h.opts.Timeout)
		return res
	case <-ctx.Done():
		res.Err = ctx.Err()
		return res
	}
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-p.exited():
			return fmt.Errorf("stopped while idle: %w", stopErr(p))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if res.Err = wait(time.Second); res.Err != nil {
		return res
	}
	before, cpu0 := counts.snapshot(), time.Duration(0)
	if cpu0, res.Err = p.cpu(false); res.Err != nil {
		return res
	}
	h.prog.set("[idle] "+r.name, func() string {
		return fmt.Sprintf("%d Fetch requests so far", counts.n[kmsg.Fetch].Load()-before[kmsg.Fetch])
	})
	defer h.prog.set("", nil)
	if res.Err = wait(d); res.Err != nil {
		return res
	}
	after := counts.snapshot()
	cpu1, err := p.cpu(false)
	if err != nil {
		res.Err = err
		return res
	}
	for i := range after {
		res.Requests[i] = after[i] - before[i]
	}
	res.CPU = cpu1 - cpu0
	if err := p.stop(); err != nil {
		res.Err = fmt.Errorf("stopped with an error: %w", err)
	}
	return res
}

// PrintIdle writes the idle mode's table.
func PrintIdle(w io.Writer, results []IdleResult, args []string) {
	cmd := append([]string{"bench"}, args[1:]...)
	fmt.Fprintf(w, "\ncommand: %s\nmachine: %s\nload:    %s\n\n", strings.Join(quoteArgs(cmd), " "), machine(""), loadAverage())
	fmt.Fprintf(w, "idle: each processor on an empty input (Apps with their defaults; raw and goka-count as tuned for the rows),\n")
	fmt.Fprintf(w, "from 1 s after it was ready: the requests the broker received\n")
	fmt.Fprintf(w, "%-18s | %10s | %12s | %9s | %s\n", "row", "Fetch/s", "requests/s", "CPU", "by request (per second)")
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", 18)+"-+-"+strings.Repeat("-", 10)+"-+-"+strings.Repeat("-", 12)+"-+-"+strings.Repeat("-", 9)+"-+-"+strings.Repeat("-", 30))
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(w, "%-18s | FAILED: %v\n", r.Scenario, r.Err)
			continue
		}
		var keys []int16
		for k, n := range r.Requests {
			if n > 0 {
				keys = append(keys, int16(k))
			}
		}
		slices.SortFunc(keys, func(a, b int16) int { return int(r.Requests[b] - r.Requests[a]) })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.1f", kmsg.NameForKey(k), r.Rate(k)))
		}
		fmt.Fprintf(w, "%-18s | %10.1f | %12.1f | %8.1f%% | %s\n", r.Scenario, r.Rate(kmsg.Fetch.Int16()), r.Rate(-1),
			100*r.CPU.Seconds()/r.For.Seconds(), strings.Join(parts, ", "))
	}
	if len(results) > 0 {
		fmt.Fprintf(w, "\nover %v each; CPU is the child process's, as a share of one core\n", results[0].For)
	}
}
