package streams_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/streams"
)

// activeTasks returns the tasks an App runs now, and their metrics.
func activeTasks(app *streams.App) map[processor.TaskID]streams.TaskMetrics {
	out := map[processor.TaskID]streams.TaskMetrics{}
	for _, tm := range app.Metrics().Tasks {
		if tm.Active {
			out[tm.ID] = tm
		}
	}
	return out
}

// waitSpread waits until every App is Running with want tasks each.
func waitSpread(t *testing.T, want int, timeout time.Duration, apps ...*running) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, a := range apps {
			if a.app.State() == streams.Error {
				t.Fatalf("App failed: %v", a.stop(t))
			}
			if a.app.State() != streams.Running || len(activeTasks(a.app)) != want {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var got []string
			for _, a := range apps {
				got = append(got, fmt.Sprintf("%s with %d tasks", a.app.State(), len(activeTasks(a.app))))
			}
			t.Fatalf("after %v: %v, want each Running with %d tasks", timeout, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func restoredRecords(tm streams.TaskMetrics) int64 {
	var n int64
	for _, s := range tm.Stores {
		n += s.Restored
	}
	return n
}

// TestTasksThatStayPutAcrossARebalanceReopenNoStoreAndRestoreNothing
// starts two instances of a RocksDB count over six partitions, lets a
// third join, and checks that each task staying on its instance was
// resumed during the join (not opened again, nothing restored) while the tasks moving
// to the newcomer restored their state there; counts after the rebalance
// are exact, so the kept state is the committed state. Under exactly-once
// each key's outputs are exactly 1..n.
func TestTasksThatStayPutAcrossARebalanceReopenNoStoreAndRestoreNothing(t *testing.T) {
	for _, eos := range []bool{false, true} {
		name := "at_least_once"
		if eos {
			name = "exactly_once"
		}
		t.Run(name, func(t *testing.T) {
			c := cluster(t, map[string]int32{"in": 6, "out": 6})
			input := events(12, 200)
			first, second := input[:len(input)/2], input[len(input)/2:]
			produce(t, c.Bootstrap(), "in", first)
			cfg := streams.Config{ApplicationID: "keep-" + name, BootstrapServers: c.Bootstrap(),
				CommitInterval: 100 * time.Millisecond}
			if eos {
				cfg.ProcessingGuarantee = streams.ExactlyOnceV2
			}
			// Static members: range orders them by instance id, so the join
			// of c moves task 2 from a to b and tasks 4 and 5 from b to c,
			// and tasks 0, 1 and 3 stay.
			at := func(id string) streams.Config { c := cfg; c.InstanceID = id; return c }
			a := start(t, countTopology(t, "in", "out", 0), at("a"))
			b := start(t, countTopology(t, "in", "out", 0), at("b"))
			waitSpread(t, 3, 60*time.Second, a, b)
			consumeUntil(t, c.Bootstrap(), "out", eos, 60*time.Second, func(o []consumed) bool { return len(o) >= len(first) }, a, b)
			before := map[*running]map[processor.TaskID]streams.TaskMetrics{a: activeTasks(a.app), b: activeTasks(b.app)}

			n := start(t, countTopology(t, "in", "out", 0), at("c"))
			waitSpread(t, 2, 60*time.Second, a, b, n)
			stayed, moved := 0, 0
			for _, r := range []*running{a, b} {
				for id, tm := range activeTasks(r.app) {
					if _, ok := before[r][id]; !ok {
						moved++
						continue
					}
					stayed++
					was := before[r][id]
					opened, resumed, restored := tm.Opened-was.Opened, tm.Resumed-was.Resumed, restoredRecords(tm)-restoredRecords(was)
					if opened != 0 || resumed != 1 || restored != 0 {
						t.Errorf("task %s stayed on its instance: during the join it was opened %d times, resumed %d times "+
							"and restored %d records; want opened 0 times, resumed once, nothing restored", id, opened, resumed, restored)
					}
				}
			}
			for id, tm := range activeTasks(n.app) {
				moved++
				if tm.Opened != 1 || restoredRecords(tm) == 0 {
					t.Errorf("task %s moved to the new instance: opened %d times, restored %d records; want its state restored there",
						id, tm.Opened, restoredRecords(tm))
				}
			}
			if stayed != 3 || moved != 3 {
				t.Errorf("%d tasks stayed and %d moved, want 3 and 3", stayed, moved)
			}

			produce(t, c.Bootstrap(), "in", second)
			if eos {
				expectEachCountOnce(t, c.Bootstrap(), "out", 90*time.Second, input, n)
				return
			}
			out := consumeUntil(t, c.Bootstrap(), "out", false, 90*time.Second, func(o []consumed) bool {
				last := lastCounts(o)
				for k := range 12 {
					if last[fmt.Sprintf("k%02d", k)] < 200 {
						return false
					}
				}
				return true
			}, a, b, n)
			for k, v := range lastCounts(out) {
				if v != 200 {
					t.Errorf("key %s counted %d, want 200: a rebalance without failures must neither lose nor repeat a record", k, v)
				}
			}
			keys := slices.Collect(func(yield func(string) bool) {
				for k := range lastCounts(out) {
					if !yield(k) {
						return
					}
				}
			})
			if len(keys) != 12 {
				t.Errorf("%d keys counted, want 12", len(keys))
			}
		})
	}
}
