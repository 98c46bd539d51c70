package crashtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	soak      = flag.Bool("soak", os.Getenv("MILLRACE_CRASH_SOAK") != "", "run the long soak (also MILLRACE_CRASH_SOAK=1)")
	soakChaos = flag.Duration("soak.chaos", 3*time.Minute, "with -soak: how long each scenario's input flows under kills")
	seedFlag  = flag.Uint64("seed", 0, "replay this seed (also MILLRACE_CRASH_SEED); 0 picks one")
)

// TestMain runs a child role when the parent started this binary as one;
// otherwise the tests.
func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "broker":
		os.Exit(brokerMain())
	case "app":
		os.Exit(appMain())
	case "":
		flag.Parse()
		os.Exit(m.Run())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

func seed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("MILLRACE_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MILLRACE_CRASH_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// scenarios are the variants; the soak runs the same ones longer, with more
// records and keys.
func scenarios() []scenario {
	base := []scenario{
		{name: "eos-rocksdb", eos: true, store: "rocksdb", kills: true},
		{name: "eos-memory-static", eos: true, store: "memory", static: true, kills: true},
		{name: "alos-rocksdb-static", store: "rocksdb", static: true, kills: true},
		{name: "alos-memory", store: "memory", kills: true},
		{name: "alos-rocksdb-clean", store: "rocksdb", kills: false},
	}
	for i := range base {
		sc := &base[i]
		sc.keys, sc.records, sc.chaos = 500, 20_000, 20*time.Second
		if !sc.kills {
			sc.records, sc.chaos = 10_000, 10*time.Second
		}
		if *soak {
			sc.keys, sc.chaos = 1000, *soakChaos
			sc.records = int(sc.chaos.Seconds() * 1000)
		}
	}
	return base
}

// TestCrash runs every scenario: two App processes share the input's
// partitions against a broker process, and are killed (or stopped) and
// restarted while the input flows; the output and the final stores are then
// checked against the guarantee.
func TestCrash(t *testing.T) {
	s := seed(t)
	t.Logf("seed %d (replay: go test ./crashtest -run 'TestCrash/<scenario>' -seed %d)", s, s)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			// Mostly waiting (session timeouts, rebalances): two at a
			// time (go test's -parallel defaults to GOMAXPROCS) keep
			// two cores busy without starving the children.
			t.Parallel()
			run(t, sc, s)
		})
	}
}

