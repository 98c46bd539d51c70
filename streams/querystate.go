package streams

import (
	"context"
	"maps"
	"time"

	"github.com/millrace/millrace/processor"
)

// What the runtime tells the query side (query.go, instancemeta.go): the
// thread calls these at start, on each assignment and revocation, and at
// shutdown. They run on the thread's goroutine and never block on a
// query.

// startQueries publishes what queries need once the cluster is prepared
// and the global stores are restored, and, with an ApplicationServer,
// starts the instance metadata.
func (th *thread) startQueries(ctx context.Context, p *plan) error {
	a := th.a
	a.iq.mu.Lock()
	a.iq.subParts = maps.Clone(p.subParts)
	a.iq.globals = th.globals.views
	a.iq.mu.Unlock()
	if a.cfg.ApplicationServer == "" {
		return nil
	}
	m, err := startInstanceMetadata(ctx, th.clients, th.cfg)
	if err != nil {
		return err
	}
	a.iq.mu.Lock()
	a.iq.meta = m
	a.iq.mu.Unlock()
	return nil
}

// queriesAssigned records the tasks of a new assignment (sorted ids) and
// announces them.
func (th *thread) queriesAssigned(ids []processor.TaskID) {
	a := th.a
	a.iq.mu.Lock()
	a.iq.assigned = make(map[processor.TaskID]bool, len(ids))
	for _, id := range ids {
		a.iq.assigned[id] = true
	}
	m := a.iq.meta
	a.iq.mu.Unlock()
	if m != nil {
		m.announce(ids, a.topo)
	}
}

// queriesRevoked forgets the assignment. The claim stays: until the next
// assignment's, lookups keep pointing here, and queries arriving here
// fail with ErrStoreNotReady meanwhile.
func (th *thread) queriesRevoked() {
	th.a.iq.mu.Lock()
	th.a.iq.assigned = nil
	th.a.iq.mu.Unlock()
}

// stopQueries withdraws the global stores and stops the instance
// metadata; unless the run crashed (a test's kill), the instance's claim
// is deleted from the topic first.
func (th *thread) stopQueries(crashed bool, deadline time.Time) {
	a := th.a
	a.iq.mu.Lock()
	m := a.iq.meta
	a.iq.globals, a.iq.assigned, a.iq.meta = nil, nil, nil
	a.iq.mu.Unlock()
	if m != nil {
		m.close(!crashed, deadline)
	}
}
