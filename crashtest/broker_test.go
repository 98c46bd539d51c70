package crashtest

// The broker role: franz-go's kfake on a loopback port, plus two
// workarounds for kfake bugs in classic consumer groups: a janitor that
// expires group members whose process is gone, and a sync hold (see
// synchold_test.go) that keeps every SyncGroup but the leader's out of kfake
// until kfake has handled the leader's.
//
// Why the sync hold: kfake counts a member whose SyncGroup it parks (every
// one but the leader's, until the leader's arrives) as one leaving the join
// barrier when the member is removed (its session expires, the janitor's
// LeaveGroup, or a static member's next incarnation joins), so the next
// rebalance waits for one JoinGroup more than there are members, i.e. for
// the rebalance timeout (5 minutes), with both Apps in REBALANCING. The
// crash suite kills Apps right after their SyncGroup. Held outside kfake
// until the leader's (the hold asks kfake which member leads), a SyncGroup
// is never parked, and kfake answers it after the leader's, as it would
// have; nothing is answered or timed out in kfake's place, so a hang of a
// live App still shows. MILLRACE_CRASH_NO_SYNC_HOLD=1 turns it off;
// TestKfakeStallsRebalanceAfterRemovingMemberWaitingInSync shows the bug on
// its own.
//
// Why the janitor: kfake never expires a classic-group member that dies
// between its JoinGroup and the JoinGroup response. Its session timer is
// stopped when it joins and only restarted once a reply reaches it, and a
// reply to a closed connection fails; the member then stays in the group
// with no timer. If a live leader syncs, the dead member keeps its
// partitions forever (nobody processes them); if the dead member was made
// leader, the group waits in CompletingRebalance for the rebalance timeout
// (librdkafka's max.poll.interval.ms, 5 minutes). A real broker sends the
// response, starts the session timer regardless, and expires the member
// after session.timeout.ms. The crash suite kills Apps while they join, so
// without the janitor it hangs (TestKfakeKeepsMemberKilledWhileJoining shows
// the bug on its own). The janitor does what the broker should: a member
// whose client connection has been closed for longer than the session
// timeout is removed (LeaveGroup on its behalf), which triggers the
// rebalance a session expiry would. It never touches a member whose
// connection is open, so it cannot hide a hang of a live App.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	envGroups    = "MILLRACE_CRASHTEST_GROUPS"  // broker: consumer groups the janitor watches
	envSession   = "MILLRACE_CRASHTEST_SESSION" // broker: the members' session timeout
	envNoJanitor = "MILLRACE_CRASH_NO_JANITOR"  // broker: set to run without the janitor
)

// connTracker records which client addresses have an open connection to
// the broker, and since when the others are closed.
type connTracker struct {
	mu     sync.Mutex
	open   map[string]int
	closed map[string]time.Time
}

func newConnTracker() *connTracker {
	return &connTracker{open: map[string]int{}, closed: map[string]time.Time{}}
}

// listen is a kfake.ListenFn that tracks the connections it accepts.
func (t *connTracker) listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &trackedListener{Listener: l, t: t}, nil
}

type trackedListener struct {
	net.Listener
	t *connTracker
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	addr := c.RemoteAddr().String()
	l.t.mu.Lock()
	l.t.open[addr]++
	delete(l.t.closed, addr)
	l.t.mu.Unlock()
	return &trackedConn{Conn: c, t: l.t, addr: addr}, nil
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	addr string
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		if c.t.open[c.addr]--; c.t.open[c.addr] <= 0 {
			delete(c.t.open, c.addr)
			c.t.closed[c.addr] = time.Now()
		}
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// goneFor returns how long addr has had no open connection; ok is false
// while it has one, or when the tracker never saw it.
func (t *connTracker) goneFor(addr string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[addr] > 0 {
		return 0, false
	}
	at, ok := t.closed[addr]
	if !ok {
		return 0, false
	}
	return time.Since(at), true
}

// janitor removes members of groups whose connection has been closed for
// longer than session. It reports each removal through removed.
type janitor struct {
	c       *kfake.Cluster
	t       *connTracker
	groups  []string
	session time.Duration
	removed func(group, member, host string, gone time.Duration, err error)
}

func (j *janitor) run(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(j.c.ListenAddrs()...))
	if err != nil {
		j.removed("", "", "", 0, err)
		return
	}
	defer cl.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, g := range j.groups {
			info := j.c.GroupInfo(g)
			if info == nil {
				continue
			}
			for _, m := range info.Members {
				gone, ok := j.t.goneFor(m.ClientHost)
				if !ok || gone <= j.session {
					continue
				}
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group = g
				lm := kmsg.NewLeaveGroupRequestMember()
				lm.MemberID = m.MemberID // not the instance id: that would name its replacement
				req.Members = append(req.Members, lm)
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				resp, err := req.RequestWith(rctx, cl)
				cancel()
				if err == nil && len(resp.Members) == 1 && resp.Members[0].ErrorCode != 0 {
					err = fmt.Errorf("leave group: error code %d", resp.Members[0].ErrorCode)
				}
				j.removed(g, m.MemberID, m.ClientHost, gone, err)
			}
		}
	}
}

