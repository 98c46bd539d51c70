package streams

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/placement"
	"github.com/millrace/millrace/processor"
)

// Standby placement without a custom assignor (StandbyReplicas 1 or 2).
//
// librdkafka runs no custom assignor, so the App cannot tell the group
// where standbys are: it predicts the range assignment instead
// (internal/placement). Every instance reads the group's membership
// (DescribeConsumerGroups, on a goroutine of its own: after every
// assignment and every membershipEvery), sorts the members by instance id
// (static members) or member id, and keeps standbys of the tasks it would
// inherit: k = 1, those whose owner's departure gives them to this
// instance (its Successor), which is also where any single departure moves
// a task; k = 2, the tasks of both its neighbours in the order, which also
// covers the tasks a join moves between members already there.
//
// A wrong prediction only costs restore time: a task always restores from
// its local checkpoint, or its changelog's start, to its changelog's end
// before it runs. Each instance checks its own assignment against the
// prediction whenever the group is Stable and the App Running; a mismatch
// that lasts (rack-aware assignment, a rolling change of topology, a
// broker whose range differs) is logged once per membership and counted in
// Metrics.PlacementMismatches. A mix of static and dynamic members has no
// predictable order: the standbys held then stay as they are.
//
// The seam: standbySource is where the wanted standbys come from. Range
// prediction is the one source on this stack; KIP-1071's streams groups
// (the broker assigns actives and standbys itself) would be another,
// leaving the standby lifecycle (standby.go) as it is.
type standbySource interface {
	// wanted returns the tasks this instance should hold standbys of (those
	// it runs are left out by the caller); ok is false while it does not
	// know, and the standbys held stay as they are.
	wanted() (tasks map[processor.TaskID]bool, ok bool)
	// refresh asks for the placement to be read again (after an
	// assignment); it never blocks.
	refresh()
	close()
}

// membershipEvery is how often the group's membership is read, besides
// after every assignment: under the consumer protocol an instance whose
// own assignment does not change gets no callback when others join or
// leave.
const membershipEvery = 5 * time.Second

// rangeStandbys predicts the range assignment from the group's membership.
type rangeStandbys struct {
	th     *thread
	k      int
	admin  *kafka.AdminClient
	latest atomic.Pointer[placement.Membership]
	poke   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	// The runtime goroutine's own: a mismatch seen (membership and
	// assignment) and since when, and the last one reported. A mismatch
	// is reported once it lasted membershipEvery: while a rebalance
	// settles, the membership read and the assignment can be from
	// different generations.
	seen      string
	seenSince time.Time
	warnedFor string
}

func newRangeStandbys(th *thread, k int) (*rangeStandbys, error) {
	admin, err := kafka.NewAdminClientFromConsumer(th.cons)
	if err != nil {
		return nil, fmt.Errorf("streams: standby placement: admin client: %w", err)
	}
	rs := &rangeStandbys{th: th, k: k, admin: admin, poke: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
	go rs.watch()
	return rs, nil
}

// watch reads the membership after each poke and every membershipEvery.
func (rs *rangeStandbys) watch() {
	defer close(rs.done)
	tick := time.NewTicker(membershipEvery)
	defer tick.Stop()
	failed := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), membershipEvery)
		m, err := describeMembership(ctx, rs.admin, rs.th.cfg.ApplicationID)
		cancel()
		switch {
		case err != nil && !failed:
			rs.th.logger.Warn("reading the group's membership for standby placement (retried)", zap.Error(err))
			failed = true
		case err == nil:
			failed = false
			rs.latest.Store(&m)
		}
		select {
		case <-rs.stop:
			return
		case <-rs.poke:
		case <-tick.C:
		}
	}
}

// refreshPlacement asks the placement source to read the group again
// (after an assignment).
func (th *thread) refreshPlacement() {
	if th.standbySource != nil {
		th.standbySource.refresh()
	}
}

// refresh asks for a new reading (after an assignment).
func (rs *rangeStandbys) refresh() {
	select {
	case rs.poke <- struct{}{}:
	default:
	}
}

func (rs *rangeStandbys) close() {
	close(rs.stop)
	<-rs.done
	rs.admin.Close()
}

// selfKey is this instance's key in the order: its instance id, or its
// member id, found by its client id (unique per instance: it carries the
// process id).
func (rs *rangeStandbys) selfKey(m *placement.Membership) (placement.Member, bool) {
	if id := rs.th.cfg.InstanceID; id != "" {
		return placement.Member{Key: id}, true
	}
	var found []string
	for _, d := range m.Members {
		if d.ClientID == rs.th.clients.mainClientID {
			found = append(found, d.MemberID)
		}
	}
	if len(found) != 1 {
		return placement.Member{}, false
	}
	return placement.Member{Key: found[0]}, true
}

func (rs *rangeStandbys) wanted() (map[processor.TaskID]bool, bool) {
	m := rs.latest.Load()
	if m == nil || len(m.Members) == 0 {
		return nil, false
	}
	keys, predictable, err := m.Keys()
	if err != nil || !predictable {
		return nil, false
	}
	self, ok := rs.selfKey(m)
	if !ok || !slices.Contains(keys, self) {
		return nil, false // not (yet) in the membership read
	}
	out := map[processor.TaskID]bool{}
	subs := rs.th.tasks.plan.statefulSubtopologies()
	for _, sub := range subs {
		g, err := placement.NewGroup(keys, int(rs.th.tasks.plan.subParts[sub]))
		if err != nil {
			return nil, false
		}
		parts, err := g.Standbys(self, rs.k)
		if err != nil {
			return nil, false
		}
		for _, p := range parts {
			out[processor.TaskID{Subtopology: sub, Partition: p}] = true
		}
	}
	rs.check(m, keys, self, subs)
	return out, true
}

// check compares this instance's own tasks with the prediction, once the
// group is Stable and the App Running.
func (rs *rangeStandbys) check(m *placement.Membership, keys []placement.Member, self placement.Member, subs []int) {
	th := rs.th
	if m.State != placement.StateStable || th.a.State() != Running {
		return
	}
	var want, got []string
	for _, sub := range subs {
		g, err := placement.NewGroup(keys, int(th.tasks.plan.subParts[sub]))
		if err != nil {
			return
		}
		for _, p := range g.Owns(self) {
			want = append(want, processor.TaskID{Subtopology: sub, Partition: p}.String())
		}
	}
	for id := range th.tasks.runners {
		if slices.Contains(subs, id.Subtopology) {
			got = append(got, id.String())
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if slices.Equal(want, got) {
		rs.seen = ""
		return
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Key)
	}
	key := strings.Join(names, ",") + "|" + strings.Join(got, ",")
	if key != rs.seen {
		rs.seen, rs.seenSince = key, time.Now()
		return
	}
	if key == rs.warnedFor || time.Since(rs.seenSince) < membershipEvery {
		return
	}
	rs.warnedFor = key
	th.a.m.placementMismatch()
	th.logger.Warn("the group's assignment differs from the range prediction standbys are placed by: "+
		"standbys may not be where the tasks go, which costs restore time only",
		zap.Strings("members", names), zap.Strings("predicted", want), zap.Strings("assigned", got))
}
