//go:build cgo

package placement_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/internal/placement"
	"github.com/millrace/millrace/kafkatest"
)

// Prediction = assignment on the embedded broker: raw librdkafka consumers
// (range, eager on the classic protocol) subscribe to co-partitioned topics
// A and B of six partitions each; after every stable assignment each
// member's assignment is Range over the keys read from the group's
// description, the same partition numbers of A and B, and after a member
// crashes every partition that moved, from the crashed member or between
// survivors, is on its Successor. The description is read here as
// streams' describeMembership reads it (unexported there; tested in
// streams).

const (
	partitions = 6
	settleIn   = 30 * time.Second // bound on every wait for a stable group
)

var topics = []string{"A", "B"}

// protocol is one way of running the group.
type protocol struct {
	name   string
	static bool              // members set group.instance.id
	props  map[string]string // added to every member's configuration
	broker map[string]string // kafkatest BrokerConfigs
}

var (
	classicStatic = protocol{name: "classic static", static: true, props: map[string]string{
		"partition.assignment.strategy": "range", "session.timeout.ms": "1500", "heartbeat.interval.ms": "200",
	}}
	classicDynamic = protocol{name: "classic dynamic", props: map[string]string{
		"partition.assignment.strategy": "range", "session.timeout.ms": "1500", "heartbeat.interval.ms": "200",
	}}
	kip848Static = protocol{name: "KIP-848 static", static: true, props: map[string]string{
		"group.protocol": "consumer", "group.remote.assignor": "range",
	}, broker: map[string]string{
		"group.consumer.heartbeat.interval.ms": "200",
		"group.consumer.session.timeout.ms":    "1500",
	}}
)

// member is one raw consumer: in this process, polled by its own goroutine
// until closed, or in a child process (the test binary run again, see
// TestMain) that reports its assignment on its stdout and is killed to
// crash it: a static KIP-848 member that closes sends a static leave,
// which the embedded broker never expires, so only a crash shows a
// departure of a static member under KIP-848.
type member struct {
	name string // client.id, and group.instance.id when static

	c    *kafka.Consumer // in-process
	stop chan struct{}
	done chan struct{}

	cmd    *exec.Cmd     // child process
	stderr *bytes.Buffer // the child's log, guarded by mu
	exited chan struct{} // closed when the child's stdout ends

	mu       sync.Mutex
	errs     []string           // fatal errors seen
	reported map[string][]int32 // the child's last reported assignment
}

// memberConfig returns the librdkafka configuration of member name.
func memberConfig(bootstrap, group string, proto protocol, name string) kafka.ConfigMap {
	cfg := kafka.ConfigMap{
		"bootstrap.servers":  bootstrap,
		"group.id":           group,
		"client.id":          name,
		"enable.auto.commit": false,
		"auto.offset.reset":  "earliest",
		"log_level":          3,
	}
	if proto.static {
		cfg["group.instance.id"] = name
	}
	for k, v := range proto.props {
		cfg[k] = v
	}
	return cfg
}

