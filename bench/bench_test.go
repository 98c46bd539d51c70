package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMain lets the test binary serve as the rows' child process, as the
// bench binary does.
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tinyRows are the rows the broker test runs: every kind of row, every
// baseline they need, a partition variant.
var tinyRows = []string{"raw", "passthrough", "count", "goka-count", "windowed-count", "stream-join", "table-join", "count-1m-keys",
	"raw-eos", "count-eos", "raw-1kb", "passthrough-1kb", "raw-read", "restore", "raw/p8", "count/p8"}

// TestHarnessRunsEveryKindOfRowOnATinyInput proves the harness works end
// to end on the embedded broker, each row's processor in a child process,
// and that the report and the chart come out; it makes no claim about
// speed.
func TestHarnessRunsEveryKindOfRowOnATinyInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a processor per row on an embedded broker (about 40 s)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := Options{Records: 2000, BigRecords: 4000, Partitions: 2, LatencyRate: 2000, LatencyFor: 300 * time.Millisecond,
		Timeout: 30 * time.Second, Scenarios: tinyRows, ConsumerCount: true, Progress: logWriter{t}}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(tinyRows) {
		t.Fatalf("%d results, want one per row (%d)", len(rep.Results), len(tinyRows))
	}
	for i, res := range rep.Results {
		if res.Scenario != tinyRows[i] {
			t.Errorf("result %d is %s, want %s", i, res.Scenario, tinyRows[i])
		}
		if res.Err != nil {
			t.Errorf("%s: %v", res.Scenario, res.Err)
			continue
		}
		if res.Rate <= 0 || res.Elapsed <= 0 || res.Records <= 0 {
			t.Errorf("%s: %d records at %.0f records/s in %v, want a positive rate", res.Scenario, res.Records, res.Rate, res.Elapsed)
		}
		if res.CPU <= 0 {
			t.Errorf("%s: child CPU %v, want some", res.Scenario, res.CPU)
		}
		if res.MaxRSS < 1<<20 {
			t.Errorf("%s: peak RSS %d bytes, want the child's (megabytes)", res.Scenario, res.MaxRSS)
		}
		row, _ := parseRow(res.Scenario, &rep.Opts)
		switch l := res.Latency; {
		case !row.hasLatency():
			if !l.Skipped || l.Why == "" {
				t.Errorf("%s: latency %+v, want it skipped with a reason", res.Scenario, l)
			}
		case l.Sent == 0 || l.Received != l.Sent || l.P50 <= 0 || l.Max < l.P99 || l.P99 < l.P50:
			t.Errorf("%s: latency %+v, want every record received with ordered percentiles", res.Scenario, l)
		}
		if row.shape == shapeLog && (res.Records != opts.BigRecords || res.Restore.Bytes <= 0) {
			t.Errorf("%s: %d records, %d bytes, want %d records and their size", res.Scenario, res.Records, res.Restore.Bytes, opts.BigRecords)
		}
		if row.kind == kindRestore && res.Restore.EmptyStart <= 0 {
			t.Errorf("%s: no start-up time of an App on an empty changelog", res.Scenario)
		}
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir, []string{"bench", "-records", "2000"}); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "report.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"command: bench -records 2000", "count / goka-count (same run): records/s", "count/p8           | raw/p8",
		"restore    4,000 records", "net of the", "passthrough >= 1.5x raw", "count >= 2.5x goka-count", "load:"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "report.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if bars := countBars(t, svg); bars == 0 {
		t.Errorf("the chart has no bars:\n%s", svg)
	}
	t.Log("\n" + string(text))
}

// countBars checks the SVG is well-formed XML and counts its bars (rects
// with a title).
func countBars(t *testing.T, svg []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	bars, inRect := 0, false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return bars
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "rect":
				inRect = true
			case "title":
				if inRect {
					bars++
				}
			}
		case xml.EndElement:
			if e.Name.Local == "rect" {
				inRect = false
			}
		}
	}
}

