package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// The restore rows measure how fast state comes back from a changelog:
//
//	restore   A changelog-backed RocksDB store's changelog is loaded with
//	          -big-records records of distinct keys (-value-bytes values);
//	          an App whose state directory is empty (as after a wipe: no
//	          store files, no checkpoint) starts, restores the whole
//	          changelog and reaches RUNNING. Elapsed is from the child's
//	          start (before streams.New) until RUNNING; the child checks
//	          that the App restored every record (its
//	          Metrics().Tasks[].Stores[].Restored). The same App on an empty
//	          changelog is started first, so the report can give the
//	          restore's rate net of the App's start-up too.
//	raw-read  restore's baseline: a raw consumer with the raw tuning reads
//	          the same kind of topic from start to end, writing nothing.
//
// Rates are records/s and MB/s (10^6 bytes of keys and values per second);
// the report gives restore's both as ratios to raw-read's in the same run.

// RestoreFacts are a restore row's extra figures.
type RestoreFacts struct {
	// Bytes is the keys' and values' size in the changelog.
	Bytes int64
	// EmptyStart is how long the same App took to reach RUNNING with an
	// empty changelog (restore only).
	EmptyStart time.Duration
}

// MBps is the row's rate in MB/s over Elapsed.
func (r Result) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Restore.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// NetRate is the restore's records/s with the empty App's start-up taken
// out (0 when unknown).
func (r Result) NetRate() float64 {
	net := r.Elapsed - r.Restore.EmptyStart
	if r.Restore.EmptyStart <= 0 || net <= 0 {
		return 0
	}
	return float64(r.Records) / net.Seconds()
}

// restoreChangelog is the changelog of the restore topology's store.
func restoreChangelog(appID string) string { return appID + "-" + restoredStore + "-changelog" }

func (h *harness) runRestoreRow(ctx context.Context, run int, r row) (res Result) {
	res = Result{Run: run, Scenario: r.name, Base: r.base, Kind: r.kind, Records: r.records, ClockStart: clockOf(r.kind),
		Latency: Latency{Skipped: true, Why: "moves no records"}}
	fail := func(err error) Result {
		res.Err = err
		return res
	}
	defer h.prog.set("", nil)
	base := h.topicBase(run, r)
	label := fmt.Sprintf("[run %d/%d] %s", run, h.opts.Runs, r.name)
	defer deleteTopicsWithPrefix(h.admin, base)
	compact := map[string]string{"cleanup.policy": "compact"}

	if r.kind == kindRestore {
		empty := base + "-empty"
		if err := createTopics(ctx, h.admin, []string{empty + "-in", restoreChangelog(empty)}, r.partitions, compact); err != nil {
			return fail(err)
		}
		spec := h.spec(r, empty, empty+"-in", "", "", "")
		spec.Records = 0
		el, _, _, err := h.runToReady(ctx, label+" empty start", spec)
		if err != nil {
			return fail(fmt.Errorf("App on an empty changelog: %w", err))
		}
		res.Restore.EmptyStart = el
	}

	log := base + "-log"
	in := base + "-in"
	if r.kind == kindRestore {
		log = restoreChangelog(base)
	}
	if err := createTopics(ctx, h.admin, []string{in, log}, r.partitions, compact); err != nil {
		return fail(err)
	}
	keys, values := h.keySpace(r.records), h.valuePool(r.valueBytes)
	if err := h.load(ctx, label, r.records, func(i int, send func(string, []byte, []byte) error) error {
		res.Restore.Bytes += int64(len(keys[i]) + len(values[i%len(values)]))
		return send(log, keys[i], values[i%len(values)])
	}, r.records); err != nil {
		return fail(fmt.Errorf("loading %s: %w", log, err))
	}
	spec := h.spec(r, base, in, "", "", "")
	if r.kind == kindRawRead {
		spec.In = log
	}
	el, cpu, rss, err := h.runToReady(ctx, label, spec)
	if err != nil {
		return fail(err)
	}
	res.Elapsed, res.CPU, res.MaxRSS = el, cpu, rss
	res.Rate = float64(r.records) / el.Seconds()
	res.Counted = fmt.Sprintf("%.1f MB of keys and values", float64(res.Restore.Bytes)/1e6)
	return res
}

// runToReady runs a child until it is ready, then stops it; it returns
// the time from the child's start to ready, the CPU it used meanwhile and
// its peak RSS.
func (h *harness) runToReady(ctx context.Context, label string, spec childSpec) (time.Duration, time.Duration, int64, error) {
	stateDir, err := os.MkdirTemp("", "millrace-bench-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(stateDir)
	spec.StateDir = stateDir
	p, err := startChild(spec, clockOf(spec.Kind))
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.stop()
	began := time.Now()
	h.prog.set(label+" running", func() string { return fmt.Sprintf("(%v)", time.Since(began).Round(time.Millisecond)) })
	select {
	case <-p.ready():
	case <-p.exited():
		return 0, 0, 0, fmt.Errorf("stopped before it was ready: %w", stopErr(p))
	case <-time.After(h.opts.Timeout):
		return 0, 0, 0, fmt.Errorf("not ready within %v", h.opts.Timeout)
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	}
	if err := p.stop(); err != nil {
		return 0, 0, 0, fmt.Errorf("stopped with an error: %w", err)
	}
	return p.readyStamp.at.Sub(p.started.at), p.readyStamp.cpu - p.started.cpu, p.maxRSS(), nil
}

// restoreRatios says how a restore row's records/s and MB/s compare with
// its baseline's (raw-read) in the same run; empty without the baseline.
func restoreRatios(s summary, rows []summary) string {
	if len(s.hasRatio) == 0 || !s.hasRatio[0] {
		return ""
	}
	for _, b := range rows {
		if b.name != s.base || b.err != nil || b.restore.MBps() <= 0 {
			continue
		}
		return fmt.Sprintf("; %.2fx %s's records/s, %.2fx its MB/s", s.ratio[0], b.name, s.restore.MBps()/b.restore.MBps())
	}
	return ""
}
