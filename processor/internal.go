package processor

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrInternalTopic is wrapped by the Build problems of an internal topic
// declared wrongly: an empty or duplicate name, a negative partition count,
// or a topic no source reads or no sink writes.
var ErrInternalTopic = errors.New("invalid internal topic")

// InternalTopic is a topic the topology itself owns, as the repartition
// topics of the DSL are: a sink of one sub-topology writes it and a source
// of another reads it. Sources and sinks name it by its declared Name; the
// running topology (see ForApplication) names it
// <application-id>-<Name>, and the runtime creates it at start next to the
// changelogs, so nothing outside the application needs to know it exists.
type InternalTopic struct {
	// Name as declared (before ForApplication) or as run (after).
	Name string
	// Declared is the name as declared, in both cases.
	Declared string
	// Partitions is the partition count; 0 lets the runtime derive it:
	// the count of the topics the reading sub-topology must be
	// co-partitioned with (external topics, or internal ones with a fixed
	// count), if it reads any; otherwise the largest partition count among
	// the source topics of the sub-topologies that write the topic.
	Partitions int32
	// Config holds topic properties for its creation (cleanup.policy,
	// retention.ms, ...).
	Config map[string]string
	// Purge says the runtime may delete records of the topic once the
	// offsets of the sub-topology reading it are committed past them, as
	// Kafka Streams does for repartition topics.
	Purge bool
}

// AddInternalTopic declares an internal topic; a source and a sink of this
// builder refer to it by name. Partitions 0 lets the runtime choose.
func (b *Builder) AddInternalTopic(t InternalTopic) *Builder {
	if b == nil {
		return b
	}
	b.init()
	t.Declared = t.Name
	t.Config = maps.Clone(t.Config)
	b.internal = append(b.internal, t)
	return b
}

// checkInternal reports internal topics declared wrongly.
func (b *Builder) checkInternal() []error {
	var problems []error
	seen := map[string]bool{}
	read, written := map[string]bool{}, map[string]bool{}
	for _, n := range b.nodes {
		for _, t := range n.topics {
			read[t] = true
		}
		if n.sink != "" {
			written[n.sink] = true
		}
	}
	for _, t := range b.internal {
		switch {
		case t.Name == "":
			problems = append(problems, fmt.Errorf("%w: empty name", ErrInternalTopic))
			continue
		case seen[t.Name]:
			problems = append(problems, fmt.Errorf("%w: %q declared twice", ErrInternalTopic, t.Name))
			continue
		case t.Partitions < 0:
			problems = append(problems, fmt.Errorf("%w: %q has %d partitions", ErrInternalTopic, t.Name, t.Partitions))
		}
		seen[t.Name] = true
		if !read[t.Name] {
			problems = append(problems, fmt.Errorf("%w: no source reads %q", ErrInternalTopic, t.Name))
		}
		if !written[t.Name] {
			problems = append(problems, fmt.Errorf("%w: no sink writes %q", ErrInternalTopic, t.Name))
		}
	}
	return problems
}

// InternalTopics returns the topology's internal topics, named as run
// after ForApplication.
func (t *Topology) InternalTopics() []InternalTopic {
	if t == nil {
		return nil
	}
	out := slices.Clone(t.internal)
	for i := range out {
		out[i].Config = maps.Clone(out[i].Config)
	}
	return out
}

// InternalTopic returns the internal topic of that name (as run), if any.
func (t *Topology) InternalTopic(name string) (InternalTopic, bool) {
	if t == nil {
		return InternalTopic{}, false
	}
	for _, it := range t.internal {
		if it.Name == name {
			it.Config = maps.Clone(it.Config)
			return it, true
		}
	}
	return InternalTopic{}, false
}

// ForApplication returns the topology as application applicationID runs
// it: every internal topic is named <applicationID>-<declared name> in the
// sources and sinks that use it, in Describe and in every topic list. The
// runtimes (streams.App, testdriver.Driver) call it; calling it again with
// the same id returns the same topology, and a topology without internal
// topics is returned unchanged. t itself is not modified. It copies the
// topology's node declarations once (at start); the running graphs pay
// nothing per record for it.
func (t *Topology) ForApplication(applicationID string) *Topology {
	if t == nil || len(t.internal) == 0 || t.appID == applicationID {
		return t
	}
	if t.appID != "" { // already named for another application: start over from the declared names
		t = t.declared
	}
	rename := make(map[string]string, len(t.internal))
	internal := slices.Clone(t.internal)
	for i := range internal {
		internal[i].Name = applicationID + "-" + internal[i].Declared
		rename[internal[i].Declared] = internal[i].Name
	}
	renamed := func(topic string) string {
		if r, ok := rename[topic]; ok {
			return r
		}
		return topic
	}
	b := &Builder{byName: map[string]*nodeSpec{}, stores: t.stores, storeSet: t.storeIndex, globals: t.globals, internal: internal}
	copies := make(map[*nodeSpec]*nodeSpec, len(t.nodes))
	for _, n := range t.nodes {
		c := *n
		c.topics = make([]string, len(n.topics))
		for i, topic := range n.topics {
			c.topics[i] = renamed(topic)
		}
		c.sink = renamed(n.sink)
		copies[n] = &c
		b.nodes = append(b.nodes, &c)
		b.byName[c.name] = &c
	}
	children := make(map[string][]*nodeSpec, len(t.children))
	for parent, cs := range t.children {
		for _, c := range cs {
			children[parent] = append(children[parent], copies[c])
		}
	}
	out := newTopology(b, children)
	out.appID, out.declared = applicationID, t
	return out
}
