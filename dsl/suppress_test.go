package dsl_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
	"github.com/millrace/millrace/window"
)

// The seed's pipeline: 60 s tumbling count with 10 s grace, suppressed
// until the window closes, filtered, rekeyed to the plain key.
func seedPipeline(b *dsl.Builder, buf window.BufferConfig, opts ...dsl.Option) {
	w := mustW(window.Tumbling(60*time.Second, 10*time.Second))
	beats := dsl.FromTopics(b, []string{"beats"}, record.String(), record.String())
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(beats), w), append(opts, dsl.As("bpm"))...)
	finals := dsl.Suppress(counts, dsl.UntilWindowCloses(buf), dsl.Named("bpm-final"))
	high := dsl.Filter(dsl.ToStream(finals), func(_ dsl.Windowed[string], n int64) bool { return n > 2 })
	dsl.To(dsl.Unwindow(high), "alerts")
	dsl.To(dsl.ToStream(finals), "finals")
}

func TestSuppressUntilWindowClosesEmitsOneFinalPerWindowAndNoneEarly(t *testing.T) {
	for _, opts := range [][]dsl.Option{nil, {dsl.WithoutCaching()}, {dsl.InMemory()}} {
		b := dsl.NewBuilder()
		seedPipeline(b, window.Unbounded().ShutDownWhenFull(), opts...)
		d := newDriver(t, b)
		in := testdriver.CreateInputTopic(d, "beats", record.String(), record.String())
		const s = 1000
		for _, ts := range []int64{1 * s, 20 * s, 30 * s, 59 * s} {
			pipe(t, in, "p1", "beat", ts)
		}
		pipe(t, in, "p2", "beat", 10*s)
		pipe(t, in, "p2", "beat", 65*s) // stream time 65 s < 60 + 10: still open
		pipe(t, in, "p1", "beat", 55*s) // within grace: counted in [0,60)
		out := testdriver.CreateOutputTopic(d, "finals", timeKeys(time.Minute), record.Int64())
		finals := func() []string { return tblRead(t, out) }
		if got := finals(); len(got) != 0 {
			t.Fatalf("%v: finals before the window closed: %v", opts, got)
		}
		pipe(t, in, "p2", "beat", 70*s) // closes [0,60)
		tblEqual(t, "finals", finals(), []string{"[p1@0/60000]=5@59000", "[p2@0/60000]=1@10000"})
		pipe(t, in, "p1", "beat", 58*s)  // late: dropped, no second final
		pipe(t, in, "p3", "beat", 200*s) // closes [60,120)
		tblEqual(t, "finals after", finals(), []string{"[p2@60000/120000]=2@70000"})
		same(t, "alerts", read(t, d, "alerts", record.String(), record.Int64()), []rec[string, int64]{kv("p1", int64(5), 59*s)})
		if n := tblDropped(t, d, window.DropLate); n != 1 {
			t.Errorf("%v: %d late drops, want 1", opts, n)
		}
	}
}

func TestSuppressAfterMapTableValuesStillKnowsTheWindow(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w))
	doubled := dsl.MapTableValues(counts, func(n int64) int64 { return 2 * n })
	dsl.To(dsl.ToStream(dsl.Suppress(doubled, dsl.UntilWindowCloses(window.Unbounded()))), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 2)
	pipe(t, in, "a", "x", 10)
	tblEqual(t, "out", winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64()), []string{"[a@0/10]=4@2"})
}

func TestSuppressSessionsEmitsOnceTheSessionEndPlusGraceHasPassed(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Sessions(10*time.Millisecond, 5*time.Millisecond))
	counts := dsl.CountSessions(dsl.SessionWindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(dsl.Suppress(counts, dsl.UntilWindowCloses(window.Unbounded()))), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	topic := testdriver.CreateOutputTopic(d, "out", window.SessionWindowedSerde(record.String()), record.Int64())
	out := func() []string { return tblRead(t, topic) }
	pipe(t, in, "a", "x", 0)
	pipe(t, in, "a", "x", 8)  // merges: [0,0] is deleted, [0,8] buffered
	pipe(t, in, "b", "x", 13) // 8 + 5 = 13: not yet passed (sessions are inclusive)
	tblEqual(t, "at 13", out(), []string{"[a@0/0]=<null>@0"})
	pipe(t, in, "b", "x", 14)
	tblEqual(t, "at 14", out(), []string{"[a@0/8]=2@8"})
}

func TestSuppressUntilTimeLimitEmitsTheLatestValuePerKeyAfterTheLimit(t *testing.T) {
	b := dsl.NewBuilder()
	table := dsl.TableFrom(b, "in", record.String(), record.String(), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(dsl.Suppress(table, dsl.UntilTimeLimit(10*time.Millisecond, window.MaxRecords(10)))), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 0)
	pipe(t, in, "a", "2", 5)
	pipe(t, in, "b", "1", 9)
	pipe(t, in, "a", "3", 10) // a was first buffered at 0: due at 10
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	tblEqual(t, "at 10", tblRead(t, out), []string{"a=3@10"})
	pipe(t, in, "c", "1", 19) // b due at 19
	tblEqual(t, "at 19", tblRead(t, out), []string{"b=1@9"})
}