func run(t *testing.T, sc scenario, seed uint64) {
	began := time.Now()
	var phases []string
	last := began
	mark := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(last).Round(10*time.Millisecond)))
		last = time.Now()
	}
	h := newHarness(t, sc, seed)
	in := makeInput(h.rng, sc.keys, sc.records)
	t.Logf("%s: seed %d, %d keys, %d records over %v, %s, %s store, static a: %v, kills: %v",
		sc.name, seed, sc.keys, sc.records, sc.chaos, guarantee(sc), sc.store, sc.static, sc.kills)

	h.startBroker()
	h.do(func() {
		for _, i := range h.inst {
			h.start(i, arm{})
		}
	})
	h.waitFor(90*time.Second, "both instances RUNNING", h.allRunning, h.status)
	mark("start")

	live, err := startLiveReader(h.bootstrap, sc.eos)
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()

	// Chaos: the input flows while instances are killed and restarted.
	h.do(func() {
		h.phase = phaseChaos
		for _, i := range h.inst { // the first incarnations get a timed arm
			a := h.chooseArm(i)
			for a.kind == armFault { // the hook is read at start only
				a = h.chooseArm(i)
			}
			i.cur.arm = a
			h.after(a.delay, timerEv{inc: i.cur, what: a.what()})
		}
	})
	live.setMeasuring(true)
	produced := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { produced <- produceInput(ctx, h.bootstrap, in, sc.chaos, nil) }()
	chaosEnd := time.Now().Add(sc.chaos)
	coverageDeadline := chaosEnd.Add(60 * time.Second)
	for done := false; !done; {
		select {
		case err := <-produced:
			if err != nil {
				t.Fatalf("producing the input: %v", err)
			}
			produced = nil
		case <-time.After(200 * time.Millisecond):
		}
		h.check()
		if produced == nil && time.Now().After(chaosEnd) {
			var left []string
			h.do(func() { left = slices.Clone(h.coverage) })
			switch {
			case len(left) == 0:
				done = true
			case time.Now().After(coverageDeadline):
				t.Errorf("fault points never fired: %v", left)
				done = true
			}
		}
	}
	live.setMeasuring(false)
	mark("chaos")

	// Settle: no new kills; restart what is down, disarm what runs.
	h.do(func() {
		h.phase = phaseSettle
		for _, i := range h.inst {
			if i.cur != nil && i.cur.armed {
				i.cur.c.send("disarm")
			}
		}
	})
	h.waitFor(120*time.Second, "both instances up, disarmed and RUNNING after the chaos", h.allRunning, h.status)
	mark("settle")
	waitOutput(t, h, live, in)
	mark("catch-up")

	// Stop both cleanly (each commits and checkpoints what it runs).
	var b, a *child
	h.do(func() {
		h.phase = phaseFinal
		a, b = h.inst[0].cur.c, h.inst[1].cur.c
		b.stop()
		a.stop()
	})
	stopChild(t, h, b)
	stopChild(t, h, a)
	live.close()
	mark("stop")

	final, err := readAll(h.bootstrap, sc.eos, 60*time.Second)
	if err != nil {
		t.Fatalf("reading the output: %v", err)
	}
	rep := check(t, sc, in, final)
	mark("read")

	// The stores, once from a's state directory (local state and
	// checkpoints, the rest restored), once restored from the changelogs
	// alone into an empty directory.
	for _, d := range []struct{ name, dir string }{{"dump-local", h.inst[0].stateDir}, {"dump-fresh", filepath.Join(h.dir, "state-fresh")}} {
		got := runDumper(t, h, d.name, d.dir)
		checkDump(t, sc, d.name, in, rep.last, got)
		mark(d.name)
	}
	h.do(func() { h.broker.kill() }) // it is not under test
	if races, err := scanLogs(h.logs, "WARNING: DATA RACE", 5); err == nil {
		t.Errorf("a child process reported a data race:\n%s", strings.Join(races, "\n"))
	}
	if panics, err := scanLogs(h.logs, "panic:", 5); err == nil {
		t.Errorf("a child process panicked:\n%s", strings.Join(panics, "\n"))
	}
	mark("end")
	h.report(t, in, rep, live, phases, time.Since(began))
}

func guarantee(sc scenario) string {
	if sc.eos {
		return "exactly_once_v2"
	}
	return "at_least_once"
}