// TestIdleModeCountsTheFetchRequestsOfAnIdleApp proves the idle mode sees
// the requests of a processor whose input stays empty: an App polls, so
// some Fetch requests must arrive.
func TestIdleModeCountsTheFetchRequestsOfAnIdleApp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an App on an embedded broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := RunIdle(ctx, Options{Scenarios: []string{"passthrough"}, Partitions: 2, Timeout: 30 * time.Second, Progress: logWriter{t}}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Err != nil {
		t.Fatalf("results %+v, want one without an error", results)
	}
	if r := results[0]; r.Requests[kmsg.Fetch] == 0 || r.Rate(kmsg.Fetch.Int16()) > r.Rate(-1) {
		t.Errorf("%d Fetch requests (%.1f/s of %.1f/s in all), want some", r.Requests[kmsg.Fetch], r.Rate(kmsg.Fetch.Int16()), r.Rate(-1))
	}
	var b strings.Builder
	PrintIdle(&b, results, []string{"bench", "-idle", "1s"})
	if !strings.Contains(b.String(), "passthrough") || !strings.Contains(b.String(), "Fetch") {
		t.Errorf("idle table lacks the row or the Fetch column:\n%s", b.String())
	}
}

// TestOptionsReportEveryProblemAtOnce proves validation names every bad
// option and row, not just the first.
func TestOptionsReportEveryProblemAtOnce(t *testing.T) {
	o := Options{Records: -1, Scenarios: []string{"raw", "nope", "raw", "count/16", "count/p0"},
		RawConfig: map[string]string{"linger.ms": "1"}}
	err := o.withDefaults()
	if err == nil {
		t.Fatal("no error")
	}
	for _, frag := range []string{"-records -1", `unknown scenario "nope"`, `"raw" listed twice`,
		`"count/16": the suffix must be /pN`, `"count/p0": the suffix must be /pN`, `"linger.ms" names neither consumer.`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error lacks %s: %v", frag, err)
		}
	}
}

// TestPartitionVariantsAreDividedByTheirOwnBaseline proves a row's shape
// (partitions, value size, key space, records) and baseline resolve from
// its name.
func TestPartitionVariantsAreDividedByTheirOwnBaseline(t *testing.T) {
	o := Options{Scenarios: []string{"count/p16", "raw/p16", "passthrough-1kb", "count-1m-keys", "stream-join"}, Records: 1001}
	if err := o.withDefaults(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		base             string
		parts, value     int
		keys, records    int
		outputs          int
		baselineOfItself bool
	}{
		{"raw/p16", 16, 100, distinctKeys, 1001, 1001, false},
		{"", 16, 100, distinctKeys, 1001, 1001, true},
		{"raw-1kb", 4, 1024, distinctKeys, 1001, 1001, false},
		{"raw", 4, 100, bigKeySpace, 1_000_000, 1_000_000, false},
		{"raw", 4, 100, distinctKeys, 1000, 500, false}, // pairs: an even count, one output per pair
	}
	for i, r := range o.rows {
		w := want[i]
		if r.base != w.base || r.partitions != w.parts || r.valueBytes != w.value || r.keySpace != w.keys || r.records != w.records || r.outputs() != w.outputs {
			t.Errorf("%s: base %q, %d partitions, %d-byte values, %d keys, %d records, %d outputs; want %+v",
				r.name, r.base, r.partitions, r.valueBytes, r.keySpace, r.records, r.outputs(), w)
		}
	}
}

// TestKafkaHasherIsPositiveMurmur2 checks Goka's partitioning hash: Kafka's
// Java murmur2 with the sign bit cleared (the vectors of the hash itself
// are in internal/murmur2).
func TestKafkaHasherIsPositiveMurmur2(t *testing.T) {
	h := newKafkaHasher()
	h.Write([]byte("1"))
	javaHash := int32(-1993445489)
	if got, want := h.Sum32(), uint32(javaHash)&0x7fffffff; got != want {
		t.Errorf("kafkaHasher(\"1\") = %d, want murmur2 with the sign bit cleared, %d", got, want)
	}
}

