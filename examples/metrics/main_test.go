package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the endpoint over HTTP and parses the exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// series returns a family's series whose labels match every given label
// (a value starting with ~ is a regular expression), with their values.
func series(fams map[string]*dto.MetricFamily, name string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		var keys []string
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
			keys = append(keys, l.GetName()+"="+l.GetValue())
		}
		for k, v := range match {
			if re, ok := strings.CutPrefix(v, "~"); ok {
				if !regexp.MustCompile("^" + re + "$").MatchString(labels[k]) {
					continue next
				}
			} else if labels[k] != v {
				continue next
			}
		}
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetSummary() != nil:
			v = float64(m.GetSummary().GetSampleCount())
		case m.GetHistogram() != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[strings.Join(keys, ",")] = v
	}
	return out
}

func sum(s map[string]float64) float64 {
	var n float64
	for _, v := range s {
		n += v
	}
	return n
}

// syncBuffer is a bytes.Buffer safe for the restorer's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMetricsEndpointServesTheAppsCountsByTaskNodeTopicAndStore(t *testing.T) {
	var progress syncBuffer
	d, err := Start(Options{Addr: "127.0.0.1:0", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	const lines, poison = 90, 10
	var texts []string
	words := 0
	for i := range lines {
		texts = append(texts, fmt.Sprintf("word%d common words", i%7))
		words += 3
	}
	var raw [][]byte
	for range poison {
		raw = append(raw, []byte("{not json"))
	}
	if err := d.Write(texts, raw...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.WaitProcessed(ctx, lines, time.Minute); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, d.URL)
	byTask := series(fams, "millrace_task_process_total", map[string]string{"application_id": ApplicationID})
	for sub := range 2 {
		for p := range Partitions {
			key := fmt.Sprintf("application_id=%s,task=%d_%d", ApplicationID, sub, p)
			if _, ok := byTask[key]; !ok {
				t.Errorf("no millrace_task_process_total for task %d_%d: %v", sub, p, byTask)
			}
		}
	}
	if n := sum(series(fams, "millrace_task_process_total", map[string]string{"task": "~0_.*"})); n != lines {
		t.Errorf("lines processed = %v, want %d (the poison records are not processed)", n, lines)
	}
	if n := sum(series(fams, "millrace_task_process_total", map[string]string{"task": "~1_.*"})); n != float64(words) {
		t.Errorf("words counted = %v, want %d", n, words)
	}
	if n := sum(series(fams, "millrace_topic_records_consumed_total", map[string]string{"topic": LinesTopic})); n != lines+poison {
		t.Errorf("records consumed from %s = %v, want every record written, %d", LinesTopic, n, lines+poison)
	}
	if n := sum(series(fams, "millrace_task_dropped_records_total", map[string]string{"reason": "deserialization-error"})); n != poison {
		t.Errorf("dropped as deserialization errors = %v, want the %d poison records", n, poison)
	}
	if n := sum(series(fams, "millrace_topic_records_produced_total", map[string]string{"topic": CountTopic})); n != float64(words) {
		t.Errorf("counts produced to %s = %v, want one per word (no cache), %d", CountTopic, n, words)
	}
	if n := sum(series(fams, "millrace_node_record_e2e_latency_seconds", map[string]string{"task": "~0_.*"})); n < lines {
		t.Errorf("e2e latency samples at the first sub-topology's nodes = %v, want at least one per line", n)
	}
	if n := len(series(fams, "millrace_rocksdb_block_cache_capacity_bytes", map[string]string{"store": "word-counts"})); n != Partitions {
		t.Errorf("%d word-counts stores report RocksDB's block cache, want %d", n, Partitions)
	}
	if n := sum(series(fams, "millrace_app_state", map[string]string{"state": "RUNNING"})); n != 1 {
		t.Errorf("millrace_app_state{state=RUNNING} = %v", n)
	}
	// A commit runs every 200 ms: wait for one.
	for deadline := time.Now().Add(10 * time.Second); sum(series(fams, "millrace_commit_latency_seconds", nil)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no commit latency observed in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
		fams = scrape(t, d.URL)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("the Go collector registered next to the exporter is missing")
	}

	// An empty state directory: the three stores restore their counts.
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, d.URL)
	if n := sum(series(fams, "millrace_store_restore_total", map[string]string{"store": "word-counts"})); n != float64(words) {
		t.Errorf("records restored = %v, want the changelog's %d (one per count)", n, words)
	}
	if n := sum(series(fams, "millrace_store_restore_remaining_records", nil)); n != 0 {
		t.Errorf("records left to restore once RUNNING = %v", n)
	}
	stores := 0
	for _, m := range regexp.MustCompile(`restored: (\d+)/\d+ stores`).FindAllStringSubmatch(progress.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		stores += n
	}
	if stores != Partitions {
		t.Errorf("the progress lines end %d stores' restorations, want %d:\n%s", stores, Partitions, progress.String())
	}
}
