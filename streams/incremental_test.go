package streams_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/streams"
)

// kip848Cluster is an embedded cluster whose KIP-848 groups heartbeat
// every heartbeat and expire a silent member after 3 s.
func kip848Cluster(t *testing.T, topics map[string]int32, heartbeat time.Duration) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(kafkatest.Config{Topics: topics, BrokerConfigs: map[string]string{
		"group.consumer.heartbeat.interval.ms": fmt.Sprint(heartbeat.Milliseconds()), "group.consumer.session.timeout.ms": "3000"}})
	must(t, err)
	t.Cleanup(c.Close)
	return c
}

// rebalanceLog records when an App handled each rebalance event.
type rebalanceLog struct {
	mu     sync.Mutex
	events []rebalanceEvent
}

type rebalanceEvent struct {
	at time.Time
	streams.Rebalance
}

func (l *rebalanceLog) OnRebalance(r streams.Rebalance) {
	l.mu.Lock()
	l.events = append(l.events, rebalanceEvent{time.Now(), r})
	l.mu.Unlock()
}

func (l *rebalanceLog) since(t0 time.Time) []rebalanceEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rebalanceEvent
	for _, e := range l.events {
		if !e.at.Before(t0) {
			out = append(out, e)
		}
	}
	return out
}

// feed writes one record to every partition of topic every few
// milliseconds until stop is closed; each key stays on one partition.
// It returns how many it wrote per partition once stopped.
func feed(t *testing.T, bootstrap, topic string, partitions int32, stop <-chan struct{}) func() []int64 {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "linger.ms": 1,
		"go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	counts := make([]int64, partitions)
	done := make(chan struct{})
	go func() {
		for range p.Events() {
		}
	}()
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				p.Flush(10_000)
				return
			case <-time.After(3 * time.Millisecond):
			}
			for part := range partitions {
				m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: part},
					Key: fmt.Appendf(nil, "p%d-k%d", part, i%5), Value: []byte("x")}
				if err := p.Produce(m, nil); err == nil {
					counts[part]++
				}
			}
		}
	}()
	return func() []int64 {
		<-done
		p.Close()
		return counts
	}
}

// committedOffsets reads the group's committed offsets of topic's
// partitions (-1 where none), as an administrator does.
func committedOffsets(t *testing.T, ad *kafka.AdminClient, group, topic string, partitions int32) []int64 {
	var tps []kafka.TopicPartition
	for p := range partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p})
	}
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := ad.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil || len(res.ConsumerGroupsTopicPartitions) != 1 {
		t.Logf("list committed offsets: %v", err)
		return out
	}
	for _, tp := range res.ConsumerGroupsTopicPartitions[0].Partitions {
		if tp.Error != nil {
			t.Logf("DEBUG %v", tp.Error)
		}
		if tp.Error == nil && tp.Offset >= 0 {
			out[tp.Partition] = int64(tp.Offset)
		}
	}
	return out
}

