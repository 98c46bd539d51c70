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

func TestSessionEmitFinalForwardsOneFinalPerClosedSessionLikeSuppressWithoutMergedAwayOnes(t *testing.T) {
	w := mustW(window.Sessions(5*time.Millisecond, 10*time.Millisecond))
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	final := dsl.CountSessions(dsl.SessionWindowedBy(g, w), dsl.As("final"), dsl.EmitFinal())
	suppressed := dsl.Suppress(dsl.CountSessions(dsl.SessionWindowedBy(g, w), dsl.As("all")), dsl.UntilWindowCloses(window.Unbounded()))
	dsl.To(dsl.ToStream(final), "final")
	dsl.To(dsl.ToStream(suppressed), "suppressed")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	keys := window.SessionWindowedSerde(record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 4) // a [1,4]
	pipe(t, in, "b", "x", 3) // b [3,3]
	pipe(t, in, "a", "x", 12)
	pipe(t, in, "a", "x", 8)  // merges a [1,4] and [12,12] into [1,12]
	pipe(t, in, "c", "x", 13) // stream time 13 = b's end + grace: still open
	tblEqual(t, "before any session closed", winRead(t, d, "final", keys, record.Int64()), nil)
	pipe(t, in, "c", "x", 14) // b [3,3] closes
	tblEqual(t, "at 14", winRead(t, d, "final", keys, record.Int64()), []string{"[b@3/3]=1@3"})
	pipe(t, in, "c", "x", 23) // a [1,12] closes
	pipe(t, in, "a", "x", 2)  // late
	pipe(t, in, "d", "x", 100)
	got := winRead(t, d, "final", keys, record.Int64())
	tblEqual(t, "emit final", got, []string{"[b@3/3]=1@3", "[a@1/12]=4@12", "[c@13/14]=2@14", "[c@23/23]=1@23"})
	tblEqual(t, "suppressed, less the deletes of merged-away sessions",
		withoutNulls(winRead(t, d, "suppressed", keys, record.Int64())), got)
	if n := tblDropped(t, d, window.DropLate); n != 2 { // one per aggregation
		t.Errorf("%d late drops, want 2", n)
	}
}

func withoutNulls(rs []string) []string {
	out := []string{}
	for _, r := range rs {
		if !strings.Contains(r, "=<null>@") {
			out = append(out, r)
		}
	}
	return out
}

func TestSessionEmitFinalSurvivesARestartWithoutDuplicateOrMissingFinals(t *testing.T) {
	if dsl.DefaultBackend != "rocksdb" {
		t.Skip("the default backend is in memory (millrace_norocksdb): no state survives in the state directory")
	}
	dir := t.TempDir()
	w := mustW(window.Sessions(5*time.Millisecond, 10*time.Millisecond))
	type rec struct {
		k  string
		ts int64
	}
	run := func(recs ...rec) []string {
		b := dsl.NewBuilder()
		counts := dsl.CountSessions(dsl.SessionWindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("c"), dsl.EmitFinal())
		dsl.To(dsl.ToStream(counts), "out")
		d, err := testdriver.New(mustBuild(t, b), testdriver.Config{ApplicationID: "session-final", StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
		for _, r := range recs {
			pipe(t, in, r.k, "x", r.ts)
		}
		return winRead(t, d, "out", window.SessionWindowedSerde(record.String()), record.Int64())
	}
	tblEqual(t, "first run", run(rec{"a", 1}, rec{"b", 3}, rec{"a", 20}, rec{"a", 22}),
		[]string{"[a@1/1]=1@1", "[b@3/3]=1@3"})
	// a@2 would merge into a [1,1], emitted before the restart: late. The
	// open sessions were restored and close once.
	tblEqual(t, "second run", run(rec{"a", 2}, rec{"b", 24}, rec{"c", 40}),
		[]string{"[a@20/22]=2@22", "[b@24/24]=1@24"})
}
