package crashtest

// The broker role's sync hold: a workaround for a kfake bug that leaves a
// consumer group waiting, for the whole rebalance timeout, for a JoinGroup
// that never comes.
//
// The bug (kfake groups.go): g.nJoining counts the members whose JoinGroup
// waits in the join barrier, and a rebalance completes once nJoining reaches
// the member count. In CompletingRebalance kfake parks a follower's
// SyncGroup, until the leader's SyncGroup arrives, in the member's
// waitingReply, the field a waiting JoinGroup uses, without counting it.
// removeMember decrements nJoining whenever waitingReply is set, so removing
// a member whose SyncGroup is parked (session expiry, LeaveGroup, or a
// static member's new incarnation joining with the same group.instance.id,
// whose replaceStaticMember answers the old request without clearing
// waitingReply) leaves nJoining one too low. The next rebalance then waits
// for one JoinGroup more than there are members, i.e. for the largest
// rebalance timeout (librdkafka's max.poll.interval.ms, 5 minutes for the
// Apps), with every member in REBALANCING. The crash suite kills Apps right
// after their SyncGroup, so it hit this.
//
// The hold: a control function on SyncGroup keeps a follower's SyncGroup
// (one without assignments) out of kfake while the group is in
// CompletingRebalance at the request's generation, i.e. while kfake would
// park it, and hands it to kfake once the group has left that state: after
// the leader's SyncGroup (kfake then answers with the assignment, as it
// would have) or after another rebalance started (kfake answers
// REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, as the
// client's state requires). kfake thus never has a member waiting on a
// SyncGroup, and removing a member cannot skew its count. A client sees no
// difference: kfake mutes a connection while one of its requests is parked
// and while a control function sleeps on it alike, the answer comes after
// the leader's SyncGroup either way, and the follower's session timer runs
// in both cases (kfake does not reset it on a SyncGroup). Nothing is
// answered or timed out in kfake's place, so a hang of a live App still
// shows. The one difference: kfake's pending-sync timer, at the rebalance
// timeout, also removes held followers, not only members that never sent a
// SyncGroup; by then the group has stalled for 5 minutes anyway.
//
// The leader is told apart by its assignments: librdkafka's leader sends
// one per member, a follower none. MILLRACE_CRASH_NO_SYNC_HOLD=1 turns the
// hold off; TestKfakeStallsRebalanceAfterRemovingFollowerWaitingInSync
// shows the bug on its own.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const envNoSyncHold = "MILLRACE_CRASH_NO_SYNC_HOLD" // broker: set to run without the sync hold

// syncHoldPoll is how often a held SyncGroup checks whether the group has
// left CompletingRebalance; it bounds the delay the hold adds to a
// follower's answer.
const syncHoldPoll = 2 * time.Millisecond

// heldSync is one SyncGroup the sync hold held.
type heldSync struct {
	group, member string
	generation    int32
	held          time.Duration
	// removed is set when the member left the group while held: kfake
	// alone would have stalled the next rebalance.
	removed bool
}

// holdFollowerSyncs installs the sync hold on c. released, if not nil, is
// called for each held SyncGroup as it goes to kfake. The hold stops
// holding when ctx ends; cancel ctx before closing c (kfake's GroupInfo
// blocks once c is closed).
func holdFollowerSyncs(ctx context.Context, c *kfake.Cluster, released func(heldSync)) {
	// The control never handles a request (it returns handled=false), so
	// kfake keeps it without KeepControl.
	c.ControlKey(int16(kmsg.SyncGroup), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req, ok := kreq.(*kmsg.SyncGroupRequest)
		if !ok || len(req.GroupAssignment) > 0 || ctx.Err() != nil ||
			!awaitsLeaderSync(c.GroupInfo(req.Group), req.Generation) {
			return nil, nil, false
		}
		start := time.Now()
		c.SleepControl(func() {
			tick := time.NewTicker(syncHoldPoll)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if !awaitsLeaderSync(c.GroupInfo(req.Group), req.Generation) {
					return
				}
			}
		})
		if released != nil && ctx.Err() == nil {
			released(heldSync{group: req.Group, member: req.MemberID, generation: req.Generation, held: time.Since(start),
				removed: !hasMember(c.GroupInfo(req.Group), req.MemberID)})
		}
		return nil, nil, false
	})
}

// awaitsLeaderSync reports whether kfake would park a follower's SyncGroup
// of generation gen: the group is in CompletingRebalance at that generation
// (for a classic group, GroupInfo's Epoch is the generation).
func awaitsLeaderSync(gi *kfake.GroupInfo, gen int32) bool {
	return gi != nil && gi.State == "CompletingRebalance" && gi.Epoch == gen
}
