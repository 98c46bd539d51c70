package crashtest

// The broker role's group watcher: it logs every change of a watched
// group's state, generation and members to the broker's log, and reports a
// rebalance that lasts longer than stallAfter to the parent, which counts
// them in the run's figures. It changes nothing in the broker; it is there
// so that a hang's report shows what the group coordinator was doing, and
// so that the rebalances the bounded rebalance timeout ended (below) are
// counted rather than silent.
//
// The rebalance cap: the broker role lowers every JoinGroup's rebalance
// timeout to rebalanceCap before kfake sees it (the Apps send librdkafka's
// max.poll.interval.ms, at least 5 minutes). kfake's join barrier counts
// its joining members in a counter that more than one path can skew (the
// sync hold and the janitor remove the two found so far; see
// synchold_test.go and janitor_test.go). A skewed barrier waits for the
// largest rebalance timeout of its members, and at 5 minutes both Apps sit
// in REBALANCING long past the hang detector's 60 s. Capped, the barrier
// completes with the members that did join, as kfake's own timer does, and
// the others rejoin; the watcher reports each such stall and the run's
// figures count them. The clients are unchanged: librdkafka still polls
// and times out as configured, so an App stuck out of RUNNING still trips
// the hang detector. MILLRACE_CRASH_NO_REBALANCE_CAP=1 turns the cap off.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// capRebalanceTimeouts has kfake see at most limit as the rebalance
// timeout of every later JoinGroup.
func capRebalanceTimeouts(c *kfake.Cluster, limit time.Duration) {
	ms := int32(limit.Milliseconds())
	c.ControlKey(int16(kmsg.JoinGroup), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if req, ok := kreq.(*kmsg.JoinGroupRequest); ok && req.RebalanceTimeoutMillis > ms {
			req.RebalanceTimeoutMillis = ms
		}
		return nil, nil, false // kfake handles the request, as changed
	})
}

const envNoRebalanceCap = "MILLRACE_CRASH_NO_REBALANCE_CAP" // broker: set to keep the members' own rebalance timeouts

const (
	// rebalanceCap is the largest rebalance timeout the broker role lets
	// kfake see.
	rebalanceCap = 20 * time.Second
	// stallAfter is how long a rebalance may take before the watcher
	// reports it: far above a healthy one (well under a second here) and
	// below the rebalance timeout, so a barrier the timeout ends is
	// reported.
	stallAfter     = 10 * time.Second
	groupWatchPoll = 50 * time.Millisecond
)

// groupView is what the watcher compares between polls.
type groupView struct {
	state      string
	generation int32
	members    string // member ids (with instance ids) and assignment sizes
}

func viewOf(gi *kfake.GroupInfo) groupView {
	if gi == nil {
		return groupView{state: "none"}
	}
	var ms []string
	for _, m := range gi.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id += " (instance " + *m.InstanceID + ")"
		}
		ms = append(ms, fmt.Sprintf("%s: %d partitions", id, m.NumAssigned()))
	}
	slices.Sort(ms)
	return groupView{state: gi.State, generation: gi.Epoch, members: strings.Join(ms, "; ")}
}

func rebalancing(state string) bool {
	return state == "PreparingRebalance" || state == "CompletingRebalance"
}

// watchGroups polls the groups until ctx ends. changed is called on every
// change of a group's state, generation or members; stalled once per
// rebalance that has lasted stallAfter.
func watchGroups(ctx context.Context, c *kfake.Cluster, groups []string, changed func(group string, v groupView, n int),
	stalled func(group string, v groupView, d time.Duration)) {
	last := map[string]groupView{}
	since := map[string]time.Time{} // when the group's current rebalance began
	reported := map[string]bool{}
	tick := time.NewTicker(groupWatchPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, g := range groups {
			gi := c.GroupInfo(g)
			v := viewOf(gi)
			if ctx.Err() != nil {
				return
			}
			if v != last[g] {
				fmt.Fprintf(os.Stderr, "%s group %s: %s, generation %d, members [%s]\n",
					time.Now().Format(time.RFC3339Nano), g, v.state, v.generation, v.members)
				last[g] = v
				n := 0
				if gi != nil {
					n = len(gi.Members)
				}
				changed(g, v, n)
			}
			if !rebalancing(v.state) {
				delete(since, g)
				reported[g] = false
				continue
			}
			if _, ok := since[g]; !ok {
				since[g] = time.Now()
			}
			if d := time.Since(since[g]); d >= stallAfter && !reported[g] {
				reported[g] = true
				stalled(g, v, d)
			}
		}
	}
}