// TestUnmovedTasksKeepCommittingThroughAnIncrementalRebalance runs the
// consumer protocol (KIP-848, the broker's range assignor) with static
// members a and b over six partitions while input flows, then lets c
// join: range over a, b, c moves task 2 from a to b and tasks 4 and 5
// from b to c. Members heartbeat every second, so each step of the
// broker's reconciliation (b and a revoke, acknowledge, c is assigned)
// takes up to a heartbeat. The tasks that stay (0, 1 and 3) are never
// suspended, resumed or reopened, where the eager protocol suspends and
// resumes every task, and they keep processing and committing after the
// last revocation; afterwards every key's count is complete.
//
// The commits are checked over a window that ends no earlier than
// stallAllowance after the revocation: librdkafka pauses the whole
// assignment around each rebalance callback, and a resume does not wake
// an idle broker thread, so an unmoved partition may wait up to its 1 s
// idle timeout for its next fetch (the App's fetch waker, fetchwake.go,
// wakes it, but only as soon as its request gets there). Measured up to
// c's assignment alone, 0.3-0.6 s after the revocation, that stall failed
// the check now and then without the waker (twice in a few dozen runs).
// Under the classic
// protocol the lifecycle check fails and the commit check passes: it shows
// the tasks go on, not that they never stopped.
func TestUnmovedTasksKeepCommittingThroughAnIncrementalRebalance(t *testing.T) {
	const stallAllowance = 1500 * time.Millisecond
	c := kip848Cluster(t, map[string]int32{"in": 6, "out": 6}, time.Second)
	cfg := streams.Config{ApplicationID: "incremental", BootstrapServers: c.Bootstrap(),
		CommitInterval: 50 * time.Millisecond, GroupProtocol: streams.ConsumerProtocol}
	logs := map[string]*rebalanceLog{}
	at := func(id string) streams.Config {
		x := cfg
		x.InstanceID = id
		logs[id] = &rebalanceLog{}
		x.Hooks = []streams.Hook{logs[id]}
		return x
	}
	stop := make(chan struct{})
	written := feed(t, c.Bootstrap(), "in", 6, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			written()
		}
	}()
	a := start(t, countTopology(t, "in", "out", 0), at("a"))
	b := start(t, countTopology(t, "in", "out", 0), at("b"))
	waitSpread(t, 3, 60*time.Second, a, b)
	// How often the tasks that stay were opened and resumed, before c.
	unmoved := map[string]*running{"0_0": a, "0_1": a, "0_3": b}
	lifecycle := func() map[string][2]int64 {
		out := map[string][2]int64{}
		for id, app := range unmoved {
			for tid, tm := range activeTasks(app.app) {
				if tid.String() == id {
					out[id] = [2]int64{tm.Opened, tm.Resumed}
				}
			}
		}
		return out
	}
	lifeBefore := lifecycle()

	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3})
	must(t, err)
	defer admin.Close()
	type sample struct {
		at      time.Time
		offsets []int64
	}
	var samples []sample
	var sampling atomic.Bool
	sampling.Store(true)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Load() {
			samples = append(samples, sample{time.Now(), committedOffsets(t, admin, cfg.ApplicationID, "in", 6)})
			time.Sleep(10 * time.Millisecond)
		}
	}()

	joined := time.Now()
	n := start(t, countTopology(t, "in", "out", 0), at("c"))
	waitSpread(t, 2, 60*time.Second, a, b, n)
	lifeAfter := lifecycle()
	time.Sleep(stallAllowance) // the window ends at least this long after the revocation
	sampling.Store(false)
	<-sampled

	// The end of the join's last revocation, and the assignment that gave
	// c its tasks.
	var revokedAt, assignedAt time.Time
	for _, id := range []string{"a", "b"} {
		for _, e := range logs[id].since(joined) {
			if e.Phase == streams.Revoked && e.Tasks > 0 && e.at.After(revokedAt) {
				revokedAt = e.at
			}
		}
	}
	for _, e := range logs["c"].since(joined) {
		if e.Phase == streams.Assigned && e.Tasks > 0 {
			assignedAt = e.at
		}
	}
	if revokedAt.IsZero() || assignedAt.IsZero() {
		t.Fatalf("no revocation (%v) or no assignment on c (%v) seen", revokedAt, assignedAt)
	}
	end := assignedAt
	if e := revokedAt.Add(stallAllowance); e.After(end) {
		end = e
	}
	var before, after []int64
	for _, s := range samples {
		if !s.at.After(revokedAt) {
			before = s.offsets
		}
		if after == nil && !s.at.Before(end) {
			after = s.offsets
		}
	}
	if before == nil || after == nil {
		t.Fatalf("no committed offsets sampled around the rebalance (%d samples, revoked at %v, assigned at %v)",
			len(samples), revokedAt.Sub(joined), assignedAt.Sub(joined))
	}
	t.Logf("join: last revocation done after %v, c assigned after %v; offsets compared up to %v",
		revokedAt.Sub(joined), assignedAt.Sub(joined), end.Sub(joined))
	for id := range unmoved {
		b, a := lifeBefore[id], lifeAfter[id]
		if _, ok := lifeAfter[id]; !ok {
			t.Errorf("task %s that did not move is no longer active where it was", id)
		} else if a != b {
			t.Errorf("task %s that did not move: opened %d and resumed %d times during the join (before it: %d and %d); "+
				"want it left running, neither suspended nor reopened", id, a[0]-b[0], a[1]-b[1], b[0], b[1])
		}
	}
	if t.Failed() || testing.Verbose() {
		for _, id := range []string{"a", "b", "c"} {
			for _, e := range logs[id].since(joined) {
				t.Logf("%s at %v: %+v", id, e.at.Sub(joined), e.Rebalance)
			}
		}
	}
	for _, p := range []int{0, 1, 3} {
		if after[p] <= before[p] {
			t.Errorf("partition %d of a task that did not move: committed offset %d after the last revocation and %d %v later; "+
				"want it to advance (the task keeps processing)", p, before[p], after[p], end.Sub(revokedAt))
		}
	}
	for id, tasks := range map[string][]string{"a": {"0_0", "0_1"}, "b": {"0_2", "0_3"}, "c": {"0_4", "0_5"}} {
		app := map[string]*running{"a": a, "b": b, "c": n}[id]
		for _, want := range tasks {
			found := false
			for tid := range activeTasks(app.app) {
				found = found || tid.String() == want
			}
			if !found {
				t.Errorf("instance %s does not run task %s: range over a, b, c gives a {0,1}, b {2,3}, c {4,5}", id, want)
			}
		}
	}

	close(stop)
	per := written()
	var total int64
	for _, w := range per {
		total += w
	}
	out := consumeUntil(t, c.Bootstrap(), "out", false, 90*time.Second, func(o []consumed) bool {
		var sum int64
		for _, v := range lastCounts(o) {
			sum += v
		}
		return sum >= total
	}, a, b, n)
	var sum int64
	for _, v := range lastCounts(out) {
		sum += v
	}
	if sum != total {
		t.Errorf("counts add up to %d, want the %d records written: a rebalance without failures must neither lose nor repeat one",
			sum, total)
	}
}

