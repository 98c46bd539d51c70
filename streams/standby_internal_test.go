package streams

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
)

// appliedProbe reads, at every batch an active restoration writes (on the
// restorer's goroutine), how many records a standby has applied.
type appliedProbe struct {
	m       *metrics
	standby processor.TaskID
	batches atomic.Int64
	applied atomic.Int64 // the most the standby had applied at an active batch
}

func (p *appliedProbe) OnRestoreBatch(RestoreBatch) {
	p.batches.Add(1)
	for _, s := range p.m.standbys() {
		if s.ID == p.standby && s.Applied > p.applied.Load() {
			p.applied.Store(s.Applied)
		}
	}
}

// TestStandbyAddedWhileAnActiveTaskRestoresWaitsUntilItIsRestored proves a
// standby handed to the restorer after an active task's restoration (as an
// assignment does: tasks first, then standbys) applies nothing until the
// active task is restored, then catches up with its changelog.
func TestStandbyAddedWhileAnActiveTaskRestoresWaitsUntilItIsRestored(t *testing.T) {
	const n = 2500 // three write batches per store
	r := restoreFixture(t, true, n)
	active, standby := processor.TaskID{Subtopology: 0}, processor.TaskID{Subtopology: 1}
	probe := &appliedProbe{m: r.metrics, standby: standby}
	r.metrics.hooks.restoreBatch = []hookOf[HookRestoreBatch]{{h: probe, logged: new(atomic.Bool)}}
	xa, sa := restoreInto(t, active, "cl-a")
	xs, ss := restoreInto(t, standby, "cl-b")
	xs.sb = &standbyFeed{}
	r.metrics.standbyOpened(standby)
	r.add(xa)
	r.add(xs)
	awaitRestored(t, r, n, active)
	checkStore(t, sa, n)
	if probe.batches.Load() == 0 {
		t.Fatal("the active restoration reported no batch")
	}
	if got := probe.applied.Load(); got != 0 {
		t.Errorf("the standby applied %d records while the active task restored, want 0", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.metrics.standbys()
		if len(st) == 1 && st[0].Lag == 0 && st[0].Applied == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby not caught up within 30 s: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkStore(t, ss, n)
	for _, res := range r.take() {
		t.Errorf("unexpected result for %s: %+v", res.id, res)
	}
}
