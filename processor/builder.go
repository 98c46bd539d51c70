package processor

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Problems Build reports; each reported problem wraps one of these.
var (
	ErrDuplicateName     = errors.New("duplicate node name")
	ErrUnknownParent     = errors.New("unknown parent")
	ErrSelfParent        = errors.New("node is its own parent")
	ErrSinkAsParent      = errors.New("sink used as parent")
	ErrSourceWithParent  = errors.New("source cannot have parents")
	ErrNoParent          = errors.New("node has no parent")
	ErrCycle             = errors.New("cycle")
	ErrDuplicateTopic    = errors.New("topic read by two sources")
	ErrUnknownStore      = errors.New("store not registered")
	ErrUnconnectedStore  = errors.New("store not connected to any processor")
	ErrDuplicateStore    = errors.New("store registered twice")
	ErrTypeMismatch      = errors.New("type mismatch")
	ErrInvalidNode       = errors.New("invalid node")
	ErrEmptyTopology     = errors.New("topology has no source")
	ErrConnectedToSource = errors.New("store connected to a source or sink")
	ErrInvalidStore      = errors.New("invalid store")
)

// BuildError lists every problem Build found. errors.Is matches each
// problem's sentinel (ErrCycle, ErrTypeMismatch, ...).
type BuildError struct {
	Problems []error
}

