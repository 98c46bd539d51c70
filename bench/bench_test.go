package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestHarnessRunsEveryScenarioOnASmallInput proves the harness works end to
// end on the embedded broker; it makes no claim about speed.
func TestHarnessRunsEveryScenarioOnASmallInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario on an embedded broker (about 10 s)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := Options{Records: 2000, Partitions: 1, LatencyRate: 2000, LatencyFor: 500 * time.Millisecond,
		Timeout: 30 * time.Second, Progress: logWriter{t}}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(AllScenarios()) {
		t.Fatalf("%d results, want one per scenario (%d)", len(rep.Results), len(AllScenarios()))
	}
	for i, res := range rep.Results {
		if res.Scenario != AllScenarios()[i] {
			t.Errorf("result %d is %s, want %s", i, res.Scenario, AllScenarios()[i])
		}
		if res.Err != nil {
			t.Errorf("%s: %v", res.Scenario, res.Err)
			continue
		}
		if res.Rate <= 0 || res.Elapsed <= 0 {
			t.Errorf("%s: rate %.0f records/s in %v, want a positive rate", res.Scenario, res.Rate, res.Elapsed)
		}
		if l := res.Latency; l.Sent != 1000 || l.Received != l.Sent || l.P50 <= 0 || l.Max < l.P99 || l.P99 < l.P50 {
			t.Errorf("%s: latency %+v, want 1000 records received with ordered percentiles", res.Scenario, l)
		}
	}
	var b strings.Builder
	rep.Print(&b, []string{"bench", "-records", "2000"})
	out := b.String()
	for _, want := range []string{"ratio vs raw", "passthrough >= 0.9x raw", "GOMAXPROCS=", "command: bench -records 2000"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
}

func TestOptionsReportEveryProblemAtOnce(t *testing.T) {
	o := Options{Records: -1, Scenarios: []string{"raw", "nope", "raw"}}
	err := o.withDefaults()
	if err == nil {
		t.Fatal("no error")
	}
	for _, frag := range []string{"-records -1", `unknown scenario "nope"`, `"raw" listed twice`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error lacks %s: %v", frag, err)
		}
	}
}