// brokerMain runs the embedded broker until stdin closes.
func brokerMain() int {
	dumpStacksOnSIGUSR1()
	var e emitter
	tracker := newConnTracker()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.ListenFn(tracker.listen)}
	for _, spec := range strings.Split(os.Getenv(envTopics), ",") {
		name, parts, ok := strings.Cut(spec, ":")
		n, err := strconv.Atoi(parts)
		if !ok || err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "broker: bad topic spec %q\n", spec)
			return 2
		}
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		return 1
	}
	defer c.Close()
	if os.Getenv(envNoRebalanceCap) == "" {
		capRebalanceTimeouts(c, rebalanceCap) // first, so the sync hold records capped JoinGroups
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before c.Close: the sync hold stops asking kfake first
	if os.Getenv(envNoSyncHold) == "" {
		err := installSyncHold(ctx, c, func(h heldSync) {
			fmt.Fprintf(os.Stderr, "%s sync hold: held the SyncGroup of member %s (group %s, generation %d) for %v; leader: %v; probe error: %v; member removed meanwhile: %v\n",
				time.Now().Format(time.RFC3339Nano), h.member, h.group, h.generation, h.held.Round(time.Millisecond), h.leader, h.probeErr, h.removed)
			if h.removed { // kfake alone would have stalled the next rebalance
				e.emit("SYNCHOLD %s %s", h.group, h.member)
			}
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "broker: %v\n", err)
			return 1
		}
	}
	var wg sync.WaitGroup
	if os.Getenv(envNoJanitor) == "" && os.Getenv(envGroups) != "" {
		session, err := time.ParseDuration(os.Getenv(envSession))
		if err != nil {
			fmt.Fprintf(os.Stderr, "broker: bad %s: %v\n", envSession, err)
			return 2
		}
		j := &janitor{c: c, t: tracker, groups: strings.Split(os.Getenv(envGroups), ","), session: session,
			removed: func(group, member, host string, gone time.Duration, err error) {
				fmt.Fprintf(os.Stderr, "%s janitor: removed member %s (%s, connection closed %v ago) from group %s: err %v\n",
					time.Now().Format(time.RFC3339Nano), member, host, gone.Round(time.Millisecond), group, err)
				if err == nil {
					e.emit("JANITOR %s %s", group, member)
				}
			}}
		wg.Add(1)
		go func() { defer wg.Done(); j.run(ctx) }()
	}
	if os.Getenv(envGroups) != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchGroups(ctx, c, strings.Split(os.Getenv(envGroups), ","), func(group string, v groupView, n int) {
				e.emit("GROUP %s %s %d", group, v.state, n)
			}, func(group string, v groupView, d time.Duration) {
				fmt.Fprintf(os.Stderr, "%s group %s: rebalancing for %v (%s, generation %d)\n",
					time.Now().Format(time.RFC3339Nano), group, d.Round(time.Millisecond), v.state, v.generation)
				e.emit("STALL %s %s", group, v.state)
			})
		}()
	}
	e.emit("BROKER %s", strings.Join(c.ListenAddrs(), ","))
	_, _ = bufio.NewReader(os.Stdin).WriteTo(discard{})
	cancel()
	wg.Wait()
	return 0
}
