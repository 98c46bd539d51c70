package appadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTimeout bounds connecting to the cluster and each request when
// the options give no timeout.
const DefaultTimeout = 30 * time.Second

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "<topic>-<partition>", Kafka's notation.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// Member is one member of the application's consumer group.
type Member struct {
	MemberID string
	// InstanceID is the static member's group.instance.id (streams.Config
	// InstanceID); empty for a dynamic member.
	InstanceID string
	ClientID   string
	Host       string
	// Assigned are the partitions the group's leader gave the member,
	// sorted.
	Assigned []TopicPartition
}

// String describes the member in one line.
func (m Member) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (client %s, host %s", m.MemberID, m.ClientID, m.Host)
	if m.InstanceID != "" {
		fmt.Fprintf(&b, ", static instance %s", m.InstanceID)
	}
	b.WriteString(")")
	return b.String()
}

// Group is the state of the application's consumer group.
type Group struct {
	ID string
	// Exists is false when the broker knows no group of that id.
	Exists bool
	// State is the broker's group state: Empty, Stable,
	// PreparingRebalance, CompletingRebalance or Dead.
	State string
	// Protocol is the assignor the members agreed on (range for Millrace).
	Protocol string
	// Members, ordered by instance id, then member id.
	Members []Member
}

// cluster is one command's connection to Kafka, through franz-go's
// pure-Go client: the tool needs no cgo and no librdkafka.
type cluster struct {
	kc        *kgo.Client
	adm       *kadm.Client
	bootstrap string
	timeout   time.Duration
}

// connect opens a client on bootstrap and waits, at most timeout, for a
// broker to answer, so that an unreachable cluster is reported at once
// with the addresses tried.
func connect(ctx context.Context, bootstrap string, timeout time.Duration) (*cluster, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	seeds := splitList(bootstrap)
	if len(seeds) == 0 {
		return nil, fmt.Errorf("%w: no bootstrap servers (e.g. localhost:9092)", ErrInvalidOptions)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("millrace-admin"),
		kgo.DialTimeout(min(timeout, 10*time.Second)), kgo.RetryTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("%w: bootstrap servers %q: %v", ErrInvalidOptions, bootstrap, err)
	}
	c := &cluster{kc: kc, adm: kadm.NewClient(kc), bootstrap: strings.Join(seeds, ","), timeout: timeout}
	c.adm.SetTimeoutMillis(int32(min(timeout, time.Hour).Milliseconds()))
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.adm.BrokerMetadata(cctx); err != nil {
		kc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: no broker at %s answered within %v: %v", ErrUnreachable, c.bootstrap, timeout, err)
	}
	return c, nil
}

func (c *cluster) close() { c.kc.Close() }

// bounded returns ctx limited to the command's timeout, for one request.
func (c *cluster) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// group describes the consumer group id.
func (c *cluster) group(ctx context.Context, id string) (Group, error) {
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	gs, err := c.adm.DescribeGroups(cctx, id)
	if err != nil {
		return Group{}, fmt.Errorf("appadmin: describe consumer group %s: %w", id, err)
	}
	g := Group{ID: id}
	d, ok := gs[id]
	if !ok {
		return g, nil
	}
	if d.Err != nil {
		if errors.Is(d.Err, kerr.GroupIDNotFound) {
			g.State = "Dead"
			return g, nil
		}
		return Group{}, fmt.Errorf("appadmin: describe consumer group %s: %w", id, d.Err)
	}
	g.State, g.Protocol = d.State, d.Protocol
	g.Exists = d.State != "Dead" && d.State != ""
	for _, m := range d.Members {
		mem := Member{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mem.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					mem.Assigned = append(mem.Assigned, TopicPartition{t.Topic, p})
				}
			}
			slices.SortFunc(mem.Assigned, compareTP)
		}
		g.Members = append(g.Members, mem)
	}
	slices.SortFunc(g.Members, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.InstanceID, b.InstanceID), strings.Compare(a.MemberID, b.MemberID))
	})
	return g, nil
}

