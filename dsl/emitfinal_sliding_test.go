package dsl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

func TestSlidingEmitFinalForwardsEachClosedWindowOnceLikeSuppress(t *testing.T) {
	w := mustW(window.Sliding(10*time.Millisecond, 5*time.Millisecond))
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	final := dsl.CountSliding(dsl.SlidingWindowedBy(g, w), dsl.As("final"), dsl.EmitFinal())
	suppressed := dsl.Suppress(dsl.CountSliding(dsl.SlidingWindowedBy(g, w), dsl.As("all")), dsl.UntilWindowCloses(window.Unbounded()))
	dsl.To(dsl.ToStream(final), "final")
	dsl.To(dsl.ToStream(suppressed), "suppressed")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	keys := timeKeys(10 * time.Millisecond)
	for _, r := range []struct {
		k  string
		ts int64
	}{{"a", 1}, {"a", 5}, {"b", 14}, {"b", 15}} {
		pipe(t, in, r.k, "x", r.ts)
	}
	// Stream time 15 = end + grace of [0,10]: still open.
	tblEqual(t, "before any window closed", winRead(t, d, "final", keys, record.Int64()), nil)
	pipe(t, in, "a", "x", 16)
	tblEqual(t, "at 16", winRead(t, d, "final", keys, record.Int64()), []string{"[a@0/10]=2@5"})
	pipe(t, in, "b", "x", 30)
	pipe(t, in, "a", "x", 3) // late
	pipe(t, in, "c", "x", 100)
	got := winRead(t, d, "final", keys, record.Int64())
	tblEqual(t, "emit final", got, []string{"[a@0/10]=2@5", "[a@2/12]=1@5", "[b@4/14]=1@14", "[b@5/15]=2@15", "[a@6/16]=1@16",
		"[b@15/25]=1@15", "[b@20/30]=1@30"})
	tblEqual(t, "suppressed", winRead(t, d, "suppressed", keys, record.Int64()), got)
	if d, err := b.Describe(); err != nil || !strings.Contains(d, "final-emit-watermark") {
		t.Errorf("no watermark store final-emit-watermark: %v\n%s", err, d)
	}
}

func TestSlidingEmitFinalSurvivesARestartWithoutDuplicateOrMissingFinals(t *testing.T) {
	if dsl.DefaultBackend != "rocksdb" {
		t.Skip("the default backend is in memory (millrace_norocksdb): no state survives in the state directory")
	}
	dir := t.TempDir()
	w := mustW(window.Sliding(10*time.Millisecond, 5*time.Millisecond))
	run := func(recs ...string) []string {
		b := dsl.NewBuilder()
		counts := dsl.CountSliding(dsl.SlidingWindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("c"), dsl.EmitFinal())
		dsl.To(dsl.ToStream(counts), "out")
		d, err := testdriver.New(mustBuild(t, b), testdriver.Config{ApplicationID: "sliding-final", StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
		for i := 0; i < len(recs); i += 2 {
			var ts int64
			for _, c := range recs[i+1] {
				ts = ts*10 + int64(c-'0')
			}
			pipe(t, in, recs[i], "x", ts)
		}
		return winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64())
	}
	tblEqual(t, "first run", run("a", "1", "b", "12", "a", "16", "a", "18"),
		[]string{"[a@0/10]=1@1", "[b@2/12]=1@12"})
	// a@2 falls into windows emitted before the restart: late. The open
	// windows were restored and close once.
	tblEqual(t, "second run", run("a", "2", "b", "19", "c", "40"),
		[]string{"[a@6/16]=1@16", "[a@8/18]=2@18", "[b@9/19]=2@19", "[b@13/23]=1@19", "[a@17/27]=1@18"})
}