func startMember(t *testing.T, cl *kafkatest.Cluster, group string, proto protocol, name string) *member {
	t.Helper()
	cfg := memberConfig(cl.Bootstrap(), group, proto, name)
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := c.SubscribeTopics(topics, nil); err != nil {
		t.Fatalf("%s: subscribe: %v", name, err)
	}
	m := &member{name: name, c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go m.poll()
	t.Cleanup(func() {
		if !m.close() {
			t.Errorf("consumer %s did not close in 30 s", name)
		}
	})
	return m
}

// childSpec is what a child member is told through its environment.
type childSpec struct {
	Bootstrap, Group, Name string
	Static                 bool
	Props                  map[string]string
}

const childEnv = "MILLRACE_PLACEMENT_CHILD"

// startChild starts member name in a child process.
func startChild(t *testing.T, cl *kafkatest.Cluster, group string, proto protocol, name string) *member {
	t.Helper()
	spec, err := json.Marshal(childSpec{Bootstrap: cl.Bootstrap(), Group: group, Name: name, Static: proto.static, Props: proto.props})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	m := &member{name: name, cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = lockedWriter{&m.mu, m.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil { // the child exits when it closes
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "fatal "); ok {
				m.mu.Lock()
				m.errs = append(m.errs, rest)
				m.mu.Unlock()
				continue
			}
			var assigned map[string][]int32
			if err := json.Unmarshal([]byte(line), &assigned); err == nil {
				m.mu.Lock()
				m.reported = assigned
				m.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			m.mu.Lock()
			t.Logf("child %s log:\n%s", name, m.stderr.String())
			m.mu.Unlock()
		}
	})
	return m
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// poll serves an in-process consumer (rebalances are applied by the client
// itself: no callback) until stop, then closes it.
func (m *member) poll() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			_ = m.c.Close()
			return
		default:
		}
		if e, ok := m.c.Poll(50).(kafka.Error); ok && e.IsFatal() {
			m.mu.Lock()
			m.errs = append(m.errs, e.Error())
			m.mu.Unlock()
		}
	}
}

// close stops an in-process member's poller and waits up to 30 s for the
// consumer's Close; false if it did not return. Idempotent.
func (m *member) close() bool {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	select {
	case <-m.done:
		return true
	case <-time.After(30 * time.Second):
		return false
	}
}

// fatal returns the fatal errors the member has seen.
func (m *member) fatal() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

// kill crashes a child member (SIGKILL: no leave, no commit) and waits for
// it; idempotent.
func (m *member) kill() {
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
	<-m.exited
}

// assignment returns the member's partitions by topic, ascending.
func (m *member) assignment() (map[string][]int32, error) {
	if m.cmd != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.reported, nil
	}
	tps, err := m.c.Assignment()
	if err != nil {
		return nil, err
	}
	return byTopic(tps), nil
}