// waitOutput waits until every key's last input has a result in the output.
func waitOutput(t *testing.T, h *harness, live *liveReader, in *input) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		h.check()
		n, some := live.missing(in.want)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			var st string
			h.do(func() { st = h.status() })
			t.Fatalf("after 120s, %d keys still lack the result of their last input, e.g. %v\n%s", n, some, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopChild(t *testing.T, h *harness, c *child) {
	t.Helper()
	if err := c.waitExit(60 * time.Second); err != nil {
		t.Fatalf("clean stop: %v\n%s", err, logTail(c.logPath, 30))
	}
	if !c.status.Exited() || c.status.ExitStatus() != 0 {
		t.Fatalf("%s did not stop cleanly (%s):\n%s", c.name, c.exitDescription(), logTail(c.logPath, 30))
	}
	h.check()
}

// runDumper runs an App on dir until it holds every task, and returns its
// store.
func runDumper(t *testing.T, h *harness, name, dir string) map[string]int64 {
	t.Helper()
	var inc *incarnation
	h.do(func() {
		spec := h.spec(&instance{name: name, stateDir: dir, instanceID: h.inst[0].instanceID})
		spec.DumpTasks = partitions
		js, _ := json.Marshal(spec)
		c, err := h.spawn(name, "app", append([]string{envApp + "=" + string(js)}, h.appEnv...))
		if err != nil {
			h.failf("start %s: %v", name, err)
			return
		}
		inc = &incarnation{c: c, dump: map[string]int64{}}
		h.others = append(h.others, inc)
	})
	h.check()
	h.waitFor(90*time.Second, name+" to dump its store", func() bool { return inc.dumped && !inc.c.alive() }, func() string {
		return fmt.Sprintf("%s: state %s, tasks [%s], %s\n%s", name, inc.state, inc.tasks, inc.c.exitDescription(), logTail(inc.c.logPath, 30))
	})
	var got map[string]int64
	h.do(func() { got = inc.dump })
	return got
}

// report holds what check measured.
type report struct {
	outputs    int
	duplicates int              // outputs whose input already had one
	rewinds    int              // a key's count going down (at-least-once replays)
	last       map[string]int64 // each key's last count in the output
	overCount  int64            // sum over keys of last - n_k
	overKeys   int
}

// check verifies the whole output against the guarantee.
// errorfer is the part of testing.T the checks use (the checks' own tests
// record the errors instead).
type errorfer interface {
	Helper()
	Errorf(format string, args ...any)
}

func check(t errorfer, sc scenario, in *input, final []out) report {
	t.Helper()
	exact := sc.eos || !sc.kills
	rep := report{outputs: len(final), last: map[string]int64{}}
	byKey := map[string][]out{}
	for _, o := range final {
		byKey[o.key] = append(byKey[o.key], o)
	}
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for k := range byKey {
		if _, ok := in.want[k]; !ok {
			bad("key %q is in the output but not in the input", k)
		}
	}
	keys := make([]string, 0, len(in.want))
	for k := range in.want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := in.want[k]
		outs := byKey[k]
		seen := make([]bool, n+1)
		prev := int64(0)
		for i, o := range outs {
			r := o.r
			if i > 0 && o.partition != outs[0].partition {
				bad("key %s is in output partitions %d and %d", k, outs[0].partition, o.partition)
			}
			if r.Seq < 1 || r.Seq > n {
				bad("key %s: output %d@%d has input seq %d, the key has %d inputs", k, o.partition, o.offset, r.Seq, n)
				continue
			}
			if seen[r.Seq] {
				rep.duplicates++
				if exact {
					bad("key %s: input %d has a second result (count %d at %d@%d): a duplicate", k, r.Seq, r.Count, o.partition, o.offset)
				}
			}
			seen[r.Seq] = true
			switch {
			case exact && r.Count != r.Seq:
				bad("key %s: input %d counted as %d at %d@%d (want exactly %d)", k, r.Seq, r.Count, o.partition, o.offset, r.Seq)
			case r.Count < r.Seq:
				bad("key %s: input %d counted as %d at %d@%d: updates were lost", k, r.Seq, r.Count, o.partition, o.offset)
			}
			if r.Count < prev {
				rep.rewinds++
				if exact {
					bad("key %s: count went from %d down to %d at %d@%d", k, prev, r.Count, o.partition, o.offset)
				}
			}
			prev = r.Count
		}
		var missing []int64
		for s := int64(1); s <= n; s++ {
			if !seen[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			bad("key %s: no result for inputs %v (of %d): lost", k, missing[:min(len(missing), 10)], n)
		}
		if len(outs) == 0 {
			continue
		}
		lastOut := outs[len(outs)-1]
		if lastOut.r.Seq != n {
			bad("key %s: the last result is for input %d, not the last input %d", k, lastOut.r.Seq, n)
		}
		rep.last[k] = lastOut.r.Count
		if over := lastOut.r.Count - n; over > 0 {
			rep.overCount += over
			rep.overKeys++
		}
	}
	if exact && len(final) != len(in.keys) {
		bad("the output holds %d results for %d inputs", len(final), len(in.keys))
	}
	if len(problems) > 0 {
		t.Errorf("%s: the output breaks the %s guarantee (first %d problems):\n  %s", sc.name, guarantee(sc),
			len(problems), strings.Join(problems, "\n  "))
	}
	return rep
}

// checkDump compares a dumped store with the output: exactly-once (and
// clean at-least-once) stores hold n_k; at-least-once stores hold the last
// count the output shows, which is at least n_k.
func checkDump(t errorfer, sc scenario, name string, in *input, last map[string]int64, got map[string]int64) {
	t.Helper()
	exact := sc.eos || !sc.kills
	var problems []string
	for k, n := range in.want {
		v, ok := got[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s missing (want %d)", k, n))
		case exact && v != n:
			problems = append(problems, fmt.Sprintf("%s = %d, want %d", k, v, n))
		case !exact && v < n:
			problems = append(problems, fmt.Sprintf("%s = %d, under its %d inputs: lost updates", k, v, n))
		case !exact && v != last[k]:
			problems = append(problems, fmt.Sprintf("%s = %d, but the output's last count is %d", k, v, last[k]))
		}
	}
	if len(got) != len(in.want) {
		problems = append(problems, fmt.Sprintf("the store holds %d keys, the input %d", len(got), len(in.want)))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%s: the store breaks the %s guarantee (%d problems): %s", name, guarantee(sc), len(problems),
			strings.Join(problems[:min(len(problems), 20)], "; "))
	}
}

