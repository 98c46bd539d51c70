package processor

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/millrace/millrace/store"
)

// Topology is a validated, immutable topology. It is safe for concurrent use;
// each task instantiates its own Graph from it. Only Build makes a useful
// one; the zero Topology and a nil *Topology have no sub-topologies, and
// NewGraph fails on them.
type Topology struct {
	nodes         []*nodeSpec
	byName        map[string]*nodeSpec
	children      map[string][]*nodeSpec
	stores        []store.Builder
	storeIndex    map[string]int
	subtopologies []*subtopology
	topicSub      map[string]int
	globals       []GlobalStore
	internal      []InternalTopic
	// appID is the application ForApplication named the internal topics
	// for ("" as declared); declared is the topology before that.
	appID    string
	declared *Topology
}

type subtopology struct {
	id           int
	nodes        []*nodeSpec // registration order
	sourceTopics []string
	sinkTopics   []string
	stores       []string
}

// Subtopology describes one sub-topology: what it reads, writes and stores.
type Subtopology struct {
	ID int
	// SourceTopics in the order their sources were added.
	SourceTopics []string
	// SinkTopics are the fixed topics its sinks write (sinks with a topic
	// function are not listed).
	SinkTopics []string
	// Stores used by its processors, in registration order.
	Stores []string
}

// newTopology snapshots what b declares, so the Builder may change (or build
// again) without touching the topology.
func newTopology(b *Builder, builderChildren map[string][]*nodeSpec) *Topology {
	specs := make(map[*nodeSpec]*nodeSpec, len(b.nodes))
	nodes := make([]*nodeSpec, len(b.nodes))
	byName := make(map[string]*nodeSpec, len(b.nodes))
	for i, n := range b.nodes {
		c := *n
		c.parents, c.stores, c.topics = slices.Clone(n.parents), slices.Clone(n.stores), slices.Clone(n.topics)
		specs[n], nodes[i], byName[c.name] = &c, &c, &c
	}
	children := make(map[string][]*nodeSpec, len(builderChildren))
	for parent, cs := range builderChildren {
		for _, c := range cs {
			children[parent] = append(children[parent], specs[c])
		}
	}
	t := &Topology{
		nodes: nodes, byName: byName, children: children,
		stores: slices.Clone(b.stores), storeIndex: maps.Clone(b.storeSet), topicSub: map[string]int{},
		globals: slices.Clone(b.globals), internal: slices.Clone(b.internal),
	}
	// Union-find over parent edges and shared stores.
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		return x
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[ra] = rb
		}
	}
	storeUser := map[string]string{}
	for _, n := range t.nodes {
		parent[n.name] = n.name
	}
	for _, n := range t.nodes {
		for _, p := range n.parents {
			union(n.name, p)
		}
		for _, s := range n.stores {
			if u, ok := storeUser[s]; ok {
				union(n.name, u)
			} else {
				storeUser[s] = n.name
			}
		}
	}
	rootSub := map[string]*subtopology{}
	for _, n := range t.nodes {
		r := find(n.name)
		st, ok := rootSub[r]
		if !ok {
			st = &subtopology{id: len(t.subtopologies)}
			rootSub[r] = st
			t.subtopologies = append(t.subtopologies, st)
		}
		st.nodes = append(st.nodes, n)
		switch n.kind {
		case kindSource:
			for _, topic := range n.topics {
				st.sourceTopics = append(st.sourceTopics, topic)
				t.topicSub[topic] = st.id
			}
		case kindSink:
			if n.sink != "" {
				st.sinkTopics = appendUnique(st.sinkTopics, n.sink)
			}
		}
	}
	for _, sb := range t.stores {
		if u, ok := storeUser[sb.Name()]; ok {
			st := rootSub[find(u)]
			st.stores = append(st.stores, sb.Name())
		}
	}
	return t
}

// Subtopologies returns a description of each sub-topology, by id.
func (t *Topology) Subtopologies() []Subtopology {
	if t == nil {
		return nil
	}
	out := make([]Subtopology, len(t.subtopologies))
	for i, st := range t.subtopologies {
		out[i] = Subtopology{
			ID:           st.id,
			SourceTopics: slices.Clone(st.sourceTopics),
			SinkTopics:   slices.Clone(st.sinkTopics),
			Stores:       slices.Clone(st.stores),
		}
	}
	return out
}