// committed returns the group's committed offsets, by partition.
func (c *cluster) committed(ctx context.Context, group string) (map[TopicPartition]int64, error) {
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	offs, err := c.adm.FetchOffsets(cctx, group)
	if err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			return map[TopicPartition]int64{}, nil
		}
		return nil, fmt.Errorf("appadmin: fetch committed offsets of group %s: %w", group, err)
	}
	out := map[TopicPartition]int64{}
	var errs []error
	offs.Each(func(o kadm.OffsetResponse) {
		switch {
		case o.Err != nil:
			errs = append(errs, fmt.Errorf("%s-%d: %w", o.Topic, o.Partition, o.Err))
		case o.At >= 0:
			out[TopicPartition{o.Topic, o.Partition}] = o.At
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("appadmin: fetch committed offsets of group %s: %w", group, errors.Join(errs...))
	}
	return out, nil
}

// topicInfo is what the tool needs of a topic.
type topicInfo struct {
	partitions int32
}

// topics lists the cluster's topics (Kafka's own, such as
// __consumer_offsets, left out).
func (c *cluster) topics(ctx context.Context) (map[string]topicInfo, error) {
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	td, err := c.adm.ListTopics(cctx)
	if err != nil {
		return nil, fmt.Errorf("appadmin: list topics: %w", err)
	}
	out := map[string]topicInfo{}
	for name, d := range td {
		if d.Err != nil {
			continue // being created or deleted: not usable either way
		}
		out[name] = topicInfo{partitions: int32(len(d.Partitions))}
	}
	return out, nil
}

// listed turns a kadm listing into offsets by partition, reporting the
// partitions it could not list.
func listed(what string, lo kadm.ListedOffsets, err error) (map[TopicPartition]int64, error) {
	if err != nil {
		return nil, fmt.Errorf("appadmin: list %s offsets: %w", what, err)
	}
	out := map[TopicPartition]int64{}
	var errs []error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		out[TopicPartition{o.Topic, o.Partition}] = o.Offset
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("appadmin: list %s offsets: %w", what, errors.Join(errs...))
	}
	return out, nil
}

func (c *cluster) startOffsets(ctx context.Context, topics []string) (map[TopicPartition]int64, error) {
	if len(topics) == 0 {
		return map[TopicPartition]int64{}, nil
	}
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	lo, err := c.adm.ListStartOffsets(cctx, topics...)
	return listed("start", lo, err)
}

func (c *cluster) endOffsets(ctx context.Context, topics []string) (map[TopicPartition]int64, error) {
	if len(topics) == 0 {
		return map[TopicPartition]int64{}, nil
	}
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	lo, err := c.adm.ListEndOffsets(cctx, topics...)
	return listed("end", lo, err)
}

// offsetsAt returns, per partition, the first offset whose timestamp is at
// or after ms, or the end offset where there is none.
func (c *cluster) offsetsAt(ctx context.Context, ms int64, topics []string) (map[TopicPartition]int64, error) {
	if len(topics) == 0 {
		return map[TopicPartition]int64{}, nil
	}
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	lo, err := c.adm.ListOffsetsAfterMilli(cctx, ms, topics...)
	return listed("timestamp", lo, err)
}

// cleanupPolicies returns the cleanup.policy of each topic.
func (c *cluster) cleanupPolicies(ctx context.Context, topics []string) (map[string]string, error) {
	out := map[string]string{}
	if len(topics) == 0 {
		return out, nil
	}
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	rcs, err := c.adm.DescribeTopicConfigs(cctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("appadmin: describe topic configs: %w", err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("appadmin: describe config of topic %s: %w", rc.Name, rc.Err)
		}
		for _, cfg := range rc.Configs {
			if cfg.Key == "cleanup.policy" {
				out[rc.Name] = cfg.MaybeValue()
			}
		}
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
