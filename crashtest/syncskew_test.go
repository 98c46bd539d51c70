package crashtest

// The kfake bug the broker role's sync hold works around (synchold_test.go),
// reproduced with raw group requests against an in-process kfake, and the
// hold's effect on it.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// seenReq is a JoinGroup or SyncGroup as kfake received it.
type seenReq struct {
	key      kmsg.Key
	member   string
	instance string
}

// requestLog records the JoinGroup and SyncGroup requests kfake receives.
// Its control functions run before kfake handles a request, and kfake
// reads no other request until it has, so a request sent after waitFor
// saw one is handled after it.
type requestLog struct {
	mu   sync.Mutex
	reqs []seenReq
}

// logGroupRequests installs a requestLog on c. Install it before the sync
// hold: a control function after a sleeping one runs only when it wakes.
func logGroupRequests(c *kfake.Cluster) *requestLog {
	l := &requestLog{}
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup} {
		c.ControlKey(int16(k), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			var s seenReq
			switch r := kreq.(type) {
			case *kmsg.JoinGroupRequest:
				s = seenReq{kmsg.JoinGroup, r.MemberID, deref(r.InstanceID)}
			case *kmsg.SyncGroupRequest:
				s = seenReq{kmsg.SyncGroup, r.MemberID, deref(r.InstanceID)}
			}
			l.mu.Lock()
			l.reqs = append(l.reqs, s)
			l.mu.Unlock()
			return nil, nil, false
		})
	}
	return l
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// waitFor waits until a request from index since on matches.
func (l *requestLog) waitFor(t *testing.T, since int, what string, match func(seenReq) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		for _, r := range l.reqs[min(since, len(l.reqs)):] {
			if match(r) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("kfake never received %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncSkew is a group of a dynamic leader and a static follower (instance
// "a") at the point the bug needs: the group is in CompletingRebalance, the
// follower has sent its SyncGroup (kfake parks it, or the hold holds it) and
// the leader has not.
type syncSkew struct {
	t        *testing.T
	c        *kfake.Cluster
	ctx      context.Context
	log      *requestLog
	group    string
	leader   *rawMember
	follower *rawMember
	synced   chan syncResult // the follower's SyncGroup
	removed  chan string     // members the hold reported removed while held
	closers  map[*rawMember]func()
}

type syncResult struct {
	a   *kmsg.ConsumerMemberAssignment
	err error
}

type joinResult struct {
	m   *rawMember
	jr  *kmsg.JoinGroupResponse
	err error
}

// startSyncSkew builds the group, with the sync hold when hold is set. The
// follower joins with a session timeout of followerSessionMs, the leader
// with 10 s; both with a rebalance timeout of 60 s.
func startSyncSkew(t *testing.T, hold bool, followerSessionMs int32) *syncSkew {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel) // before c.Close: the hold stops asking kfake first
	s := &syncSkew{t: t, c: c, ctx: ctx, group: "g", synced: make(chan syncResult, 1), removed: make(chan string, 4),
		closers: map[*rawMember]func(){}}
	s.log = logGroupRequests(c)
	if hold {
		holdFollowerSyncs(ctx, c, func(h heldSync) {
			if !h.removed {
				return
			}
			select {
			case s.removed <- h.member:
			default:
			}
		})
	}

	s.leader = s.member(10_000, "")
	jr, err := s.leader.join(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.leader.syncAsLeader(ctx, jr); err != nil {
		t.Fatal(err)
	}
	s.follower = s.member(followerSessionMs, "a")
	joined := s.joinAsync(s.follower)
	waitGroup(t, c, s.group, "PreparingRebalance with 2 members", func(gi *kfake.GroupInfo) bool {
		return gi.State == "PreparingRebalance" && len(gi.Members) == 2
	})
	if err := s.leader.heartbeat(ctx); !errors.Is(err, kerr.RebalanceInProgress) {
		t.Fatalf("the leader's heartbeat after the follower joined: %v, want REBALANCE_IN_PROGRESS", err)
	}
	// kfake keeps a leader that rejoins, so the dynamic member leads.
	if jr, err = s.leader.join(ctx); err != nil {
		t.Fatal(err)
	}
	if jr.LeaderID != s.leader.memberID || len(jr.Members) != 2 {
		t.Fatalf("the second rebalance: leader %s of %d members, want %s of 2", jr.LeaderID, len(jr.Members), s.leader.memberID)
	}
	if r := <-joined; r.err != nil {
		t.Fatalf("the follower's join: %v", r.err)
	}
	go func() {
		a, err := s.follower.syncAsFollower(ctx)
		s.synced <- syncResult{a, err}
	}()
	s.log.waitFor(t, 0, "the follower's SyncGroup", func(r seenReq) bool {
		return r.key == kmsg.SyncGroup && r.member == s.follower.memberID
	})
	return s
}

// member makes a member with its own client, closed at the end of the test.
func (s *syncSkew) member(sessionMs int32, instance string) *rawMember {
	m := newRawMember(s.t, s.c, s.group)
	m.sessionMs = sessionMs
	if instance != "" {
		m.instanceID = &instance
	}
	closeOnce := sync.OnceFunc(m.cl.Close)
	s.closers[m] = closeOnce
	s.t.Cleanup(closeOnce)
	return m
}

// kill closes m's client, as the death of its process would.
func (s *syncSkew) kill(m *rawMember) { s.closers[m]() }

func (s *syncSkew) joinAsync(m *rawMember) chan joinResult {
	ch := make(chan joinResult, 1)
	go func() {
		jr, err := m.join(s.ctx)
		ch <- joinResult{m, jr, err}
	}()
	return ch
}

// removeFollower removes the follower the way how names and has every live
// member rejoin. It returns the live members' JoinGroups.
func (s *syncSkew) removeFollower(how string) []chan joinResult {
	t := s.t
	var joins []chan joinResult
	switch how {
	case "new-incarnation":
		// The follower's process dies; its next incarnation joins with
		// the same instance id and no member id.
		s.kill(s.follower)
		since := s.log.len()
		next := s.member(10_000, "a")
		joins = append(joins, s.joinAsync(next))
		s.log.waitFor(t, since, "the new incarnation's JoinGroup", func(r seenReq) bool {
			return r.key == kmsg.JoinGroup && r.instance == "a" && r.member == ""
		})
	case "leave-group":
		// Another client removes it, as the broker role's janitor does.
		admin, err := kgo.NewClient(kgo.SeedBrokers(s.c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = s.group
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = s.follower.memberID
		req.Members = append(req.Members, lm)
		resp, err := req.RequestWith(s.ctx, admin)
		if err == nil && len(resp.Members) == 1 {
			err = kerr.ErrorForCode(resp.Members[0].ErrorCode)
		}
		if err != nil {
			t.Fatalf("leave group on behalf of the follower: %v", err)
		}
	case "session-expiry":
		s.kill(s.follower)
		waitGroup(t, s.c, s.group, "the follower's session expiry", func(gi *kfake.GroupInfo) bool {
			return !hasMember(gi, s.follower.memberID)
		})
	default:
		t.Fatalf("unknown removal %q", how)
	}
	// The leader learns of the rebalance from its heartbeat, and rejoins.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.leader.heartbeat(s.ctx)
		if errors.Is(err, kerr.RebalanceInProgress) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the leader's heartbeat after the removal: %v, want REBALANCE_IN_PROGRESS", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	since, id := s.log.len(), s.leader.memberID // the join goroutine owns the leader until it returns
	joins = append(joins, s.joinAsync(s.leader))
	s.log.waitFor(t, since, "the leader's JoinGroup", func(r seenReq) bool {
		return r.key == kmsg.JoinGroup && r.member == id
	})
	return joins
}

// awaitJoins waits up to d for every join; it returns those that came, in
// order, and whether all did.
func awaitJoins(joins []chan joinResult, d time.Duration) ([]joinResult, bool) {
	timeout := time.After(d)
	var got []joinResult
	for _, ch := range joins {
		select {
		case r := <-ch:
			got = append(got, r)
		case <-timeout:
			return got, false
		}
	}
	return got, true
}

var removals = []struct {
	how               string
	followerSessionMs int32
}{
	{"new-incarnation", 10_000},
	{"leave-group", 10_000},
	{"session-expiry", 1_000},
}

// TestKfakeStallsRebalanceAfterRemovingFollowerWaitingInSync reproduces the
// kfake bug the broker role's sync hold works around: a follower is removed
// while kfake parks its SyncGroup (its process died and its next
// incarnation joins with the same group.instance.id, another client sends
// LeaveGroup for it, or its session expires), every live member rejoins,
// and the rebalance does not complete: kfake waits for one JoinGroup more
// than there are members, until the 60 s rebalance timeout. The test gives
// it 3 s. If kfake completes the rebalance, the test logs so: the hold
// could go.
func TestKfakeStallsRebalanceAfterRemovingFollowerWaitingInSync(t *testing.T) {
	for _, rm := range removals {
		t.Run(rm.how, func(t *testing.T) {
			t.Parallel()
			s := startSyncSkew(t, false, rm.followerSessionMs)
			joins := s.removeFollower(rm.how)
			if got, all := awaitJoins(joins, 3*time.Second); all {
				for _, r := range got {
					if r.err != nil {
						t.Fatalf("rejoin of %s: %v", r.m.memberID, r.err)
					}
				}
				t.Logf("kfake completed the rebalance of the %d live members: the bug is fixed, the broker role's sync hold may no longer be needed", len(got))
				return
			}
			gi := s.c.GroupInfo(s.group)
			if gi.State != "PreparingRebalance" || len(gi.Members) != len(joins) {
				t.Fatalf("after 3 s: group %s with %d members, want PreparingRebalance with the %d live ones", gi.State, len(gi.Members), len(joins))
			}
			t.Logf("kfake bug reproduced: every live member (%d) waits in JoinGroup, the group stays in %s for 3 s of its 60 s rebalance timeout",
				len(joins), gi.State)
		})
	}
}

// TestSyncHoldLetsRebalanceCompleteAfterRemovingFollowerWaitingInSync runs
// the same removals with the broker role's sync hold: the rebalance
// completes as soon as every live member has rejoined, the group becomes
// Stable with the live members, and the hold reports the follower as
// removed while held (the count the crash suite reports).
func TestSyncHoldLetsRebalanceCompleteAfterRemovingFollowerWaitingInSync(t *testing.T) {
	for _, rm := range removals {
		t.Run(rm.how, func(t *testing.T) {
			t.Parallel()
			s := startSyncSkew(t, true, rm.followerSessionMs)
			joins := s.removeFollower(rm.how)
			got, all := awaitJoins(joins, 10*time.Second)
			if !all {
				t.Fatalf("the rebalance did not complete within 10 s of every live member rejoining (group %+v)", s.c.GroupInfo(s.group))
			}
			var leaderJoin *kmsg.JoinGroupResponse
			var followers []*rawMember
			for _, r := range got {
				if r.err != nil {
					t.Fatalf("rejoin of %s: %v", r.m.memberID, r.err)
				}
				if r.m == s.leader {
					leaderJoin = r.jr
				} else {
					followers = append(followers, r.m)
				}
			}
			if leaderJoin.LeaderID != s.leader.memberID || len(leaderJoin.Members) != len(joins) {
				t.Fatalf("the rebalance: leader %s of %d members, want %s of %d", leaderJoin.LeaderID, len(leaderJoin.Members), s.leader.memberID, len(joins))
			}
			select {
			case m := <-s.removed:
				if m != s.follower.memberID {
					t.Fatalf("the hold reported %s removed while held, want the follower %s", m, s.follower.memberID)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the hold did not report the follower removed while held")
			}
			if rm.how == "leave-group" {
				// Its connection is open: kfake answers the held SyncGroup.
				if r := <-s.synced; !errors.Is(r.err, kerr.UnknownMemberID) {
					t.Fatalf("the removed follower's SyncGroup: %v, want UNKNOWN_MEMBER_ID", r.err)
				}
			}
			finishRebalance(t, s.ctx, s.leader, leaderJoin, followers...)
			gi := s.c.GroupInfo(s.group)
			if gi.State != "Stable" || len(gi.Members) != len(joins) || hasMember(gi, s.follower.memberID) {
				t.Fatalf("after the rebalance: group %s with members %+v, want Stable with the %d live ones", gi.State, gi.Members, len(joins))
			}
		})
	}
}

// TestSyncHoldGivesFollowerTheLeadersAssignment shows the hold leaves the
// protocol as it was: a follower that syncs before the leader gets the
// partition the leader's SyncGroup gives it, and the hold reports nothing.
func TestSyncHoldGivesFollowerTheLeadersAssignment(t *testing.T) {
	s := startSyncSkew(t, true, 10_000)
	jr := kmsg.NewPtrJoinGroupResponse()
	jr.Members = []kmsg.JoinGroupResponseMember{{MemberID: s.leader.memberID}, {MemberID: s.follower.memberID}}
	if err := s.leader.syncAsLeader(s.ctx, jr); err != nil {
		t.Fatal(err)
	}
	var r syncResult
	select {
	case r = <-s.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower's SyncGroup was not answered within 10 s of the leader's")
	}
	if r.err != nil {
		t.Fatalf("the follower's SyncGroup: %v", r.err)
	}
	if len(r.a.Topics) != 1 || r.a.Topics[0].Topic != "t" || fmt.Sprint(r.a.Topics[0].Partitions) != "[1]" {
		t.Fatalf("the follower's assignment: %+v, want t[1]", r.a.Topics)
	}
	select {
	case m := <-s.removed:
		t.Fatalf("the hold reported %s removed while held, but no member was removed", m)
	default:
	}
	if gi := s.c.GroupInfo(s.group); gi.State != "Stable" {
		t.Fatalf("after both SyncGroups: group %s, want Stable", gi.State)
	}
}

// finishRebalance syncs the followers and the leader (in no set order) and
// checks each follower gets a partition.
func finishRebalance(t *testing.T, ctx context.Context, leader *rawMember, jr *kmsg.JoinGroupResponse, followers ...*rawMember) {
	t.Helper()
	results := make(chan syncResult, len(followers))
	for _, f := range followers {
		go func() {
			a, err := f.syncAsFollower(ctx)
			results <- syncResult{a, err}
		}()
	}
	if err := leader.syncAsLeader(ctx, jr); err != nil {
		t.Fatalf("the leader's SyncGroup: %v", err)
	}
	for range followers {
		r := <-results
		if r.err != nil {
			t.Fatalf("a follower's SyncGroup: %v", r.err)
		}
		if len(r.a.Topics) != 1 || len(r.a.Topics[0].Partitions) != 1 {
			t.Fatalf("a follower's assignment: %+v, want one partition", r.a.Topics)
		}
	}
}
