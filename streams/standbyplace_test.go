package streams_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/streams"
)

func taskIDs(ps ...int32) []processor.TaskID {
	var out []processor.TaskID
	for _, p := range ps {
		out = append(out, processor.TaskID{Subtopology: 0, Partition: p})
	}
	return out
}

// TestOneStandbyOnEachTasksSuccessorCoversTheMovesOfACrash runs three
// static instances a, b, c with StandbyReplicas 1 over six partitions.
// Range gives a {0,1}, b {2,3}, c {4,5}; each task's successor (its owner
// once the owner leaves) is b for 0, 1, 4, 5, a for 2 and c for 3, and
// each instance must keep exactly those standbys (predicted = observed).
// Then a crashes: range over b, c gives b {0,1,2} and c {3,4,5}, so tasks
// 0 and 1 move from the dead a to b, and task 3 moves between survivors,
// from b to c. With input stopped, every moved task restores nothing: each
// landed on its standby. The counts afterwards are complete. Both group
// protocols: librdkafka's classic range and the broker's (KIP-848).
func TestOneStandbyOnEachTasksSuccessorCoversTheMovesOfACrash(t *testing.T) {
	for _, protocol := range []streams.GroupProtocol{streams.ClassicProtocol, streams.ConsumerProtocol} {
		t.Run(string(protocol), func(t *testing.T) { successorFailover(t, protocol) })
	}
}

func successorFailover(t *testing.T, protocol streams.GroupProtocol) {
	const partitions, keys, rounds = 6, 300, 20
	c := kip848Cluster(t, map[string]int32{"in": partitions, "out": partitions}, 100*time.Millisecond)
	cfg := streams.Config{ApplicationID: "successor", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
		StandbyReplicas: 1, GroupProtocol: protocol}
	apps := map[string]*running{}
	for _, id := range []string{"a", "b", "c"} {
		x := cfg
		x.InstanceID = id
		apps[id] = start(t, standbyCount(t), x)
	}
	a, b, n := apps["a"], apps["b"], apps["c"]
	wantActive := map[string][]processor.TaskID{"a": taskIDs(0, 1), "b": taskIDs(2, 3), "c": taskIDs(4, 5)}
	wantStandby := map[string][]processor.TaskID{"a": taskIDs(2), "b": taskIDs(0, 1, 4, 5), "c": taskIDs(3)}
	waitUntil(t, 60*time.Second, "range places the tasks and the successors hold their standbys", func() (bool, string) {
		var why []string
		for _, id := range []string{"a", "b", "c"} {
			act, sb := apps[id].app.LocalTasks(), apps[id].app.StandbyTasks()
			if !slices.Equal(act, wantActive[id]) || !slices.Equal(sb, wantStandby[id]) {
				why = append(why, fmt.Sprintf("%s runs %v with standbys %v, want %v with %v", id, act, sb, wantActive[id], wantStandby[id]))
			}
		}
		return len(why) == 0, fmt.Sprint(why)
	})
	var recs []kv
	for r := range rounds {
		for k := range keys {
			recs = append(recs, kv{fmt.Sprintf("k%d", k), "x", int64(1000 + r)})
		}
	}
	produce(t, c.Bootstrap(), "in", recs)
	all := countsReach(keys, rounds)
	if !all(consumeUntil(t, c.Bootstrap(), "out", false, 120*time.Second, all, a, b, n)) {
		t.Fatalf("not every key counted %d within 120s", rounds)
	}
	for range 2 {
		for _, id := range []string{"a", "b", "c"} {
			waitUntil(t, 60*time.Second, id+"'s standbys catch up", func() (bool, string) {
				return caughtUp(apps[id].app, len(wantStandby[id]))
			})
		}
		time.Sleep(400 * time.Millisecond) // spacing between the two checks, not synchronisation
	}
	for _, id := range []string{"a", "b", "c"} {
		if m := apps[id].app.Metrics().PlacementMismatches; m != 0 {
			t.Errorf("%s counted %d placement mismatches, want 0: the assignment is the predicted one", id, m)
		}
	}
	if protocol == streams.ConsumerProtocol {
		// The embedded broker never expires a static KIP-848 member that
		// left (it stops the session timer of a static leave, which a
		// stopping App sends), so a crash moves nothing there; a real
		// broker reassigns after the session timeout. The placement
		// itself is checked above.
		return
	}
	beforeB, beforeC := restoredByTask(b.app), restoredByTask(n.app)
	must(t, streams.Crash(a.app))
	waitUntil(t, 60*time.Second, "b and c take over", func() (bool, string) {
		gotB, gotC := b.app.LocalTasks(), n.app.LocalTasks()
		return slices.Equal(gotB, taskIDs(0, 1, 2)) && slices.Equal(gotC, taskIDs(3, 4, 5)) &&
				b.app.State() == streams.Running && n.app.State() == streams.Running,
			fmt.Sprintf("b runs %v, c runs %v", gotB, gotC)
	})
	afterB, afterC := restoredByTask(b.app), restoredByTask(n.app)
	for _, m := range []struct {
		id       processor.TaskID
		on       string
		from     string
		restored int64
	}{
		{taskIDs(0)[0], "b", "a (crashed)", afterB[taskIDs(0)[0]] - beforeB[taskIDs(0)[0]]},
		{taskIDs(1)[0], "b", "a (crashed)", afterB[taskIDs(1)[0]] - beforeB[taskIDs(1)[0]]},
		{taskIDs(3)[0], "c", "b (a survivor)", afterC[taskIDs(3)[0]] - beforeC[taskIDs(3)[0]]},
	} {
		t.Logf("task %s moved from %s to %s and restored %d records", m.id, m.from, m.on, m.restored)
		if m.restored != 0 {
			t.Errorf("task %s moved from %s to %s, which kept a caught-up standby of it, and restored %d records; want 0",
				m.id, m.from, m.on, m.restored)
		}
	}
	from := endOffsets(t, c.Bootstrap(), "out", partitions)
	var more []kv
	for k := range keys {
		more = append(more, kv{fmt.Sprintf("k%d", k), "x", int64(5000)})
	}
	produce(t, c.Bootstrap(), "in", more)
	out := consumeFrom(t, c.Bootstrap(), "out", from, false, 90*time.Second, countsReach(keys, rounds+1), b, n)
	got := lastCounts(out)
	for k := range keys {
		if v := got[fmt.Sprintf("k%d", k)]; v < rounds+1 {
			t.Errorf("k%d counts %d after the failover, want at least %d", k, v, rounds+1)
		}
	}
}

// TestStandbyReplicasAbove2IsAConfigError: range placement gives each
// task two places to go at most.
func TestStandbyReplicasAbove2IsAConfigError(t *testing.T) {
	err := newErr(t, standbyCount(t), streams.Config{ApplicationID: "x", BootstrapServers: "localhost:1", StandbyReplicas: 3})
	if err == nil {
		t.Fatal("StandbyReplicas 3 accepted")
	}
}