// SourceTopics returns every topic read by the topology.
func (t *Topology) SourceTopics() []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, st := range t.subtopologies {
		out = append(out, st.sourceTopics...)
	}
	return out
}

// SubtopologyOf returns the id of the sub-topology that reads topic.
func (t *Topology) SubtopologyOf(topic string) (int, bool) {
	if t == nil {
		return 0, false
	}
	id, ok := t.topicSub[topic]
	return id, ok
}

// StoreBuilder returns the builder registered under name.
func (t *Topology) StoreBuilder(name string) (store.Builder, bool) {
	if t == nil {
		return nil, false
	}
	i, ok := t.storeIndex[name]
	if !ok {
		return nil, false
	}
	return t.stores[i], true
}

// Describe returns the topology's description; its String method prints the
// layout of Kafka Streams' TopologyDescription.
func (t *Topology) Describe() *Description {
	d := &Description{}
	if t == nil {
		return d
	}
	for _, st := range t.subtopologies {
		in := map[string]bool{}
		for _, n := range st.nodes {
			in[n.name] = true
		}
		size := map[string]int{}
		var sizeOf func(n *nodeSpec) int
		sizeOf = func(n *nodeSpec) int {
			if s, ok := size[n.name]; ok {
				return s
			}
			s := 1
			for _, c := range t.children[n.name] {
				s += sizeOf(c)
			}
			size[n.name] = s
			return s
		}
		order := func(names []string) []string {
			out := slices.Clone(names)
			slices.SortFunc(out, func(a, b string) int {
				sa, sb := sizeOf(t.byName[a]), sizeOf(t.byName[b])
				if sa != sb {
					return sb - sa
				}
				return strings.Compare(a, b)
			})
			return out
		}
		sd := SubtopologyDescription{ID: st.id}
		var names []string
		for _, n := range st.nodes {
			names = append(names, n.name)
		}
		for _, name := range order(names) {
			n := t.byName[name]
			nd := NodeDescription{Name: n.name, Kind: n.kind.String()}
			var kids []string
			for _, c := range t.children[n.name] {
				kids = append(kids, c.name)
			}
			nd.Successors = order(kids)
			nd.Predecessors = order(n.parents)
			switch n.kind {
			case kindSource:
				nd.Topics = make([]string, len(n.topics))
				for i, topic := range n.topics {
					nd.Topics[i] = t.describedTopic(topic)
				}
			case kindProcessor:
				nd.Stores = slices.Clone(n.stores)
			case kindSink:
				nd.Topic = t.describedTopic(n.sink)
			}
			sd.Nodes = append(sd.Nodes, nd)
		}
		d.Subtopologies = append(d.Subtopologies, sd)
	}
	for i, g := range t.globals {
		d.GlobalStores = append(d.GlobalStores, GlobalStoreDescription{ID: len(t.subtopologies) + i, Store: g.Name, Topic: g.Topic})
	}
	prefix := t.appID
	if prefix == "" {
		prefix = "<application-id>"
	}
	for _, st := range t.subtopologies {
		for _, name := range st.stores {
			sb := t.stores[t.storeIndex[name]]
			sd := StoreDescription{Name: name, Subtopology: st.id, Kind: "state"}
			if k, ok := sb.(interface{ Kind() string }); ok {
				sd.Kind = k.Kind()
			}
			if lg, ok := sb.(store.Logged); ok && lg.LoggingEnabled() {
				sd.Changelog = store.ChangelogTopic(prefix, name)
			}
			d.Stores = append(d.Stores, sd)
		}
	}
	for _, it := range t.internal {
		name := it.Name
		if t.appID == "" {
			name = prefix + "-" + it.Declared
		}
		d.InternalTopics = append(d.InternalTopics, InternalTopicDescription{Name: name, Partitions: it.Partitions})
	}
	return d
}

// StoreDescription is one store of a sub-topology.
type StoreDescription struct {
	Name        string
	Subtopology int
	// Kind is "key-value", "window" or "session" ("state" for builders
	// of other kinds).
	Kind string
	// Changelog is the store's changelog topic; empty without one. Before
	// ForApplication it starts with <application-id>.
	Changelog string
}