// TestRawLoopCommitsOnlyWhatIsDelivered proves the at-least-once
// baseline's rule: positions noted after some records were produced are
// committable only once every output partition has delivered as many, and
// the newest such note wins.
func TestRawLoopCommitsOnlyWhatIsDelivered(t *testing.T) {
	notes := []commitNote{{produced: []int64{10, 0}}, {produced: []int64{20, 5}}, {produced: []int64{30, 9}}}
	for _, c := range []struct {
		delivered []int64
		want      int
	}{
		{[]int64{0, 0}, -1},
		{[]int64{9, 100}, -1}, // partition 0 is one short of the first note
		{[]int64{10, 0}, 0},
		{[]int64{25, 4}, 0}, // partition 1 holds the second note back
		{[]int64{25, 5}, 1},
		{[]int64{30, 9}, 2},
	} {
		if got := committable(notes, func(p int) int64 { return c.delivered[p] }); got != c.want {
			t.Errorf("delivered %v: note %d committable, want %d", c.delivered, got, c.want)
		}
	}
}

// TestRatiosDivideByTheBaselineOfTheSameRun proves each ratio is taken
// within a run, and the summary of several runs is the median of the
// per-run ratios, not a ratio of medians.
func TestRatiosDivideByTheBaselineOfTheSameRun(t *testing.T) {
	o := Options{Scenarios: []string{"raw", "passthrough"}, Runs: 3}
	if err := o.withDefaults(); err != nil {
		t.Fatal(err)
	}
	res := func(run int, name string, rate float64, rss int64) Result {
		return Result{Run: run, Scenario: name, Records: 100, Rate: rate, CPU: time.Millisecond, MaxRSS: rss,
			Latency: Latency{P50: time.Millisecond, P99: 2 * time.Millisecond}}
	}
	rep := &Report{Opts: o, Results: []Result{
		res(1, "raw", 100, 10), res(1, "passthrough", 90, 20),
		res(2, "raw", 200, 10), res(2, "passthrough", 100, 10),
		res(3, "raw", 50, 10), res(3, "passthrough", 50, 30),
	}}
	s := rep.summarize(rep.allRuns())
	if s[1].name != "passthrough" || !s[1].hasRatio[0] {
		t.Fatalf("summary %+v", s)
	}
	// Per-run rate ratios 0.9, 0.5, 1.0: median 0.9 (a ratio of medians would be 90/100 too, so also check RSS).
	if got := s[1].ratio[0]; got != 0.9 {
		t.Errorf("rate ratio %v, want the median of 0.9, 0.5, 1.0", got)
	}
	// RSS ratios 2, 1, 3: median 2.
	if got := s[1].ratio[4]; got != 2 {
		t.Errorf("RSS ratio %v, want 2", got)
	}
	if s[0].hasRatio[0] {
		t.Errorf("the baseline has a ratio: %+v", s[0])
	}
	var svg bytes.Buffer
	writeChart(&svg, s, "t", "s")
	if got := countBars(t, svg.Bytes()); got != len(metrics) {
		t.Errorf("%d bars, want one per figure of passthrough (%d)", got, len(metrics))
	}
}

// -wrapper-producer adds each App row's +wrapper twin right after it, with
// the same baseline; +wrapper on a row that runs no App is refused.
func TestWrapperProducerRowsFollowTheirAppRowAgainstTheSameBaseline(t *testing.T) {
	o := Options{Scenarios: []string{"raw", "passthrough", "count/p1", "goka-count", "raw/p1"}, WrapperProducer: true}
	if err := o.withDefaults(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range o.rows {
		got = append(got, r.name+"|"+r.base+"|"+map[bool]string{true: "wrapper", false: "default"}[r.wrapper])
	}
	want := "raw||default passthrough|raw|default passthrough+wrapper|raw|wrapper count/p1|raw/p1|default count/p1+wrapper|raw/p1|wrapper " +
		"goka-count|raw|default raw/p1||default"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows %v\nwant %s", got, want)
	}
	bad := Options{Scenarios: []string{"raw+wrapper"}}
	if err := bad.withDefaults(); err == nil || !strings.Contains(err.Error(), "raw+wrapper") {
		t.Fatalf("raw+wrapper: %v, want an error naming it", err)
	}
}