// Error lists the problems, one per line.
func (e *BuildError) Error() string {
	if e == nil {
		return "processor: invalid topology"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "processor: invalid topology (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		if p == nil {
			b.WriteString("<nil>")
			continue
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *BuildError) Unwrap() []error { return e.Problems }

type nodeKind uint8

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

func (k nodeKind) String() string {
	switch k {
	case kindSource:
		return "source"
	case kindProcessor:
		return "processor"
	}
	return "sink"
}

// nodeSpec is one node as declared; it makes a runtime node per task.
type nodeSpec struct {
	name    string
	kind    nodeKind
	order   int
	parents []string
	stores  []string
	topics  []string // source topics
	sink    string   // fixed sink topic; "" for a topic function

	inK, inV, outK, outV reflect.Type

	// proto is a typed nil runtime node, used to check that a parent can
	// forward to it (nil for sources).
	proto any
	// accepts reports whether a node can forward to proto (nil for sinks).
	accepts func(proto any) bool
	// newNode makes the runtime node for one task.
	newNode func(g *Graph, n *nodeSpec) (runtimeNode, error)
	// problems found while declaring the node.
	problems []error
}

// Builder declares a topology. Its methods and the Add functions never fail;
// Build checks everything and reports every problem at once. A Builder is
// not safe for concurrent use.
//
// The zero Builder is an empty builder, as NewBuilder returns. A nil
// *Builder declares nothing: the Add functions and methods given one return
// nodes that belong to no topology, and its Build reports ErrEmptyTopology.
type Builder struct {
	nodes    []*nodeSpec
	byName   map[string]*nodeSpec
	stores   []store.Builder
	storeSet map[string]int
	connects []connect
	globals  []GlobalStore
	internal []InternalTopic
	problems []error
}

type connect struct {
	processor string
	stores    []string
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{byName: map[string]*nodeSpec{}, storeSet: map[string]int{}}
}

// init makes the zero Builder usable.
func (b *Builder) init() {
	if b.byName == nil {
		b.byName = map[string]*nodeSpec{}
	}
	if b.storeSet == nil {
		b.storeSet = map[string]int{}
	}
}

func (b *Builder) add(n *nodeSpec) {
	if b == nil {
		return
	}
	b.init()
	n.order = len(b.nodes)
	if n.name == "" {
		b.problems = append(b.problems, fmt.Errorf("%w: %s #%d has an empty name", ErrInvalidNode, n.kind, n.order))
	}
	if _, dup := b.byName[n.name]; dup && n.name != "" {
		b.problems = append(b.problems, fmt.Errorf("%w: %q", ErrDuplicateName, n.name))
		return
	}
	b.nodes = append(b.nodes, n)
	if n.name != "" {
		b.byName[n.name] = n
	}
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// SourceNode is a declared source; its methods set per-source options.
type SourceNode[K, V any] struct {
	spec *sourceSpec[K, V]
}

type sourceSpec[K, V any] struct {
	*nodeSpec
	ks        record.Deserializer[K]
	vs        record.Deserializer[V]
	extractor record.TimestampExtractor
	valueTS   record.ValueTimestampExtractor[K, V]
}

// AddSource declares a source node that reads topics with the given key and
// value deserializers (a Serde is a Deserializer). Each topic may be read by
// one source only.
func AddSource[K, V any](b *Builder, name string, keys record.Deserializer[K], values record.Deserializer[V], topics ...string) *SourceNode[K, V] {
	s := &sourceSpec[K, V]{nodeSpec: &nodeSpec{
		name: name, kind: kindSource, topics: append([]string(nil), topics...),
		outK: reflect.TypeFor[K](), outV: reflect.TypeFor[V](),
	}, ks: keys, vs: values}
	s.accepts = func(proto any) bool { _, ok := proto.(receiver[K, V]); return ok }
	s.newNode = func(g *Graph, _ *nodeSpec) (runtimeNode, error) { return newSourceNode(g, s) }
	if len(topics) == 0 {
		s.problems = append(s.problems, fmt.Errorf("%w: source %q has no topics", ErrInvalidNode, name))
	}
	for _, t := range topics {
		if t == "" {
			s.problems = append(s.problems, fmt.Errorf("%w: source %q has an empty topic name", ErrInvalidNode, name))
		}
	}
	if keys == nil || values == nil {
		s.problems = append(s.problems, fmt.Errorf("%w: source %q has a nil deserializer", ErrInvalidNode, name))
	}
	b.add(s.nodeSpec)
	return &SourceNode[K, V]{spec: s}
}

// WithTimestampExtractor sets the source's extractor, overriding the
// application default; nil keeps the default.
func (s *SourceNode[K, V]) WithTimestampExtractor(e record.TimestampExtractor) *SourceNode[K, V] {
	if s == nil || s.spec == nil { // the zero SourceNode declares nothing
		return s
	}
	s.spec.extractor = e
	return s
}

// WithValueTimestamp sets an extractor that reads the deserialized key and
// value, for event times carried in the payload. It overrides any other
// extractor; nil removes it.
func (s *SourceNode[K, V]) WithValueTimestamp(fn record.ValueTimestampExtractor[K, V]) *SourceNode[K, V] {
	if s == nil || s.spec == nil {
		return s
	}
	s.spec.valueTS = fn
	return s
}

// ProcessorNode is a declared processor; its methods connect stores.
type ProcessorNode struct {
	spec *nodeSpec
}

// AddProcessor declares a processor node fed by parents. The processor's
// input types must equal every parent's output types.
func AddProcessor[KIn, VIn, KOut, VOut any](b *Builder, name string, supplier Supplier[KIn, VIn, KOut, VOut], parents ...string) *ProcessorNode {
	n := &nodeSpec{
		name: name, kind: kindProcessor, parents: append([]string(nil), parents...),
		inK: reflect.TypeFor[KIn](), inV: reflect.TypeFor[VIn](),
		outK: reflect.TypeFor[KOut](), outV: reflect.TypeFor[VOut](),
		proto: (*procNode[KIn, VIn, KOut, VOut])(nil),
	}
	n.accepts = func(proto any) bool { _, ok := proto.(receiver[KOut, VOut]); return ok }
	n.newNode = func(g *Graph, _ *nodeSpec) (runtimeNode, error) { return newProcNode(g, n, supplier) }
	if supplier == nil {
		n.problems = append(n.problems, fmt.Errorf("%w: processor %q has a nil supplier", ErrInvalidNode, name))
	}
	b.add(n)
	return &ProcessorNode{spec: n}
}

// WithStores connects the processor to stores registered with AddStore.
func (p *ProcessorNode) WithStores(stores ...string) *ProcessorNode {
	if p == nil || p.spec == nil { // the zero ProcessorNode declares nothing
		return p
	}
	p.spec.stores = appendUnique(p.spec.stores, stores...)
	return p
}

// Partitioner picks the partition of an output record among numPartitions;
// ok=false leaves the choice to the producer's partitioner (murmur2 of the
// key, random for a null key).
type Partitioner[K, V any] func(topic string, r record.Record[K, V], numPartitions int32) (partition int32, ok bool)

// TopicFunc picks the topic of an output record; an empty result is an error.
type TopicFunc[K, V any] func(r record.Record[K, V]) string

// SinkNode is a declared sink; its methods set per-sink options.
type SinkNode[K, V any] struct {
	spec *sinkSpec[K, V]
}

type sinkSpec[K, V any] struct {
	*nodeSpec
	ks          record.Serializer[K]
	vs          record.Serializer[V]
	topicFn     TopicFunc[K, V]
	partitioner Partitioner[K, V]
}

// AddSink declares a sink that writes what its parents forward to topic,
// serialized with keys and values (a Serde is a Serializer).
func AddSink[K, V any](b *Builder, name, topic string, keys record.Serializer[K], values record.Serializer[V], parents ...string) *SinkNode[K, V] {
	s := newSinkSpec(name, keys, values, parents)
	s.sink = topic
	if topic == "" {
		s.problems = append(s.problems, fmt.Errorf("%w: sink %q has an empty topic", ErrInvalidNode, name))
	}
	b.add(s.nodeSpec)
	return &SinkNode[K, V]{spec: s}
}

// AddSinkFunc declares a sink that picks each record's topic with topicFn.
func AddSinkFunc[K, V any](b *Builder, name string, topicFn TopicFunc[K, V], keys record.Serializer[K], values record.Serializer[V], parents ...string) *SinkNode[K, V] {
	s := newSinkSpec(name, keys, values, parents)
	s.topicFn = topicFn
	if topicFn == nil {
		s.problems = append(s.problems, fmt.Errorf("%w: sink %q has a nil topic function", ErrInvalidNode, name))
	}
	b.add(s.nodeSpec)
	return &SinkNode[K, V]{spec: s}
}

func newSinkSpec[K, V any](name string, keys record.Serializer[K], values record.Serializer[V], parents []string) *sinkSpec[K, V] {
	s := &sinkSpec[K, V]{nodeSpec: &nodeSpec{
		name: name, kind: kindSink, parents: append([]string(nil), parents...),
		inK: reflect.TypeFor[K](), inV: reflect.TypeFor[V](),
		proto: (*sinkNode[K, V])(nil),
	}, ks: keys, vs: values}
	s.newNode = func(g *Graph, n *nodeSpec) (runtimeNode, error) { return newSinkNode(g, s, n.sink), nil }
	if keys == nil || values == nil {
		s.problems = append(s.problems, fmt.Errorf("%w: sink %q has a nil serializer", ErrInvalidNode, name))
	}
	return s
}

// WithPartitioner sets the sink's partitioner; nil leaves the choice to the
// producer.
func (s *SinkNode[K, V]) WithPartitioner(p Partitioner[K, V]) *SinkNode[K, V] {
	if s == nil || s.spec == nil { // the zero SinkNode declares nothing
		return s
	}
	s.spec.partitioner = p
	return s
}

// AddStore registers a store and connects it to the named processors.
// Every registered store must end up connected to at least one processor.
func (b *Builder) AddStore(sb store.Builder, processors ...string) *Builder {
	if b == nil {
		return b
	}
	b.init()
	if sb == nil {
		b.problems = append(b.problems, fmt.Errorf("%w: nil store builder", ErrInvalidNode))
		return b
	}
	// A builder is user code, and one made over a nil supplier may panic
	// naming itself: that is a build problem, not a crash.
	var name string
	if err := recoverBuild(func() error { name = sb.Name(); return nil }); err != nil {
		b.problems = append(b.problems, fmt.Errorf("%w: store builder %T: Name: %w", ErrInvalidStore, sb, err))
		return b
	}
	if _, dup := b.storeSet[name]; dup {
		b.problems = append(b.problems, fmt.Errorf("%w: %q", ErrDuplicateStore, name))
		return b
	}
	b.storeSet[name] = len(b.stores)
	b.stores = append(b.stores, sb)
	for _, p := range processors {
		b.connects = append(b.connects, connect{processor: p, stores: []string{name}})
	}
	return b
}

// ConnectStores connects a processor to stores, like WithStores.
func (b *Builder) ConnectStores(processor string, stores ...string) *Builder {
	if b == nil {
		return b
	}
	b.connects = append(b.connects, connect{processor: processor, stores: append([]string(nil), stores...)})
	return b
}

func appendUnique(dst []string, add ...string) []string {
	for _, s := range add {
		dup := false
		for _, d := range dst {
			if d == s {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst
}

// Build validates the declaration and returns the topology, or a
// *BuildError with every problem found.
func (b *Builder) Build() (*Topology, error) {
	if b == nil {
		return nil, &BuildError{Problems: []error{fmt.Errorf("%w: nil *Builder", ErrEmptyTopology)}}
	}
	b.init()
	problems := append([]error(nil), b.problems...)
	for _, n := range b.nodes {
		problems = append(problems, n.problems...)
	}
	problems = append(problems, b.checkInternal()...)

	// Store connections declared through the builder.
	for _, c := range b.connects {
		n, ok := b.byName[c.processor]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("%w: stores %v connected to unknown processor %q", ErrInvalidNode, c.stores, c.processor))
			continue
		case n.kind != kindProcessor:
			problems = append(problems, fmt.Errorf("%w: stores %v connected to %s %q", ErrConnectedToSource, c.stores, n.kind, c.processor))
			continue
		}
		n.stores = appendUnique(n.stores, c.stores...)
	}

	// Topics read by two sources.
	topicOwner := map[string]string{}
	for _, n := range b.nodes {
		if n.kind != kindSource {
			continue
		}
		if len(n.parents) > 0 {
			problems = append(problems, fmt.Errorf("%w: source %q", ErrSourceWithParent, n.name))
		}
		for _, t := range n.topics {
			if other, dup := topicOwner[t]; dup && t != "" {
				if other == n.name {
					problems = append(problems, fmt.Errorf("%w: source %q lists topic %q twice", ErrDuplicateTopic, n.name, t))
				} else {
					problems = append(problems, fmt.Errorf("%w: topic %q is read by sources %q and %q", ErrDuplicateTopic, t, other, n.name))
				}
				continue
			}
			topicOwner[t] = n.name
		}
	}
	globalNames := map[string]bool{}
	for _, g := range b.globals {
		if _, local := b.storeSet[g.Name]; local || globalNames[g.Name] {
			// Checked here, not when added, so the order of AddStore and
			// AddGlobalStore does not matter.
			problems = append(problems, fmt.Errorf("%w: %q", ErrDuplicateStore, g.Name))
		}
		globalNames[g.Name] = true
		if owner, dup := topicOwner[g.Topic]; dup {
			problems = append(problems, fmt.Errorf("%w: %w: %q (source %q, global store %q)", ErrDuplicateTopic, errGlobalTopic, g.Topic, owner, g.Name))
		}
		if v, ok := g.Builder.(interface{ Validate() error }); ok {
			if err := recoverBuild(v.Validate); err != nil {
				problems = append(problems, fmt.Errorf("%w: %w", ErrInvalidStore, err))
			}
		}
	}
	sources := 0
	for _, n := range b.nodes {
		if n.kind == kindSource {
			sources++
		}
	}
	if sources == 0 {
		problems = append(problems, ErrEmptyTopology)
	}

	// Parents: existence, self, sinks, types.
	children := map[string][]*nodeSpec{}
	for _, n := range b.nodes {
		if n.kind != kindSource && len(n.parents) == 0 {
			problems = append(problems, fmt.Errorf("%w: %s %q", ErrNoParent, n.kind, n.name))
		}
		seen := map[string]bool{}
		for _, pn := range n.parents {
			if seen[pn] {
				problems = append(problems, fmt.Errorf("%w: %s %q lists parent %q twice", ErrInvalidNode, n.kind, n.name, pn))
				continue
			}
			seen[pn] = true
			if pn == n.name {
				problems = append(problems, fmt.Errorf("%w: %s %q", ErrSelfParent, n.kind, n.name))
				continue
			}
			p, ok := b.byName[pn]
			if !ok {
				problems = append(problems, fmt.Errorf("%w: %s %q has parent %q, which is not declared", ErrUnknownParent, n.kind, n.name, pn))
				continue
			}
			if p.kind == kindSink {
				problems = append(problems, fmt.Errorf("%w: %s %q has sink %q as parent; sinks have no children", ErrSinkAsParent, n.kind, n.name, pn))
				continue
			}
			if n.proto != nil && !p.accepts(n.proto) {
				problems = append(problems, fmt.Errorf("%w: %s %q forwards (%s, %s) but its child %s %q takes (%s, %s)",
					ErrTypeMismatch, p.kind, p.name, p.outK, p.outV, n.kind, n.name, n.inK, n.inV))
				continue
			}
			children[pn] = append(children[pn], n)
		}
	}

	// Cycles: a depth-first search over declared edges.
	problems = append(problems, findCycles(b.nodes, children)...)

	// Stores: registered and connected.
	connected := map[string]bool{}
	for _, n := range b.nodes {
		for _, s := range n.stores {
			if _, ok := b.storeSet[s]; !ok {
				problems = append(problems, fmt.Errorf("%w: processor %q uses store %q", ErrUnknownStore, n.name, s))
				continue
			}
			connected[s] = true
		}
	}
	for _, sb := range b.stores {
		if v, ok := sb.(interface{ Validate() error }); ok {
			if err := recoverBuild(v.Validate); err != nil {
				problems = append(problems, fmt.Errorf("%w: %w", ErrInvalidStore, err))
			}
		}
		if !connected[sb.Name()] {
			problems = append(problems, fmt.Errorf("%w: %q", ErrUnconnectedStore, sb.Name()))
		}
	}

	if len(problems) > 0 {
		return nil, &BuildError{Problems: problems}
	}
	return newTopology(b, children), nil
}

// findCycles reports each cycle once, naming its nodes in order.
func findCycles(nodes []*nodeSpec, children map[string][]*nodeSpec) []error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var problems []error
	var stack []string
	var visit func(n *nodeSpec)
	visit = func(n *nodeSpec) {
		color[n.name] = grey
		stack = append(stack, n.name)
		for _, c := range children[n.name] {
			switch color[c.name] {
			case white:
				visit(c)
			case grey:
				i := len(stack) - 1
				for stack[i] != c.name {
					i--
				}
				path := append(append([]string(nil), stack[i:]...), c.name)
				problems = append(problems, fmt.Errorf("%w: %s", ErrCycle, strings.Join(quoteAll(path), " -> ")))
			}
		}
		stack = stack[:len(stack)-1]
		color[n.name] = black
	}
	for _, n := range nodes {
		if color[n.name] == white {
			visit(n)
		}
	}
	return problems
}

// recoverBuild calls user code the builder runs (a store builder's Name or
// Validate) and returns a panic there as an error wrapping handler.ErrPanic:
// Build reports it with the other problems. No stack: a build error is read
// by people, one problem a line.
func recoverBuild(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", handler.ErrPanic, p)
		}
	}()
	return fn()
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
