package crashtest

// The broker role's sync hold: a workaround for a kfake bug that leaves a
// consumer group waiting, for the whole rebalance timeout, for a JoinGroup
// that never comes.
//
// The bug (kfake groups.go): g.nJoining counts the members whose JoinGroup
// waits in the join barrier, and a rebalance completes once nJoining reaches
// the member count. In CompletingRebalance kfake parks every SyncGroup but
// the leader's, until the leader's arrives, in the member's waitingReply,
// the field a waiting JoinGroup uses, without counting it. removeMember
// decrements nJoining whenever waitingReply is set, so removing a member
// whose SyncGroup is parked (session expiry, LeaveGroup, or a static
// member's new incarnation joining with the same group.instance.id, whose
// replaceStaticMember answers the old request without clearing
// waitingReply) leaves nJoining one too low. The next rebalance then waits
// for one JoinGroup more than there are members, i.e. for the largest
// rebalance timeout (librdkafka's max.poll.interval.ms, 5 minutes for the
// Apps), with every member in REBALANCING. The crash suite kills Apps right
// after their SyncGroup, so it hit this.
//
// Not only followers get parked: when the previous leader did not rejoin,
// kfake's completeRebalance names each member the leader in its own
// JoinGroup response (it picks the leader inside the loop that fills the
// responses), so every member assigns and sends a SyncGroup with
// assignments, and kfake parks all but the last one's.
//
// The hold: a control function on SyncGroup keeps each SyncGroup that kfake
// would park (the group is in CompletingRebalance at the request's
// generation and the sender is not the leader) out of kfake, and hands it to
// kfake once the group has left that state: after the leader's SyncGroup
// (kfake then answers with the assignment, as it would have) or after
// another rebalance started (kfake answers REBALANCE_IN_PROGRESS,
// UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, as the sender's state requires).
// The leader's SyncGroup goes to kfake as soon as the hold has learnt that
// its sender leads (below; one round trip). kfake thus never has a member
// waiting on a SyncGroup, and removing a member cannot skew its count. A
// client sees no difference: kfake mutes a connection while one of
// its requests is parked and while a control function sleeps on it alike,
// the answer comes after the leader's SyncGroup either way, and the
// sender's session timer runs in both cases (kfake does not reset it on a
// SyncGroup). Nothing is answered or timed out in kfake's place, so a hang
// of a live App still shows. The one difference: kfake's pending-sync
// timer, at the rebalance timeout, also removes held members, not only
// members that never sent a SyncGroup; by then the group has stalled for 5
// minutes anyway.
//
// Which member leads: GroupInfo does not say, and the JoinGroup responses
// may all claim it, so the hold asks kfake. A JoinGroup from a member in
// CompletingRebalance with the same protocols as its last one is answered
// at once, read-only, with the generation's true leader; the hold sends
// such a probe on behalf of the member whose SyncGroup it holds (copied from
// that member's last JoinGroup, which it records), once per generation. A
// client sends no JoinGroup while its SyncGroup waits. Should the group leave CompletingRebalance just
// before kfake handles the probe, the probe counts as that member's rejoin;
// the member's own JoinGroup, after kfake answers its SyncGroup with
// REBALANCE_IN_PROGRESS, then takes its place, as a resent JoinGroup would.
// A SyncGroup whose leader the hold cannot learn (no recorded JoinGroup, or
// the probe fails) goes to kfake at once, as without the hold.
//
// MILLRACE_CRASH_NO_SYNC_HOLD=1 turns the hold off;
// TestKfakeStallsRebalanceAfterRemovingMemberWaitingInSync shows the bug on
// its own, TestKfakeNamesEveryMemberLeaderWhenTheLeaderLeft the leaders.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const envNoSyncHold = "MILLRACE_CRASH_NO_SYNC_HOLD" // broker: set to run without the sync hold

const (
	// syncHoldPoll is how often a held SyncGroup checks whether the group
	// has left CompletingRebalance; it bounds the delay the hold adds to
	// an answer.
	syncHoldPoll = 2 * time.Millisecond
	// probeTimeout bounds a leader probe. kfake answers one at once
	// unless the group has just left CompletingRebalance.
	probeTimeout = time.Second
)

// heldSync is one SyncGroup the sync hold held.
type heldSync struct {
	group, member string
	generation    int32
	held          time.Duration
	leader        bool  // the sender leads the generation: its SyncGroup went to kfake once the probe said so
	probeErr      error // why the hold could not learn the leader (the SyncGroup went to kfake at once)
	// removed is set when the member left the group while held: kfake
	// alone would have stalled the next rebalance.
	removed bool
}

// syncHold is the state of the sync hold on one cluster.
type syncHold struct {
	c        *kfake.Cluster
	ctx      context.Context
	probe    *kgo.Client
	released func(heldSync)

	mu      sync.Mutex
	joins   map[string]*kmsg.JoinGroupRequest // each member's last JoinGroup, by member id and by "instance " + instance id
	leaders map[string]leaderAt               // by group
}