// InternalTopicDescription is one internal (repartition) topic.
type InternalTopicDescription struct {
	// Name as run; before ForApplication it starts with <application-id>.
	Name string
	// Partitions is the declared count; 0 means the runtime derives it.
	Partitions int32
}

// describedTopic names an internal topic of a topology not yet named for
// an application <application-id>-<name>, as it will run.
func (t *Topology) describedTopic(topic string) string {
	if t.appID != "" {
		return topic
	}
	for _, it := range t.internal {
		if it.Declared == topic {
			return "<application-id>-" + topic
		}
	}
	return topic
}

// Description is a topology's structure.
type Description struct {
	Subtopologies []SubtopologyDescription
	GlobalStores  []GlobalStoreDescription
	// Stores of the sub-topologies, by sub-topology then registration.
	Stores []StoreDescription
	// InternalTopics are the repartition topics, in declaration order.
	InternalTopics []InternalTopicDescription
}

// GlobalStoreDescription is a global store: Kafka Streams describes it as a
// sub-topology that generates no tasks.
type GlobalStoreDescription struct {
	ID    int
	Store string
	Topic string
}

// SubtopologyDescription lists a sub-topology's nodes, ordered as Kafka
// Streams orders them: larger downstream subtree first, then by name.
type SubtopologyDescription struct {
	ID    int
	Nodes []NodeDescription
}

// NodeDescription is one node and its edges.
type NodeDescription struct {
	Name string
	// Kind is "source", "processor" or "sink".
	Kind string
	// Topics read by a source.
	Topics []string
	// Topic written by a sink; empty when a topic function picks it.
	Topic string
	// Stores a processor uses.
	Stores       []string
	Successors   []string
	Predecessors []string
}

// String prints the description in the layout of Kafka Streams'
// TopologyDescription.toString.
func (d *Description) String() string {
	if d == nil {
		d = &Description{}
	}
	var b strings.Builder
	b.WriteString("Topologies:\n ")
	for _, st := range d.Subtopologies {
		fmt.Fprintf(&b, "  Sub-topology: %d\n", st.ID)
		for _, n := range st.Nodes {
			switch n.Kind {
			case "source":
				fmt.Fprintf(&b, "    Source: %s (topics: [%s])\n      --> %s\n", n.Name, strings.Join(n.Topics, ", "), names(n.Successors))
			case "processor":
				fmt.Fprintf(&b, "    Processor: %s (stores: [%s])\n      --> %s\n      <-- %s\n", n.Name, strings.Join(n.Stores, ", "), names(n.Successors), names(n.Predecessors))
			case "sink":
				topic := "topic: " + n.Topic
				if n.Topic == "" {
					topic = "topic extractor: function"
				}
				fmt.Fprintf(&b, "    Sink: %s (%s)\n      <-- %s\n", n.Name, topic, names(n.Predecessors))
			}
		}
		b.WriteString("\n")
	}
	for _, g := range d.GlobalStores {
		fmt.Fprintf(&b, "  Sub-topology: %d for global store (will not generate tasks)\n", g.ID)
		fmt.Fprintf(&b, "    Source: %s-global-source (topics: [%s])\n      --> %s-global-updater\n", g.Store, g.Topic, g.Store)
		fmt.Fprintf(&b, "    Processor: %s-global-updater (stores: [%s])\n      --> none\n      <-- %s-global-source\n\n", g.Store, g.Store, g.Store)
	}
	if len(d.Stores) > 0 {
		b.WriteString("  Stores:\n")
		for _, s := range d.Stores {
			changelog := "no changelog"
			if s.Changelog != "" {
				changelog = "changelog " + s.Changelog
			}
			fmt.Fprintf(&b, "    %s (%s, sub-topology %d, %s)\n", s.Name, s.Kind, s.Subtopology, changelog)
		}
	}
	if len(d.InternalTopics) > 0 {
		b.WriteString("  Repartition topics:\n")
		for _, it := range d.InternalTopics {
			parts := "partitions derived at start"
			if it.Partitions > 0 {
				parts = fmt.Sprintf("%d partitions", it.Partitions)
			}
			fmt.Fprintf(&b, "    %s (%s)\n", it.Name, parts)
		}
	}
	return b.String()
}

func names(ns []string) string {
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}
