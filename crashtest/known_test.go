package crashtest

// Runtime issues the crash suite found, kept as tests of their fixes.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// runOne starts the broker and instance a alone, feeds it the input and
// waits for every result.
func runOne(t *testing.T, h *harness, in *input, d time.Duration) {
	t.Helper()
	h.startBroker()
	h.do(func() { h.start(h.inst[0], arm{}) })
	h.waitFor(90*time.Second, "a RUNNING", func() bool { return h.inst[0].cur != nil && h.inst[0].cur.state == "RUNNING" }, h.status)
	live, err := startLiveReader(h.bootstrap, h.sc.eos)
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	if err := produceInput(context.Background(), h.bootstrap, in, d, nil); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, h, live, in)
}

var restoredRecords = regexp.MustCompile(`task state restored.*"records": (\d+)`)

// restored sums the records a process's log says it restored.
func restored(t *testing.T, logPath string) int {
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range restoredRecords.FindAllSubmatch(b, -1) {
		v, _ := strconv.Atoi(string(m[1]))
		n += v
	}
	return n
}

// A clean close of a task that wrote nothing to its changelog in that run
// (it was restored, then nothing came) keeps the offset its store was
// restored to as its checkpoint: it once wrote an empty one (the producer
// knew no changelog offset for it), so the next start wiped the store and
// restored it from the changelog's start (exactly-once) or replayed the
// whole changelog over it (at-least-once).
func TestCleanCloseWithoutWritesKeepsTheCheckpoint(t *testing.T) {
	for _, eos := range []bool{true, false} {
		sc := scenario{name: "checkpoint-" + guarantee(scenario{eos: eos}), eos: eos, store: "rocksdb", keys: 100, records: 3000}
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, sc, 1)
			in := makeInput(h.rng, sc.keys, sc.records)
			runOne(t, h, in, time.Second)
			var a *child
			h.do(func() { h.phase = phaseFinal; a = h.inst[0].cur.c; a.stop() })
			stopChild(t, h, a)
			for i := 1; i <= 2; i++ { // nothing to process: each run only restores and closes
				name := fmt.Sprintf("dump%d", i)
				runDumper(t, h, name, h.inst[0].stateDir)
				if n := restored(t, filepath.Join(h.dir, name+".log")); n > 0 {
					t.Errorf("run %d on a's state directory restored %d records; its stores were up to date and closed cleanly", i, n)
				}
			}
		})
	}
}

// Under exactly-once, an instance killed with a transaction open and not
// restarted holds read_committed readers of the partitions it wrote to
// until the broker aborts the transaction: the producer's
// transaction.timeout.ms, 10 s as in Kafka Streams (it was 60 s). The other
// instance takes over within the session timeout and a rebalance, and its
// results become readable once the transaction is aborted.
func TestKilledInstanceHoldsReadCommittedOnlyForTheTransactionTimeout(t *testing.T) {
	sc := scenario{name: "txn-timeout", eos: true, store: "rocksdb", keys: 200, records: 20_000}
	h := newHarness(t, sc, 1)
	in := makeInput(h.rng, sc.keys, sc.records)
	h.startBroker()
	live, err := startLiveReader(h.bootstrap, true)
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	// The input flows for 8 s, so that a's transaction holds results when
	// it dies, 3 s (30 commits) into its run.
	produced := make(chan error, 1)
	go func() { produced <- produceInput(context.Background(), h.bootstrap, in, 8*time.Second, nil) }()
	var a *incarnation
	h.do(func() {
		h.phase = phaseFinal // nothing restarts
		h.start(h.inst[0], arm{kind: armFault, point: "commit.offsets-sent", n: 30})
		h.start(h.inst[1], arm{})
		a = h.inst[0].cur
	})
	h.waitFor(60*time.Second, "a to kill itself with a transaction open", func() bool { return !a.c.alive() }, h.status)
	var fault string
	h.do(func() { fault = a.fault })
	if !a.c.killed() || fault == "" {
		t.Fatalf("a ended (%s), not at its fault point:\n%s", a.c.exitDescription(), logTail(a.c.logPath, 20))
	}
	killed := a.c.exitAt
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	inputEnd := time.Since(killed)
	const bound = 30 * time.Second
	deadline := killed.Add(bound)
	for {
		h.check()
		n, some := live.missing(in.want)
		if n == 0 {
			t.Logf("every result readable %v after the kill (the input ended %v after it)",
				time.Since(killed).Round(time.Millisecond), inputEnd.Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still lack their last result %v after a was killed (e.g. %v): the dead instance's open transaction holds read_committed readers",
				n, bound, some)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