// leaderAt is the leader kfake named for a generation.
type leaderAt struct {
	generation int32
	member     string
}

// installSyncHold installs the sync hold on c. released, if not nil, is
// called for each held SyncGroup as it goes to kfake. The hold stops
// holding when ctx ends; cancel ctx before closing c (kfake's GroupInfo
// blocks once c is closed).
func installSyncHold(ctx context.Context, c *kfake.Cluster, released func(heldSync)) error {
	probe, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return fmt.Errorf("sync hold: the probe's client: %w", err)
	}
	context.AfterFunc(ctx, probe.Close)
	h := &syncHold{c: c, ctx: ctx, probe: probe, released: released,
		joins: map[string]*kmsg.JoinGroupRequest{}, leaders: map[string]leaderAt{}}
	// Neither control handles a request (both return handled=false), so
	// kfake keeps them without KeepControl.
	c.ControlKey(int16(kmsg.JoinGroup), h.recordJoin)
	c.ControlKey(int16(kmsg.SyncGroup), h.holdSync)
	return nil
}

func (h *syncHold) recordJoin(kreq kmsg.Request) (kmsg.Response, error, bool) {
	req, ok := kreq.(*kmsg.JoinGroupRequest)
	if !ok {
		return nil, nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.MemberID == "" {
		// A new member, or a group made anew: generations may repeat.
		delete(h.leaders, req.Group)
	} else {
		h.joins[req.MemberID] = req
	}
	if req.InstanceID != nil {
		h.joins["instance "+*req.InstanceID] = req
	}
	return nil, nil, false
}

func (h *syncHold) holdSync(kreq kmsg.Request) (kmsg.Response, error, bool) {
	req, ok := kreq.(*kmsg.SyncGroupRequest)
	if !ok || h.ctx.Err() != nil || !awaitsLeaderSync(h.c.GroupInfo(req.Group), req.Generation) {
		return nil, nil, false
	}
	start := time.Now()
	var leader, probed bool
	var probeErr error
	h.c.SleepControl(func() { // kfake serves other connections meanwhile, the probe's too
		tick := time.NewTicker(syncHoldPoll)
		defer tick.Stop()
		for {
			if !probed {
				var l string
				l, probeErr = h.leaderOf(req)
				if probeErr != nil || l == req.MemberID {
					leader = probeErr == nil
					return
				}
				probed = true
			}
			select {
			case <-h.ctx.Done():
				return
			case <-tick.C:
			}
			if !awaitsLeaderSync(h.c.GroupInfo(req.Group), req.Generation) {
				return
			}
		}
	})
	if h.released != nil && h.ctx.Err() == nil {
		h.released(heldSync{group: req.Group, member: req.MemberID, generation: req.Generation, held: time.Since(start),
			leader: leader, probeErr: probeErr, removed: !hasMember(h.c.GroupInfo(req.Group), req.MemberID)})
	}
	return nil, nil, false
}

// leaderOf returns the leader kfake named for req's group and generation,
// probing on behalf of req's sender unless an earlier probe told.
func (h *syncHold) leaderOf(req *kmsg.SyncGroupRequest) (string, error) {
	h.mu.Lock()
	if l, ok := h.leaders[req.Group]; ok && l.generation == req.Generation {
		h.mu.Unlock()
		return l.member, nil
	}
	last := h.joins[req.MemberID]
	if last == nil && req.InstanceID != nil {
		last = h.joins["instance "+*req.InstanceID]
	}
	h.mu.Unlock()
	if last == nil {
		return "", errors.New("no JoinGroup of the member recorded")
	}
	p := kmsg.NewPtrJoinGroupRequest()
	p.Group, p.MemberID, p.InstanceID = req.Group, req.MemberID, req.InstanceID
	p.SessionTimeoutMillis, p.RebalanceTimeoutMillis = last.SessionTimeoutMillis, last.RebalanceTimeoutMillis
	p.ProtocolType, p.Protocols = last.ProtocolType, last.Protocols
	ctx, cancel := context.WithTimeout(h.ctx, probeTimeout)
	defer cancel()
	resp, err := p.RequestWith(ctx, h.probe)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return "", fmt.Errorf("leader probe for member %s: %w", req.MemberID, err)
	}
	if resp.Generation != req.Generation {
		return "", fmt.Errorf("leader probe for member %s: generation %d, the SyncGroup's is %d", req.MemberID, resp.Generation, req.Generation)
	}
	h.mu.Lock()
	h.leaders[req.Group] = leaderAt{resp.Generation, resp.LeaderID}
	h.mu.Unlock()
	return resp.LeaderID, nil
}

// awaitsLeaderSync reports whether kfake parks a non-leader's SyncGroup of
// generation gen: the group is in CompletingRebalance at that generation
// (for a classic group, GroupInfo's Epoch is the generation).
func awaitsLeaderSync(gi *kfake.GroupInfo, gen int32) bool {
	return gi != nil && gi.State == "CompletingRebalance" && gi.Epoch == gen
}