func TestSuppressFullBufferShutsDownOrEmitsEarlyAsConfigured(t *testing.T) {
	b := dsl.NewBuilder()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(dsl.Suppress(counts, dsl.UntilWindowCloses(window.MaxRecords(1)))), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	if err := in.Pipe("b", "x", 2); !errors.Is(err, window.ErrBufferFull) {
		t.Errorf("second key in a 1-record buffer: %v, want ErrBufferFull", err)
	}

	b = dsl.NewBuilder()
	counts = dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(dsl.Suppress(counts, dsl.UntilWindowCloses(window.MaxRecords(1).EmitEarlyWhenFull()))), "out")
	d = newDriver(t, b)
	in = testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "b", "x", 2) // a is emitted early
	tblEqual(t, "out", winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64()), []string{"[a@0/10]=1@1"})
}

func TestSuppressUntilWindowClosesOnAPlainTableIsABuildError(t *testing.T) {
	b := dsl.NewBuilder()
	counts := dsl.Count(dsl.GroupByKey(strStream(b, "in")))
	dsl.Suppress(counts, dsl.UntilWindowCloses(window.Unbounded()))
	dsl.Suppress(counts, dsl.Suppressed{})
	dsl.Suppress(counts, dsl.UntilTimeLimit(0, window.Unbounded()))
	err := tblBuildErr(t, b, dsl.ErrInvalidOperator)
	for _, want := range []string{"not windowed", "zero Suppressed", "at least 1ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: missing %q", err, want)
		}
	}
}

func TestSuppressBufferStoreIsNamedOnce(t *testing.T) {
	b := dsl.NewBuilder()
	seedPipeline(b, window.Unbounded())
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bpm-final-store", "bpm"} {
		if !strings.Contains(desc, want) {
			t.Errorf("no %q in\n%s", want, desc)
		}
	}
	if u := b.Unnamed(); len(u) != 0 {
		t.Errorf("generated names %v: the seed pipeline names its stores", u)
	}
}

func TestEmitFinalForwardsOnlyClosedWindowsLikeSuppressWithoutABuffer(t *testing.T) {
	w := mustW(window.Tumbling(10*time.Millisecond, 5*time.Millisecond))
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	final := dsl.CountWindows(dsl.WindowedBy(g, w), dsl.As("final"), dsl.EmitFinal())
	suppressed := dsl.Suppress(dsl.CountWindows(dsl.WindowedBy(g, w), dsl.As("all")), dsl.UntilWindowCloses(window.Unbounded()))
	dsl.To(dsl.ToStream(final), "final")
	dsl.To(dsl.ToStream(suppressed), "suppressed")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	for i, ts := range []int64{3, 7, 11, 2, 14, 19, 26, 21, 40, 33, 58} {
		pipe(t, in, []string{"a", "b", "c"}[i%3], "x", ts)
	}
	got := winRead(t, d, "final", timeKeys(10*time.Millisecond), record.Int64())
	tblEqual(t, "emit final", got, []string{"[a@0/10]=2@3", "[b@0/10]=1@7", "[b@10/20]=1@14", "[c@10/20]=2@19",
		"[a@20/30]=1@26", "[b@20/30]=1@21", "[a@30/40]=1@33", "[c@40/50]=1@40"})
	tblEqual(t, "suppressed", winRead(t, d, "suppressed", timeKeys(10*time.Millisecond), record.Int64()), got)
	if d, err := b.Describe(); err != nil || !strings.Contains(d, "final-emit-watermark") {
		t.Errorf("no watermark store final-emit-watermark: %v\n%s", err, d)
	}
}

func TestEmitFinalSurvivesARestartWithoutDuplicateOrMissingFinals(t *testing.T) {
	if dsl.DefaultBackend != "rocksdb" {
		t.Skip("the default backend is in memory (millrace_norocksdb): no state survives in the state directory")
	}
	dir := t.TempDir()
	w := mustW(window.Tumbling(10*time.Millisecond, 0))
	run := func(ts ...int64) []string {
		b := dsl.NewBuilder()
		counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(strStream(b, "in")), w), dsl.As("c"), dsl.EmitFinal())
		dsl.To(dsl.ToStream(counts), "out")
		d, err := testdriver.New(mustBuild(t, b), testdriver.Config{ApplicationID: "final", StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
		for _, t1 := range ts {
			pipe(t, in, "a", "x", t1)
		}
		return winRead(t, d, "out", timeKeys(10*time.Millisecond), record.Int64())
	}
	tblEqual(t, "first run", run(1, 2, 12, 13), []string{"[a@0/10]=2@2"})
	// [0,10) was emitted: a record for it after the restart is late; [10,20)
	// was open and keeps its count.
	tblEqual(t, "second run", run(5, 14, 25), []string{"[a@10/20]=3@14"})
}