func (h *harness) report(t *testing.T, in *input, rep report, live *liveReader, phases []string, wall time.Duration) {
	var endings []*ending
	var fired map[string]int
	var fallbacks int
	var starts, janitored, syncHeld, stalls, stranded int
	h.do(func() {
		janitored, syncHeld, stalls, stranded = h.janitored, h.syncHeld, h.stalls, h.stranded
		endings = h.endings
		fired = h.fired
		fallbacks = h.fallbacks
		for _, i := range h.inst {
			starts += i.n
		}
	})
	per := map[string]int{}
	var recov []time.Duration
	var down []time.Duration
	beforeRunning := 0
	for _, e := range endings {
		per[e.how]++
		if !e.wasRunning {
			beforeRunning++
		}
		if !e.restartAt.IsZero() && !e.runningAt.IsZero() {
			recov = append(recov, e.runningAt.Sub(e.restartAt))
			down = append(down, e.runningAt.Sub(e.at))
		}
	}
	var hows []string
	for k, v := range per {
		hows = append(hows, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(hows)
	live.mu.Lock()
	stall := live.stall
	live.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s, static a: %v), seed %d\n", h.sc.name, guarantee(h.sc), h.sc.store, h.sc.static, h.seed)
	what := "kills"
	if !h.sc.kills {
		what = "clean stops"
	}
	fmt.Fprintf(&b, "  %s: %d (%s); %d of them before RUNNING; %d incarnations; %d fault arms fell back to a parent's SIGKILL\n",
		what, len(endings), strings.Join(hows, " "), beforeRunning, starts, fallbacks)
	fmt.Fprintf(&b, "  records in: %d over %d keys; outputs read: %d; duplicates: %d; count rewinds: %d\n",
		len(in.keys), len(in.want), rep.outputs, rep.duplicates, rep.rewinds)
	if !h.sc.eos && h.sc.kills {
		fmt.Fprintf(&b, "  at-least-once over-count: %d over %d keys (final count - inputs)\n", rep.overCount, rep.overKeys)
	}
	fmt.Fprintf(&b, "  recovery (restart -> RUNNING): %s; kill -> RUNNING: %s\n", spread(recov), spread(down))
	fmt.Fprintf(&b, "  longest output stall during the chaos: %v\n", stall.Round(time.Millisecond))
	fmt.Fprintf(&b, "  dead group members the broker's janitor removed (kfake bug workaround): %d\n", janitored)
	fmt.Fprintf(&b, "  members removed while the broker's sync hold held their SyncGroup (each a stalled rebalance in kfake alone): %d\n", syncHeld)
	fmt.Fprintf(&b, "  rebalances that lasted %v or more (the broker's %v rebalance cap ends a skewed kfake barrier): %d\n", stallAfter, rebalanceCap, stalls)
	fmt.Fprintf(&b, "  instances left out of a Stable group for %v and restarted (kfake dropped the member; see checkHang): %d\n", strandAfter, stranded)
	fmt.Fprintf(&b, "  wall: %v (%s)", wall.Round(time.Millisecond), strings.Join(phases, ", "))
	_ = fired
	t.Log(b.String())
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	return fmt.Sprintf("min %v median %v max %v (n=%d)", ds[0].Round(time.Millisecond),
		ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}