// byTopic groups partitions by topic, ascending.
func byTopic(tps []kafka.TopicPartition) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range tps {
		out[*tp.Topic] = append(out[*tp.Topic], tp.Partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// TestMain runs a child member when the environment asks for one.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild is a child member: it joins the group and writes its assignment
// as a JSON line whenever it changes, until killed or until its stdin
// closes (the parent is gone).
func runChild(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := memberConfig(spec.Bootstrap, spec.Group, protocol{static: spec.Static, props: spec.Props}, spec.Name)
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := c.SubscribeTopics(topics, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	last := ""
	for {
		if e, ok := c.Poll(50).(kafka.Error); ok && e.IsFatal() {
			fmt.Printf("fatal %s\n", e.Error())
		}
		tps, err := c.Assignment()
		if err != nil {
			continue
		}
		line, _ := json.Marshal(byTopic(tps))
		if string(line) != last {
			last = string(line)
			fmt.Println(last)
		}
	}
}

// describe reads the group's membership through confluent-kafka-go's admin
// client, turned into placement's plain values.
func describe(admin *kafka.AdminClient, group string) (placement.Membership, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := admin.DescribeConsumerGroups(ctx, []string{group})
	if err != nil {
		return placement.Membership{}, err
	}
	if len(res.ConsumerGroupDescriptions) != 1 {
		return placement.Membership{}, fmt.Errorf("%d descriptions", len(res.ConsumerGroupDescriptions))
	}
	d := res.ConsumerGroupDescriptions[0]
	if d.Error.Code() != kafka.ErrNoError {
		return placement.Membership{}, d.Error
	}
	m := placement.Membership{Group: d.GroupID, Assignor: d.PartitionAssignor}
	if d.State == kafka.ConsumerGroupStateStable {
		m.State = placement.StateStable
	}
	for _, md := range d.Members {
		m.Members = append(m.Members, placement.Described{InstanceID: md.GroupInstanceID, MemberID: md.ConsumerID, ClientID: md.ClientID})
	}
	return m, nil
}

// observed is a settled group: the predicted group built from the described
// keys, the client id of every key, and every member's partitions of A and B.
type observed struct {
	group    placement.Group
	clientOf map[placement.Member]string
	parts    map[string]map[string][]int32 // client id -> topic -> partitions
}

// settle waits until the group is Stable with exactly the live members and
// their assignments cover every partition of A and B once; it returns what
// it saw then. It never looks at the prediction, so a wrong prediction
// settles and then fails the comparison.
func settle(t *testing.T, admin *kafka.AdminClient, group string, live []*member) observed {
	t.Helper()
	want := make([]string, len(live))
	for i, m := range live {
		want[i] = m.name
	}
	sort.Strings(want)
	deadline := time.Now().Add(settleIn)
	var last string
	for {
		for _, m := range live {
			if errs := m.fatal(); len(errs) > 0 {
				t.Fatalf("%s: fatal error: %v", m.name, errs)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not settled with %v in %v; last: %s", want, settleIn, last)
		}
		ms, err := describe(admin, group)
		if err != nil {
			last = "describe: " + err.Error()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var clients []string
		for _, d := range ms.Members {
			clients = append(clients, d.ClientID)
		}
		sort.Strings(clients)
		if ms.State != placement.StateStable || !slices.Equal(clients, want) {
			last = fmt.Sprintf("state %v, members %v", ms.State, clients)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		parts, covered := assignments(t, live)
		if !covered {
			last = fmt.Sprintf("stable, assignments %v", parts)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		keys, predictable, err := ms.Keys()
		if err != nil {
			t.Fatal(err)
		}
		if !predictable {
			t.Fatalf("described members %v: order not predictable", ms.Members)
		}
		g, err := placement.NewGroup(keys, partitions)
		if err != nil {
			t.Fatal(err)
		}
		clientOf := map[placement.Member]string{}
		for _, d := range ms.Members {
			key := d.MemberID
			if d.InstanceID != "" {
				key = d.InstanceID
			}
			clientOf[placement.Member{Key: key}] = d.ClientID
		}
		return observed{group: g, clientOf: clientOf, parts: parts}
	}
}

// assignments reads every live member's assignment; covered says whether
// every partition of A and B is assigned exactly once.
func assignments(t *testing.T, live []*member) (map[string]map[string][]int32, bool) {
	t.Helper()
	parts := map[string]map[string][]int32{}
	count := map[string]int{}
	for _, m := range live {
		byTopic, err := m.assignment()
		if err != nil {
			t.Fatalf("%s: assignment: %v", m.name, err)
		}
		for topic, ps := range byTopic {
			for _, p := range ps {
				count[fmt.Sprintf("%s-%d", topic, p)]++
			}
		}
		parts[m.name] = byTopic
	}
	for _, topic := range topics {
		for p := 0; p < partitions; p++ {
			if count[fmt.Sprintf("%s-%d", topic, p)] != 1 {
				return parts, false
			}
		}
	}
	return parts, len(count) == len(topics)*partitions
}

// checkPrediction asserts that every member owns what Range predicts for
// its key, in A and in B alike.
func checkPrediction(t *testing.T, phase string, o observed) {
	t.Helper()
	for _, key := range o.group.Members() {
		name := o.clientOf[key]
		want := o.group.Owns(key)
		for _, topic := range topics {
			got := o.parts[name][topic]
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%s: %s (key %s) owns %s%v, predicted %v (%s)", phase, name, key, topic, got, want, render(o))
			}
		}
	}
}

func render(o observed) string {
	var b strings.Builder
	for _, key := range o.group.Members() {
		fmt.Fprintf(&b, "%s:A%vB%v ", o.clientOf[key], o.parts[o.clientOf[key]]["A"], o.parts[o.clientOf[key]]["B"])
	}
	return strings.TrimSpace(b.String())
}

// ownerName returns the client id owning partition p in an observed group,
// from the observed assignment of A.
func ownerName(o observed, p int32) string {
	for name, byTopic := range o.parts {
		if slices.Contains(byTopic["A"], p) {
			return name
		}
	}
	return ""
}

// runPlacement starts m2 and m0, joins m1 (a child process) then m3, then
// crashes m1 (SIGKILL), checking
// prediction = assignment at every stable point and, after m1 left, that
// every moved partition is on the Successor predicted before. It returns
// nothing; phases' durations are logged.
func runPlacement(t *testing.T, proto protocol, names func(i int) string) {
	cl, err := kafkatest.Start(kafkatest.Config{
		Topics:        map[string]int32{"A": partitions, "B": partitions},
		BrokerConfigs: proto.broker,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // before the clients: they close first
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	group := "placement-" + strings.ReplaceAll(proto.name, " ", "-")
	start := time.Now()
	phase := func(name string, live []*member) observed {
		t.Helper()
		began := time.Now()
		o := settle(t, admin, group, live)
		t.Logf("%s: settled in %v: %s", name, time.Since(began).Round(time.Millisecond), render(o))
		checkPrediction(t, name, o)
		return o
	}

	m2 := startMember(t, cl, group, proto, names(2))
	m0 := startMember(t, cl, group, proto, names(0))
	phase("m2, m0 start", []*member{m2, m0})
	m1 := startChild(t, cl, group, proto, names(1))
	phase("m1 joins", []*member{m2, m0, m1})
	m3 := startMember(t, cl, group, proto, names(3))
	before := phase("m3 joins", []*member{m2, m0, m1, m3})

	// Keys sort in the order of the names (fixed width), for dynamic
	// members too: their member ids start with the client id.
	var order []string
	for _, key := range before.group.Members() {
		order = append(order, before.clientOf[key])
	}
	if want := []string{names(0), names(1), names(2), names(3)}; !slices.Equal(order, want) {
		t.Errorf("sort order of the described keys %v, want %v", order, want)
	}

	m1.kill()
	after := phase("m1 crashes", []*member{m2, m0, m3})
	var gone placement.Member
	for key, name := range before.clientOf {
		if name == m1.name {
			gone = key
		}
	}
	moved := 0
	for p := int32(0); p < partitions; p++ {
		was, now := ownerName(before, p), ownerName(after, p)
		if was == now {
			continue
		}
		moved++
		succ, ok, err := before.group.Successor(p)
		if err != nil || !ok {
			t.Fatalf("Successor(%d): %v %v", p, ok, err)
		}
		if want := before.clientOf[succ]; now != want {
			t.Errorf("partition %d moved %s -> %s, predicted successor %s", p, was, now, want)
		}
		if was != m1.name {
			t.Logf("partition %d moved between survivors %s -> %s, its successor", p, was, now)
		}
	}
	if want := len(before.group.Owns(gone)); moved < want {
		t.Errorf("%d partitions moved, fewer than the %d of the member that left", moved, want)
	}
	t.Logf("%s: whole run %v", proto.name, time.Since(start).Round(time.Millisecond))
}

func TestPredictedRangeIsTheAssignmentOfStaticClassicMembers(t *testing.T) {
	runPlacement(t, classicStatic, func(i int) string { return fmt.Sprintf("s-m%d", i) })
}

func TestPredictedRangeIsTheAssignmentOfDynamicClassicMembersByFixedWidthClientID(t *testing.T) {
	runPlacement(t, classicDynamic, func(i int) string { return fmt.Sprintf("c-m%d", i) })
}

func TestPredictedRangeIsTheAssignmentOfStaticKIP848MembersUnderTheBrokersRange(t *testing.T) {
	runPlacement(t, kip848Static, func(i int) string { return fmt.Sprintf("k-m%d", i) })
}
