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

// syncSkew is a group at the point the bug needs: in CompletingRebalance,
// a member other than the leader (follower) has sent its SyncGroup (kfake
// parks it, or the hold holds it) and the leader has not.
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
	held     chan heldSync   // every SyncGroup the hold held
	closers  map[*rawMember]func()
	// leaderJoin is the leader's JoinGroup response in the generation the
	// follower syncs in; claims counts the members named leader in their
	// own response in it.
	leaderJoin *kmsg.JoinGroupResponse
	claims     int
	// leaderID and leaderGen are the leader's while its rejoin runs.
	leaderID  string
	leaderGen int32
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

// newSyncSkew starts an in-process kfake, with the sync hold when hold is
// set.
func newSyncSkew(t *testing.T, hold bool) *syncSkew {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel) // before c.Close: the hold stops asking kfake first
	s := &syncSkew{t: t, c: c, ctx: ctx, group: "g", synced: make(chan syncResult, 1), removed: make(chan string, 8),
		held: make(chan heldSync, 64), closers: map[*rawMember]func(){}}
	s.log = logGroupRequests(c)
	if hold {
		err := installSyncHold(ctx, c, func(h heldSync) {
			select {
			case s.held <- h:
			default:
			}
			if h.removed {
				select {
				case s.removed <- h.member:
				default:
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// startFollower builds a group of a dynamic leader and a static follower
// (instance "a", session timeout followerSessionMs; the leader's is 10 s,
// both rebalance timeouts 60 s), and has the follower sync.
func startFollower(t *testing.T, hold bool, followerSessionMs int32) *syncSkew {
	t.Helper()
	s := newSyncSkew(t, hold)
	ctx := s.ctx
	s.leader = s.member(10_000, "")
	s.stableAlone(s.leader)
	s.follower = s.member(followerSessionMs, "a")
	joined := s.joinAsync(s.follower)
	s.waitPreparing(2)
	if err := s.leader.heartbeat(ctx); !errors.Is(err, kerr.RebalanceInProgress) {
		t.Fatalf("the leader's heartbeat after the follower joined: %v, want REBALANCE_IN_PROGRESS", err)
	}
	// kfake keeps a leader that rejoins, so the dynamic member leads.
	jr, err := s.leader.join(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jr.LeaderID != s.leader.memberID || len(jr.Members) != 2 {
		t.Fatalf("the second rebalance: leader %s of %d members, want %s of 2", jr.LeaderID, len(jr.Members), s.leader.memberID)
	}
	r := <-joined
	if r.err != nil {
		t.Fatalf("the follower's join: %v", r.err)
	}
	s.leaderJoin, s.claims = jr, claims(jr, r.jr)
	s.syncFollower(nil)
	return s
}

// startFalseLeader builds a group of a dynamic member that leads alone,
// then leaves while two static members (instances "a" and "b", session
// timeout sessionMs) join. kfake names both the leader in their JoinGroup
// responses, but only one leads; the other (the follower) syncs first,
// with assignments, as a member named leader does.
func startFalseLeader(t *testing.T, hold bool, sessionMs int32) *syncSkew {
	t.Helper()
	s := newSyncSkew(t, hold)
	ctx := s.ctx
	first := s.member(10_000, "")
	s.stableAlone(first)
	a, b := s.member(sessionMs, "a"), s.member(sessionMs, "b")
	ja, jb := s.joinAsync(a), s.joinAsync(b)
	s.waitPreparing(3)
	if err := leave(ctx, s.c, s.group, first.memberID); err != nil {
		t.Fatalf("the first leader's LeaveGroup: %v", err)
	}
	ra, rb := <-ja, <-jb
	if ra.err != nil || rb.err != nil {
		t.Fatalf("the joins after the leader left: %v, %v", ra.err, rb.err)
	}
	s.claims = claims(ra.jr, rb.jr)
	// A member rejoining with the same protocols in CompletingRebalance
	// gets the generation's response again, now naming the true leader.
	again, err := a.join(ctx)
	if err != nil {
		t.Fatalf("a's second JoinGroup: %v", err)
	}
	s.leader, s.follower, s.leaderJoin = a, b, again
	follower := rb.jr
	if again.LeaderID == b.memberID {
		s.leader, s.follower, s.leaderJoin, follower = b, a, rb.jr, ra.jr
	} else if again.LeaderID != a.memberID {
		t.Fatalf("kfake names %s the leader, neither a (%s) nor b (%s)", again.LeaderID, a.memberID, b.memberID)
	}
	s.syncFollower(follower.Members) // none when kfake did not name it leader
	return s
}

// stableAlone has m join the empty group and sync as its leader.
func (s *syncSkew) stableAlone(m *rawMember) {
	s.t.Helper()
	jr, err := m.join(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := m.syncAsLeader(s.ctx, jr); err != nil {
		s.t.Fatal(err)
	}
}

func (s *syncSkew) waitPreparing(members int) {
	s.t.Helper()
	waitGroup(s.t, s.c, s.group, fmt.Sprintf("PreparingRebalance with %d members", members), func(gi *kfake.GroupInfo) bool {
		return gi.State == "PreparingRebalance" && len(gi.Members) == members
	})
}

// syncFollower sends the follower's SyncGroup, with one assignment per
// member of members, and waits until kfake has received it.
func (s *syncSkew) syncFollower(members []kmsg.JoinGroupResponseMember) {
	s.t.Helper()
	go func() {
		a, err := s.follower.sync(s.ctx, members)
		s.synced <- syncResult{a, err}
	}()
	s.log.waitFor(s.t, 0, "the follower's SyncGroup", func(r seenReq) bool {
		return r.key == kmsg.SyncGroup && r.member == s.follower.memberID
	})
}

// claims counts the JoinGroup responses that name their own member leader.
func claims(jrs ...*kmsg.JoinGroupResponse) int {
	n := 0
	for _, jr := range jrs {
		if jr.LeaderID == jr.MemberID {
			n++
		}
	}
	return n
}

// leave sends a LeaveGroup for member from a client of its own, as the
// broker role's janitor does.
func leave(ctx context.Context, c *kfake.Cluster, group, member string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = member
	req.Members = append(req.Members, lm)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && len(resp.Members) == 1 {
		err = kerr.ErrorForCode(resp.Members[0].ErrorCode)
	}
	return err
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
		since, instance := s.log.len(), *s.follower.instanceID
		next := s.member(10_000, instance)
		joins = append(joins, s.joinAsync(next))
		s.log.waitFor(t, since, "the new incarnation's JoinGroup", func(r seenReq) bool {
			return r.key == kmsg.JoinGroup && r.instance == instance && r.member == ""
		})
	case "leave-group":
		// Another client removes it, as the broker role's janitor does.
		if err := leave(s.ctx, s.c, s.group, s.follower.memberID); err != nil {
			t.Fatalf("leave group on behalf of the follower: %v", err)
		}
	case "session-expiry":
		// Its process dies; the leader's heartbeats keep the leader in.
		s.kill(s.follower)
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
	if gi := s.c.GroupInfo(s.group); hasMember(gi, s.follower.memberID) {
		t.Fatalf("the follower %s is still in the group after the removal: %+v", s.follower.memberID, gi.Members)
	}
	since := s.log.len()
	s.leaderID, s.leaderGen = s.leader.memberID, s.leader.gen // the join goroutine owns the leader until it returns
	joins = append(joins, s.joinAsync(s.leader))
	s.log.waitFor(t, since, "the leader's JoinGroup", func(r seenReq) bool {
		return r.key == kmsg.JoinGroup && r.member == s.leaderID
	})
	return joins
}

// awaitRejoins waits up to d for every join; it returns those that came, in
// order, and whether all did. Meanwhile it heartbeats for the leader, whose
// session timer kfake keeps running while its JoinGroup waits.
func (s *syncSkew) awaitRejoins(joins []chan joinResult, d time.Duration) ([]joinResult, bool) {
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = s.group, s.leaderID, s.leaderGen, s.leader.instanceID
	timeout := time.After(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var got []joinResult
	for _, ch := range joins {
	wait:
		for {
			select {
			case r := <-ch:
				got = append(got, r)
				break wait
			case <-tick.C:
				_, _ = hb.RequestWith(s.ctx, s.leader.cl)
			case <-timeout:
				return got, false
			}
		}
	}
	return got, true
}

var setups = []struct {
	name  string
	start func(t *testing.T, hold bool, sessionMs int32) *syncSkew
}{
	{"follower", startFollower},
	{"false-leader", startFalseLeader},
}

var removals = []struct {
	how       string
	sessionMs int32 // the follower's session timeout (and in false-leader, the leader's)
}{
	{"new-incarnation", 10_000},
	{"leave-group", 10_000},
	{"session-expiry", 1_000},
}

// TestKfakeStallsRebalanceAfterRemovingMemberWaitingInSync reproduces the
// kfake bug the broker role's sync hold works around: a member other than
// the leader (a follower, or a member kfake also named leader) is removed
// while kfake parks its SyncGroup (its process died and its next
// incarnation joins with the same group.instance.id, another client sends
// LeaveGroup for it, or its session expires), every live member rejoins,
// and the rebalance does not complete: kfake waits for one JoinGroup more
// than there are members, until the 60 s rebalance timeout. The test gives
// it 3 s. If kfake completes the rebalance, the test logs so: the hold
// could go.
func TestKfakeStallsRebalanceAfterRemovingMemberWaitingInSync(t *testing.T) {
	for _, su := range setups {
		for _, rm := range removals {
			t.Run(su.name+"/"+rm.how, func(t *testing.T) {
				t.Parallel()
				s := su.start(t, false, rm.sessionMs)
				joins := s.removeFollower(rm.how)
				if got, all := s.awaitRejoins(joins, 3*time.Second); all {
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
}

// TestSyncHoldLetsRebalanceCompleteAfterRemovingMemberWaitingInSync runs
// the same removals with the broker role's sync hold: the rebalance
// completes as soon as every live member has rejoined, the group becomes
// Stable with the live members, the hold reports the removed member as
// removed while held (the count the crash suite reports), and it let the
// leader's SyncGroup through as the leader's.
func TestSyncHoldLetsRebalanceCompleteAfterRemovingMemberWaitingInSync(t *testing.T) {
	for _, su := range setups {
		for _, rm := range removals {
			t.Run(su.name+"/"+rm.how, func(t *testing.T) {
				t.Parallel()
				s := su.start(t, true, rm.sessionMs)
				joins := s.removeFollower(rm.how)
				got, all := s.awaitRejoins(joins, 10*time.Second)
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
				s.wantHeldAsLeader(s.leader.memberID, leaderJoin.Generation)
			})
		}
	}
}

// wantHeldAsLeader checks the hold let member's SyncGroup of generation gen
// through as the leader's.
func (s *syncSkew) wantHeldAsLeader(member string, gen int32) {
	s.t.Helper()
	for {
		select {
		case h := <-s.held:
			if h.member == member && h.generation == gen {
				if !h.leader || h.probeErr != nil || h.removed {
					s.t.Fatalf("the hold released the leader's SyncGroup as %+v, want as the leader's", h)
				}
				return
			}
		default:
			s.t.Fatalf("the hold did not release member %s's SyncGroup of generation %d", member, gen)
		}
	}
}

// TestSyncHoldGivesFollowerTheLeadersAssignment shows the hold leaves the
// protocol as it was: a member that syncs before the leader (a follower, or
// a member kfake also named leader, with assignments of its own) gets the
// partition the leader's SyncGroup gives it, and the hold reports no
// removal.
func TestSyncHoldGivesFollowerTheLeadersAssignment(t *testing.T) {
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) {
			s := su.start(t, true, 10_000)
			if err := s.leader.syncAsLeader(s.ctx, s.leaderJoin); err != nil {
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
			want := -1
			for i, m := range s.leaderJoin.Members {
				if m.MemberID == s.follower.memberID {
					want = i
				}
			}
			if len(r.a.Topics) != 1 || r.a.Topics[0].Topic != "t" || fmt.Sprint(r.a.Topics[0].Partitions) != fmt.Sprintf("[%d]", want) {
				t.Fatalf("the follower's assignment: %+v, want t[%d] from the leader's SyncGroup", r.a.Topics, want)
			}
			select {
			case m := <-s.removed:
				t.Fatalf("the hold reported %s removed while held, but no member was removed", m)
			default:
			}
			if gi := s.c.GroupInfo(s.group); gi.State != "Stable" {
				t.Fatalf("after both SyncGroups: group %s, want Stable", gi.State)
			}
			s.wantHeldAsLeader(s.leader.memberID, s.leaderJoin.Generation)
		})
	}
}

// TestKfakeNamesEveryMemberLeaderWhenTheLeaderLeft reproduces the kfake
// behaviour that makes a member other than the leader sync with
// assignments: when the previous leader did not rejoin, each member's
// JoinGroup response names that member the leader, while kfake takes only
// one member's SyncGroup as the leader's and parks the others'. If kfake
// names one leader, the test logs so.
func TestKfakeNamesEveryMemberLeaderWhenTheLeaderLeft(t *testing.T) {
	s := startFalseLeader(t, false, 10_000)
	if s.claims != 2 {
		t.Logf("kfake named %d of the 2 members leader: fixed", s.claims)
		return
	}
	// kfake handles requests in order: after the leader's heartbeat, it
	// has handled the other member's SyncGroup.
	if err := s.leader.heartbeat(s.ctx); err != nil {
		t.Fatalf("the leader's heartbeat: %v", err)
	}
	if gi := s.c.GroupInfo(s.group); gi.State != "CompletingRebalance" {
		t.Fatalf("after the other member's SyncGroup with assignments: group %s, want CompletingRebalance (kfake parks it)", gi.State)
	}
	t.Logf("kfake bug reproduced: both members were named leader in their JoinGroup responses; kfake took %s's SyncGroup with assignments as a follower's and parked it; %s leads",
		s.follower.memberID, s.leader.memberID)
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

// TestRebalanceCapEndsASkewedBarrier shows the broker role's rebalance cap
// at work on the skew above, without the sync hold: the follower is removed
// while kfake parks its SyncGroup, so kfake's barrier waits for a JoinGroup
// that never comes; with every JoinGroup's rebalance timeout capped at 2 s
// (the members ask for 60 s) the live leader's rejoin is answered after
// about 2 s instead of 60.
func TestRebalanceCapEndsASkewedBarrier(t *testing.T) {
	const limit = 2 * time.Second
	s := startFollower(t, false, 10_000)
	capRebalanceTimeouts(s.c, limit)
	start := time.Now()
	joins := s.removeFollower("leave-group")
	got, all := s.awaitRejoins(joins, limit+8*time.Second)
	took := time.Since(start)
	if !all {
		gi := s.c.GroupInfo(s.group)
		t.Fatalf("the leader's rejoin was not answered %v after the removal (group %s, %d members): the cap did not end the barrier", took, gi.State, len(gi.Members))
	}
	if r := got[0]; r.err != nil || r.jr.LeaderID != s.leaderID || len(r.jr.Members) != 1 {
		t.Fatalf("the leader's rejoin: err %v, response %+v; want it to lead the group alone", r.err, r.jr)
	}
	if took < limit-200*time.Millisecond {
		t.Fatalf("the rebalance completed after %v, before the %v cap: the barrier was not skewed, so this test shows nothing", took, limit)
	}
	t.Logf("the capped barrier completed %v after the removal", took.Round(time.Millisecond))
}