// TestFencingUnderTheConsumerProtocolRewindsBySeekAndStaysExactlyOnce
// fences the App's transactional producer while it runs the consumer
// protocol: the App aborts, closes its tasks, seeks its partitions back
// to the committed offsets (Assign is refused while the protocol is
// cooperative) and starts over, and every count is still exactly once.
func TestFencingUnderTheConsumerProtocolRewindsBySeekAndStaysExactlyOnce(t *testing.T) {
	c := kip848Cluster(t, map[string]int32{"in": 2, "out": 2}, 100*time.Millisecond)
	dir := t.TempDir()
	input := events(4, 400)
	app := start(t, countTopology(t, "in", "out", 300*time.Microsecond), streams.Config{ApplicationID: "fenced-848",
		BootstrapServers: c.Bootstrap(), StateDir: dir, ProcessingGuarantee: streams.ExactlyOnceV2,
		GroupProtocol: streams.ConsumerProtocol, InstanceID: "only"})
	produce(t, c.Bootstrap(), "in", input[:800])
	consumeUntil(t, c.Bootstrap(), "out", true, 60*time.Second, func(o []consumed) bool { return len(o) >= 100 }, app)
	rest := make(chan struct{})
	go func() { // keeps the tasks busy through the fencing
		defer close(rest)
		for i := 800; i < len(input); i += 100 {
			produceQuiet(c.Bootstrap(), "in", input[i:i+100])
		}
	}()
	defer func() { <-rest }()
	pid, err := os.ReadFile(filepath.Join(dir, "fenced-848", "process-id"))
	must(t, err)
	zombie, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": c.Bootstrap(), "log_level": 3,
		"transactional.id": "fenced-848-" + strings.TrimSpace(string(pid))})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, zombie.InitTransactions(ctx))
	zombie.Close()
	expectEachCountOnce(t, c.Bootstrap(), "out", 90*time.Second, input, app)
	if app.app.State() == streams.Error {
		t.Error("the App stopped instead of replacing its fenced producer")
	}
	var opened int64
	for _, tm := range app.app.Metrics().Tasks {
		opened += tm.Opened
	}
	if opened <= 2 {
		t.Errorf("tasks opened %d times in all, want more than their 2 first openings: the fencing must restart them", opened)
	}
}

// TestConsumerProtocolNeedsAnInstanceID: without one the broker's range
// would place tasks by random member ids.
func TestConsumerProtocolNeedsAnInstanceID(t *testing.T) {
	err := newErr(t, countTopology(t, "in", "out", 0), streams.Config{ApplicationID: "x", BootstrapServers: "localhost:1",
		GroupProtocol: streams.ConsumerProtocol})
	if err == nil || !strings.Contains(err.Error(), "InstanceID") {
		t.Errorf("New = %v, want an error naming InstanceID", err)
	}
	err = newErr(t, countTopology(t, "in", "out", 0), streams.Config{ApplicationID: "x", BootstrapServers: "localhost:1",
		GroupProtocol: "cooperative"})
	if err == nil || !strings.Contains(err.Error(), "GroupProtocol") {
		t.Errorf("New = %v, want an error naming GroupProtocol", err)
	}
	err = newErr(t, countTopology(t, "in", "out", 0), streams.Config{ApplicationID: "x", BootstrapServers: "localhost:1",
		ConsumerConfig: map[string]any{"group.protocol": "consumer"}})
	if err == nil || !strings.Contains(err.Error(), "GroupProtocol") {
		t.Errorf("New = %v, want an error saying group.protocol is set through GroupProtocol", err)
	}
}
