package appadmin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/millrace/millrace/processor"
)

// DescribeOptions configures DescribeCluster. ApplicationID and
// BootstrapServers are required.
type DescribeOptions struct {
	ApplicationID    string
	BootstrapServers string
	// Topology, when set, names the input topics and the internal topics
	// (its own, beside those found by name).
	Topology *processor.Topology
	// Timeout bounds connecting and each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// PartitionOffset is the group's position in one partition.
type PartitionOffset struct {
	TopicPartition
	// Committed is the group's committed offset; -1 when none.
	Committed int64
	// End is the partition's end offset (high watermark).
	End int64
	// Lag is End - Committed, or, with nothing committed, End minus the
	// partition's start (what the App would read from the start).
	Lag int64
	// Internal marks a partition of an internal topic (a repartition
	// topic's offsets are committed too).
	Internal bool
}

// TopicDescription is one internal topic as the cluster has it.
type TopicDescription struct {
	Name          string
	Partitions    int32
	CleanupPolicy string
}

// ClusterDescription is an application as the cluster sees it.
type ClusterDescription struct {
	ApplicationID string
	Bootstrap     string
	Group         Group
	// InputTopics and where they came from: the topology, else the
	// group's committed offsets and its members' assignments (internal
	// topics excepted).
	InputTopics     []string
	InputTopicsFrom TopicSource
	// Offsets of every partition of the input topics, and of every other
	// partition the group committed, sorted.
	Offsets []PartitionOffset
	// InternalTopics that exist, sorted, found by name and, with a
	// topology, declared by it.
	InternalTopics     []TopicDescription
	InternalTopicsFrom TopicSource
	// NotCreated are internal topics of the topology that do not exist
	// (yet): the App creates them at start.
	NotCreated []string
}

// DescribeCluster describes an application's consumer group, its members
// and their assignments, its committed offsets and lag, and its internal
// topics with their partition counts and cleanup policies. It changes
// nothing. An application the cluster knows nothing of (no group, no
// committed offsets, no internal topics) is ErrUnknownGroup.
func DescribeCluster(ctx context.Context, opts DescribeOptions) (*ClusterDescription, error) {
	var problems []string
	if err := checkApplicationID(opts.ApplicationID); err != nil {
		problems = append(problems, err.Error())
	}
	if len(splitList(opts.BootstrapServers)) == 0 {
		problems = append(problems, "no bootstrap servers (e.g. localhost:9092)")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	c, err := connect(ctx, opts.BootstrapServers, opts.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	app := opts.ApplicationID
	d := &ClusterDescription{ApplicationID: app, Bootstrap: c.bootstrap}
	if d.Group, err = c.group(ctx, app); err != nil {
		return nil, err
	}
	committed, err := c.committed(ctx, app)
	if err != nil {
		return nil, err
	}
	topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	topo := TopicsOf(opts.Topology, app)
	internal := map[string]bool{}
	byName, byTopo := false, false
	for t := range topics {
		if IsInternalTopic(app, t) {
			internal[t], byName = true, true
		}
	}
	for _, t := range topo.Internal {
		if _, ok := topics[t]; ok {
			internal[t], byTopo = true, true
		} else {
			d.NotCreated = append(d.NotCreated, t)
		}
	}
	d.InternalTopicsFrom = FromNames
	switch {
	case byName && byTopo:
		d.InternalTopicsFrom = FromNamesAndTopology
	case byTopo:
		d.InternalTopicsFrom = FromTopology
	}
	if !d.Group.Exists && len(committed) == 0 && len(internal) == 0 {
		return nil, fmt.Errorf("%w: %s: the cluster at %s has no consumer group %s (no members, no committed offsets) "+
			"and no internal topic named %s-...; check --application-id", ErrUnknownGroup, app, c.bootstrap, app, app)
	}

	if opts.Topology != nil {
		d.InputTopics, d.InputTopicsFrom = topo.Inputs, FromTopology
	} else {
		// A running group may not have committed yet: its members'
		// assignments name the inputs too.
		d.InputTopicsFrom = FromGroup
		seen := slices.Collect(maps.Keys(committed))
		for _, m := range d.Group.Members {
			seen = append(seen, m.Assigned...)
		}
		for _, tp := range seen {
			if _, ok := topics[tp.Topic]; ok && !internal[tp.Topic] && !IsInternalTopic(app, tp.Topic) {
				d.InputTopics = append(d.InputTopics, tp.Topic)
			}
		}
		slices.Sort(d.InputTopics)
		d.InputTopics = slices.Compact(d.InputTopics)
	}
	parts := map[TopicPartition]bool{}
	for _, t := range d.InputTopics {
		for p := range topics[t].partitions {
			parts[TopicPartition{t, p}] = true
		}
	}
	for tp := range committed {
		if _, ok := topics[tp.Topic]; ok {
			parts[tp] = true
		}
	}
	var listTopics []string
	for tp := range parts {
		listTopics = append(listTopics, tp.Topic)
	}
	slices.Sort(listTopics)
	listTopics = slices.Compact(listTopics)
	start, err := c.startOffsets(ctx, listTopics)
	if err != nil {
		return nil, err
	}
	end, err := c.endOffsets(ctx, listTopics)
	if err != nil {
		return nil, err
	}
	for tp := range parts {
		po := PartitionOffset{TopicPartition: tp, Committed: -1, End: end[tp], Internal: internal[tp.Topic]}
		if off, ok := committed[tp]; ok {
			po.Committed = off
			po.Lag = max(po.End-off, 0)
		} else {
			po.Lag = max(po.End-start[tp], 0)
		}
		d.Offsets = append(d.Offsets, po)
	}
	slices.SortFunc(d.Offsets, func(a, b PartitionOffset) int { return compareTP(a.TopicPartition, b.TopicPartition) })

	names := slices.Sorted(maps.Keys(internal))
	policies, err := c.cleanupPolicies(ctx, names)
	if err != nil {
		return nil, err
	}
	for _, t := range names {
		d.InternalTopics = append(d.InternalTopics, TopicDescription{Name: t, Partitions: topics[t].partitions, CleanupPolicy: policies[t]})
	}
	return d, nil
}

// String prints the description as tables for a person.
func (d *ClusterDescription) String() string {
	if d == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Application %s on %s\n", d.ApplicationID, d.Bootstrap)
	fmt.Fprintf(&b, "\nConsumer group %s: %s", d.Group.ID, groupState(d.Group))
	if d.Group.Protocol != "" {
		fmt.Fprintf(&b, ", assignor %s", d.Group.Protocol)
	}
	b.WriteString("\n")
	for _, m := range d.Group.Members {
		fmt.Fprintf(&b, "  member %s\n", m)
		var tps []string
		for _, tp := range m.Assigned {
			tps = append(tps, tp.String())
		}
		fmt.Fprintf(&b, "    assigned: %s\n", listOrNone(tps))
	}

	fmt.Fprintf(&b, "\nInput topics, from %s: %s\n", d.InputTopicsFrom, listOrNone(d.InputTopics))
	if len(d.Offsets) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PARTITION\tCOMMITTED\tEND\tLAG")
		for _, o := range d.Offsets {
			committed := "none"
			if o.Committed >= 0 {
				committed = fmt.Sprint(o.Committed)
			}
			kind := ""
			if o.Internal {
				kind = "\tinternal"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d%s\n", o.TopicPartition, committed, o.End, o.Lag, kind)
		}
		tw.Flush()
	}

	fmt.Fprintf(&b, "\nInternal topics, found by %s:", d.InternalTopicsFrom)
	if len(d.InternalTopics) == 0 {
		b.WriteString(" none\n")
	} else {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TOPIC\tPARTITIONS\tCLEANUP POLICY")
		for _, t := range d.InternalTopics {
			policy := t.CleanupPolicy
			if policy == "" {
				policy = "unknown"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", t.Name, t.Partitions, policy)
		}
		tw.Flush()
	}
	if len(d.NotCreated) > 0 {
		fmt.Fprintf(&b, "  not created yet (the App creates them at start): %s\n", strings.Join(d.NotCreated, ", "))
	}
	return b.String()
}

// DescribeTopology returns what Kafka Streams' Topology#describe prints
// for topo, followed by its input topics and the internal topics the App
// creates for it, named for applicationID (empty: "<application-id>").
// It needs no cluster.
func DescribeTopology(topo *processor.Topology, applicationID string) string {
	id := applicationID
	if id == "" {
		id = "<application-id>"
	}
	var b strings.Builder
	b.WriteString(topo.ForApplication(id).Describe().String())
	tt := TopicsOf(topo, id)
	fmt.Fprintf(&b, "\nInput topics (rewound by reset): %s\n", listOrNone(tt.Inputs))
	fmt.Fprintf(&b, "Internal topics (created by the App, deleted by reset): %s\n", listOrNone(tt.Internal))
	return b.String()
}
