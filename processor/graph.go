package processor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Host is what the task running a Graph provides to it.
type Host interface {
	// StreamTime returns the task's stream time or record.UnknownTime.
	StreamTime() int64
	// WallClockTime returns the task's wall-clock time in milliseconds.
	WallClockTime() int64
	// Schedule registers a punctuation for the node owner.
	Schedule(owner any, interval time.Duration, t punctuate.Type, fn punctuate.Func) (punctuate.Cancellable, error)
	// RequestCommit asks for a commit between records.
	RequestCommit()
	// Dropped counts a record a processor dropped, by reason.
	Dropped(reason string)
}

// RecordCollector receives what sinks write. Send must copy key, value and
// headers before returning if it keeps them: sinks reuse their buffers.
type RecordCollector interface {
	// Send writes one record. partition -1 lets the producer's partitioner
	// choose; nil key or value is null.
	Send(topic string, partition int32, key, value []byte, headers record.Headers, timestamp int64) error
	// PartitionCount returns the number of partitions of topic; sinks with
	// a partitioner ask for it.
	PartitionCount(topic string) (int32, error)
}

// GraphConfig configures one task's Graph.
type GraphConfig struct {
	TaskID        TaskID
	ApplicationID string
	Host          Host
	Collector     RecordCollector
	// Logger is the task's logger; nil means zap.NewNop().
	Logger *zap.Logger
	// DefaultExtractor is used by sources without their own; nil means
	// record.FailOnInvalidTimestamp().
	DefaultExtractor record.TimestampExtractor
	// GlobalStores are the instance's global stores (read-only views, see
	// GlobalStore.View), which every processor may read by name.
	GlobalStores map[string]store.StateStore
}

// Head is a source node's slot for the head record of one input partition:
// Decode deserializes and timestamps a raw record into the slot, Forward
// sends the decoded record into the graph. One Head serves one partition.
type Head interface {
	// Decode deserializes raw and returns its timestamp. A deserialization
	// failure is a *record.DeserializationError; a negative timestamp means
	// skip; any other error is fatal.
	Decode(raw *record.ConsumerRecord, partitionTime int64) (int64, error)
	// Forward sends the last decoded record to the source's children.
	Forward() error
	// Node returns the source node's name.
	Node() string
}

// Graph is one task's instance of a sub-topology: fresh processors from the
// suppliers, fresh stores from the builders, wired by typed calls. A Graph
// is used by one goroutine.
type Graph struct {
	cfg     GraphConfig
	env     env
	nodes   []runtimeNode // topological order
	sources map[string]runtimeNode
	stores  []store.StateStore
	byStore map[string]store.StateStore
	logger  *zap.Logger
	inited  []runtimeNode
}

type env struct {
	host    Host
	meta    record.Metadata
	hasMeta bool
	current *nodeBase
	// ts is the timestamp of the record the running node is processing
	// (or the punctuation time): stores stamp their changelog writes with
	// it, as Kafka Streams uses the current record context's timestamp.
	ts int64
	// closed is set when the processors close or the task is cancelled:
	// from then on Forward, ForwardTo and Schedule fail. It is atomic
	// because Cancel comes from the runtime's goroutine (a task abandoned
	// while stuck) and because processors may forward from goroutines of
	// their own; on the per-record path it is one plain load.
	closed atomic.Bool
	// run is the context processors see through Context (Done, Err): a new
	// one per InitProcessors, cancelled when they close or the task is
	// cancelled.
	run atomic.Pointer[runContext]
}

type runContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// closedContext is what a Context returns before Init and after Close.
var closedContext = func() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrTaskClosed)
	return ctx
}()

func (e *env) context() context.Context {
	if r := e.run.Load(); r != nil {
		return r.ctx
	}
	return closedContext
}

type nodeBase struct {
	name string
	env  *env
}

func (n *nodeBase) base() *nodeBase { return n }

type runtimeNode interface {
	base() *nodeBase
	addChild(c runtimeNode) error
	init() error
	close() error
}

// receiver is a node's typed input. It gets a pointer to the forwarding
// context's copy of the record (see nodeContext.Forward), valid for the
// call only: a processor node hands its Processor a copy of *r, a sink
// reads it in place, and neither keeps the pointer.
type receiver[K, V any] interface {
	receive(r *record.Record[K, V], ts int64) error
}

// NewGraph instantiates sub-topology id for one task.
func (t *Topology) NewGraph(id int, cfg GraphConfig) (*Graph, error) {
	if t == nil {
		return nil, errors.New("processor: nil topology")
	}
	if id < 0 || id >= len(t.subtopologies) {
		return nil, fmt.Errorf("processor: no sub-topology %d (topology has %d)", id, len(t.subtopologies))
	}
	if cfg.Host == nil || cfg.Collector == nil {
		return nil, errors.New("processor: GraphConfig needs a Host and a Collector")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.DefaultExtractor == nil {
		cfg.DefaultExtractor = record.FailOnInvalidTimestamp()
	}
	st := t.subtopologies[id]
	g := &Graph{
		cfg: cfg, sources: map[string]runtimeNode{}, byStore: map[string]store.StateStore{},
		logger: cfg.Logger.With(zap.String("task", cfg.TaskID.String())),
	}
	g.env.host = cfg.Host
	order := topoOrder(st.nodes, t.children)
	// Stores in the order their first processor runs: a commit flushes them
	// in this order, so what an upstream cache forwards on flush reaches a
	// downstream store before that store is flushed.
	var storeNames []string
	for _, n := range order {
		storeNames = appendUnique(storeNames, n.stores...)
	}
	for _, name := range storeNames {
		// Store builders and suppliers are user code: a panic in them is
		// an error of this task, not a crash of the App.
		var s store.StateStore
		err := callSafely(func() (err error) {
			s, err = t.stores[t.storeIndex[name]].Build()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("processor: task %s: build store %q: %w", cfg.TaskID, name, err)
		}
		if s == nil {
			return nil, fmt.Errorf("processor: task %s: builder for store %q built a nil store", cfg.TaskID, name)
		}
		var built string
		if err := callSafely(func() error { built = s.Name(); return nil }); err != nil {
			return nil, fmt.Errorf("processor: task %s: store %q: Name: %w", cfg.TaskID, name, err)
		}
		if built != name {
			return nil, fmt.Errorf("processor: task %s: builder for store %q built a store named %q", cfg.TaskID, name, built)
		}
		g.stores = append(g.stores, s)
		g.byStore[name] = s
	}
	byName := map[string]runtimeNode{}
	for _, spec := range order {
		var n runtimeNode
		err := callSafely(func() (err error) { // calls the user's Supplier
			n, err = spec.newNode(g, spec)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("processor: task %s: node %q: %w", cfg.TaskID, spec.name, err)
		}
		byName[spec.name] = n
		g.nodes = append(g.nodes, n)
		for _, topic := range spec.topics {
			g.sources[topic] = n
		}
	}
	for _, spec := range st.nodes {
		for _, p := range spec.parents {
			if err := byName[p].addChild(byName[spec.name]); err != nil {
				return nil, fmt.Errorf("processor: task %s: %w", cfg.TaskID, err)
			}
		}
	}
	return g, nil
}

// topoOrder sorts a sub-topology's nodes so parents come before children,
// keeping registration order among independent nodes.
func topoOrder(nodes []*nodeSpec, children map[string][]*nodeSpec) []*nodeSpec {
	indeg := map[string]int{}
	for _, n := range nodes {
		for _, c := range children[n.name] {
			indeg[c.name]++
		}
	}
	var out []*nodeSpec
	done := map[string]bool{}
	for len(out) < len(nodes) {
		for _, n := range nodes {
			if !done[n.name] && indeg[n.name] == 0 {
				done[n.name] = true
				out = append(out, n)
				for _, c := range children[n.name] {
					indeg[c.name]--
				}
				break
			}
		}
	}
	return out
}

// Stores returns the graph's stores in the order their first processor
// runs (parents first).
func (g *Graph) Stores() []store.StateStore { return g.stores }

// Store returns the named store of this graph.
func (g *Graph) Store(name string) (store.StateStore, bool) {
	s, ok := g.byStore[name]
	return s, ok
}

// NewHead returns a head slot for one partition of topic.
func (g *Graph) NewHead(topic string) (Head, error) {
	n, ok := g.sources[topic]
	if !ok {
		return nil, fmt.Errorf("processor: task %s reads no topic %q", g.cfg.TaskID, topic)
	}
	return n.(interface{ newHead() Head }).newHead(), nil
}

// InitProcessors calls Init on every processor, parents first. A panic is
// returned as an error wrapping handler.ErrPanic. On error, processors
// already initialized stay so; CloseProcessors closes them.
func (g *Graph) InitProcessors() error {
	ctx, cancel := context.WithCancelCause(context.Background())
	g.env.run.Store(&runContext{ctx: ctx, cancel: func() { cancel(ErrTaskClosed) }})
	g.env.closed.Store(false)
	g.env.hasMeta = false
	for _, n := range g.nodes {
		g.env.current = n.base()
		if err := callSafely(n.init); err != nil {
			// The processors initialized so far are closed, so a retry
			// initializes each once and nothing is left open.
			initErr := &NodeError{Node: n.base().name, Err: fmt.Errorf("init: %w", err)}
			return errors.Join(initErr, g.CloseProcessors())
		}
		g.inited = append(g.inited, n)
	}
	g.env.current = nil
	return nil
}

// CloseProcessors calls Close on every initialized processor, in the order
// they were initialized, and returns the errors joined. The processors'
// context is cancelled first and Forward fails from then on: whatever a
// processor would forward now is after the task's last commit.
func (g *Graph) CloseProcessors() error {
	g.Cancel()
	var errs []error
	for _, n := range g.inited {
		g.env.current = n.base()
		if err := callSafely(n.close); err != nil {
			errs = append(errs, &NodeError{Node: n.base().name, Err: fmt.Errorf("close: %w", err)})
		}
	}
	g.inited = g.inited[:0]
	g.env.current = nil
	return errors.Join(errs...)
}

// Cancel cancels the processors' context and makes Forward, ForwardTo and
// Schedule fail with ErrTaskClosed, without running any processor code. It
// is safe from any goroutine: a runtime calls it for a task it gives up on
// while a processor is still inside a call. It costs an atomic store and a
// context cancel.
func (g *Graph) Cancel() {
	g.env.closed.Store(true)
	if r := g.env.run.Load(); r != nil {
		r.cancel()
	}
}

// Cancelled reports whether Cancel (or CloseProcessors) ran since the
// processors were last initialized.
func (g *Graph) Cancelled() bool { return g.env.closed.Load() }

// Punctuate runs a punctuation callback registered by owner at time ts, with
// no record metadata. A returned error is attributed to the owner node; a
// nil fn is an error. Panics are the caller's to recover (tasks do).
func (g *Graph) Punctuate(owner any, fn punctuate.Func, ts int64) error {
	if fn == nil {
		return errors.New("processor: nil punctuation callback")
	}
	nb, _ := owner.(*nodeBase)
	g.env.hasMeta = false
	g.env.current, g.env.ts = nb, ts
	err := fn(ts)
	if err != nil && nb != nil {
		return atNode(nb.name, err)
	}
	g.env.current = nil
	return err
}

// RecordTimestamp returns the timestamp of the record the running node is
// processing, or of the running punctuation; between records, that of the
// last one.
func (g *Graph) RecordTimestamp() int64 { return g.env.ts }

// CurrentNode returns the node running now (after a panic, the node that
// panicked), or "".
func (g *Graph) CurrentNode() string {
	if g.env.current == nil {
		return ""
	}
	return g.env.current.name
}

// ResetCurrent forgets the running node; tasks call it before each record.
func (g *Graph) ResetCurrent() { g.env.current = nil }

func callSafely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", handler.ErrPanic, p, debug.Stack())
		}
	}()
	return fn()
}

// nodeContext is the Context of one node, typed by what the node forwards.
type nodeContext[K, V any] struct {
	node     *nodeBase
	g        *Graph
	children []receiver[K, V]
	names    []string
	stores   map[string]store.StateStore
	logger   *zap.Logger
	// free holds the slots Forward copies records into, so children get
	// a pointer to one copy instead of a copy each (a record is ~90 bytes
	// and every copy costs). Forward can nest: a cache flush that a child
	// causes may forward from this very node while its own Forward is on
	// the stack, so each nesting level takes a slot of its own from this
	// list and puts it back when done. One slot is allocated per level of
	// nesting ever reached (one in all, almost always); a panic drops the
	// slot it held, which the next Forward replaces.
	free *slot[K, V]
}

// slot is where nodeContext.Forward keeps the record its children read.
type slot[K, V any] struct {
	rec  record.Record[K, V]
	ts   int64 // rec's timestamp, which receivers get without a copy of rec
	next *slot[K, V]
}

// take returns a free slot holding r.
func (c *nodeContext[K, V]) take(r *record.Record[K, V]) *slot[K, V] {
	s := c.free
	if s == nil {
		s = new(slot[K, V])
	} else {
		c.free = s.next
	}
	s.rec = *r
	s.ts = s.rec.Timestamp()
	return s
}

// give puts s back on the free list. It keeps the record, as a node's last
// forwarded record is kept until the next one replaces it.
func (c *nodeContext[K, V]) give(s *slot[K, V]) {
	s.next = c.free
	c.free = s
}

func (c *nodeContext[K, V]) addChild(child runtimeNode) error {
	r, ok := child.(receiver[K, V])
	if !ok {
		return fmt.Errorf("%w: node %q cannot forward to %q", ErrTypeMismatch, c.node.name, child.base().name)
	}
	c.children = append(c.children, r)
	c.names = append(c.names, child.base().name)
	return nil
}

func (c *nodeContext[K, V]) Forward(r record.Record[K, V]) error {
	if c.g.env.closed.Load() {
		return c.closedErr("forward")
	}
	s := c.take(&r)
	err := c.forward(&s.rec, s.ts)
	c.give(s)
	return err
}

// forward passes *r, which the caller keeps unchanged until it returns,
// to every child; ts is its timestamp.
func (c *nodeContext[K, V]) forward(r *record.Record[K, V], ts int64) error {
	for _, ch := range c.children {
		if err := ch.receive(r, ts); err != nil {
			return err
		}
	}
	return nil
}

func (c *nodeContext[K, V]) ForwardTo(child string, r record.Record[K, V]) error {
	if c.g.env.closed.Load() {
		return c.closedErr("forward")
	}
	for i, n := range c.names {
		if n == child {
			s := c.take(&r)
			err := c.children[i].receive(&s.rec, s.ts)
			c.give(s)
			return err
		}
	}
	return fmt.Errorf("%w: node %q has no child %q (children: %v)", ErrUnknownChild, c.node.name, child, c.names)
}

func (c *nodeContext[K, V]) Schedule(interval time.Duration, t punctuate.Type, fn punctuate.Func) (punctuate.Cancellable, error) {
	if c.g.env.closed.Load() {
		return nil, c.closedErr("schedule")
	}
	return c.g.env.host.Schedule(c.node, interval, t, fn)
}

func (c *nodeContext[K, V]) closedErr(op string) error {
	return fmt.Errorf("%w: node %q of task %s cannot %s", ErrTaskClosed, c.node.name, c.g.cfg.TaskID, op)
}

// The context.Context of a processor: cancelled when the task closes.
func (c *nodeContext[K, V]) Deadline() (time.Time, bool) { return c.g.env.context().Deadline() }
func (c *nodeContext[K, V]) Done() <-chan struct{}       { return c.g.env.context().Done() }
func (c *nodeContext[K, V]) Err() error                  { return c.g.env.context().Err() }
func (c *nodeContext[K, V]) Value(key any) any           { return c.g.env.context().Value(key) }

func (c *nodeContext[K, V]) Store(name string) (store.StateStore, error) {
	s, ok := c.stores[name]
	if !ok {
		s, ok = c.g.cfg.GlobalStores[name]
	}
	if !ok {
		return nil, fmt.Errorf("%w: processor %q asked for store %q", ErrStoreNotConnected, c.node.name, name)
	}
	return s, nil
}

func (c *nodeContext[K, V]) RecordMetadata() (record.Metadata, bool) {
	return c.g.env.meta, c.g.env.hasMeta
}

func (c *nodeContext[K, V]) StreamTime() int64     { return c.g.env.host.StreamTime() }
func (c *nodeContext[K, V]) WallClockTime() int64  { return c.g.env.host.WallClockTime() }
func (c *nodeContext[K, V]) Commit()               { c.g.env.host.RequestCommit() }
func (c *nodeContext[K, V]) TaskID() TaskID        { return c.g.cfg.TaskID }
func (c *nodeContext[K, V]) ApplicationID() string { return c.g.cfg.ApplicationID }
func (c *nodeContext[K, V]) NodeName() string      { return c.node.name }
func (c *nodeContext[K, V]) Logger() *zap.Logger   { return c.logger }
func (c *nodeContext[K, V]) Dropped(reason string) { c.g.env.host.Dropped(reason) }

// procNode runs a user Processor.
type procNode[KIn, VIn, KOut, VOut any] struct {
	nodeBase
	proc Processor[KIn, VIn, KOut, VOut]
	ctx  nodeContext[KOut, VOut]
}

func newProcNode[KIn, VIn, KOut, VOut any](g *Graph, spec *nodeSpec, supplier Supplier[KIn, VIn, KOut, VOut]) (runtimeNode, error) {
	p := supplier()
	if p == nil {
		return nil, errors.New("supplier returned a nil processor")
	}
	n := &procNode[KIn, VIn, KOut, VOut]{nodeBase: nodeBase{name: spec.name, env: &g.env}, proc: p}
	n.ctx = nodeContext[KOut, VOut]{node: &n.nodeBase, g: g, logger: g.logger.With(zap.String("node", spec.name))}
	if len(spec.stores) > 0 {
		n.ctx.stores = make(map[string]store.StateStore, len(spec.stores))
		for _, s := range spec.stores {
			n.ctx.stores[s] = g.byStore[s]
		}
	}
	return n, nil
}

func (n *procNode[KIn, VIn, KOut, VOut]) receive(r *record.Record[KIn, VIn], ts int64) error {
	env := n.env
	prev, prevTS := env.current, env.ts
	env.current, env.ts = &n.nodeBase, ts
	err := n.proc.Process(*r)
	env.current, env.ts = prev, prevTS
	if err != nil {
		return atNode(n.name, err)
	}
	return nil
}

func (n *procNode[KIn, VIn, KOut, VOut]) addChild(c runtimeNode) error { return n.ctx.addChild(c) }
func (n *procNode[KIn, VIn, KOut, VOut]) init() error                  { return n.proc.Init(&n.ctx) }
func (n *procNode[KIn, VIn, KOut, VOut]) close() error                 { return n.proc.Close() }

// sourceNode forwards decoded records to its children.
type sourceNode[K, V any] struct {
	nodeBase
	spec      *sourceSpec[K, V]
	extractor record.TimestampExtractor
	ctx       nodeContext[K, V]
}

func newSourceNode[K, V any](g *Graph, spec *sourceSpec[K, V]) (runtimeNode, error) {
	ex := spec.extractor
	if ex == nil {
		ex = g.cfg.DefaultExtractor
	}
	n := &sourceNode[K, V]{nodeBase: nodeBase{name: spec.name, env: &g.env}, spec: spec,
		extractor: record.BindClock(ex, g.env.host.WallClockTime)}
	n.ctx = nodeContext[K, V]{node: &n.nodeBase, g: g, logger: g.logger.With(zap.String("node", spec.name))}
	return n, nil
}

func (n *sourceNode[K, V]) addChild(c runtimeNode) error { return n.ctx.addChild(c) }
func (n *sourceNode[K, V]) init() error                  { return nil }
func (n *sourceNode[K, V]) close() error                 { return nil }
func (n *sourceNode[K, V]) newHead() Head                { return &sourceHead[K, V]{n: n} }

type sourceHead[K, V any] struct {
	n    *sourceNode[K, V]
	rec  record.Record[K, V]
	ts   int64 // rec's timestamp
	meta record.Metadata
	// part is what Decode is doing, for the error a panic becomes.
	part decodePart
}

// decodePart is the step of Decode that runs.
type decodePart int8

const (
	decodingKey decodePart = iota
	decodingValue
	decodingTimestamp
	// decoded: Decode is past every call that may panic.
	decoded
)

func (h *sourceHead[K, V]) Node() string { return h.n.name }

func (h *sourceHead[K, V]) Decode(raw *record.ConsumerRecord, partitionTime int64) (ts int64, err error) {
	if raw == nil {
		return 0, fmt.Errorf("source %q: nil record", h.n.name)
	}
	h.part = decodingKey
	defer h.recoverDecode(raw, &err)
	spec := h.n.spec
	var k K
	var v V
	if raw.Key != nil {
		if k, err = spec.ks.Deserialize(raw.Key); err != nil {
			return 0, &record.DeserializationError{Metadata: raw.Metadata(), Part: "key", Err: err}
		}
	}
	h.part = decodingValue
	if raw.Value != nil {
		if v, err = spec.vs.Deserialize(raw.Value); err != nil {
			return 0, &record.DeserializationError{Metadata: raw.Metadata(), Part: "value", Err: err}
		}
	}
	h.part = decodingTimestamp
	if spec.valueTS != nil {
		ts, err = spec.valueTS(k, v, raw, partitionTime)
	} else {
		ts, err = h.n.extractor.Extract(raw, partitionTime)
	}
	if err != nil {
		return 0, fmt.Errorf("source %q: timestamp extractor: %w", h.n.name, err)
	}
	if ts < 0 {
		return ts, nil
	}
	// ts >= 0: New cannot fail.
	h.rec, _ = record.New(k, v, ts)
	if raw.Headers != nil {
		h.rec = h.rec.WithHeaders(raw.Headers)
	}
	if raw.Key == nil {
		h.rec = h.rec.WithNullKey()
	}
	if raw.Value == nil {
		h.rec = h.rec.WithNullValue()
	}
	h.ts = ts
	h.meta = record.Metadata{Topic: raw.Topic, Partition: raw.Partition, Offset: raw.Offset}
	h.part = decoded
	return ts, nil
}

// recoverDecode turns a panic of a deserializer into the record's
// DeserializationError, and one of a timestamp extractor into a fatal
// error, as their returned errors are.
func (h *sourceHead[K, V]) recoverDecode(raw *record.ConsumerRecord, err *error) {
	if h.part == decoded { // no panic: spare the recover call
		return
	}
	p := recover()
	if p == nil {
		return
	}
	switch h.part {
	case decodingTimestamp:
		*err = fmt.Errorf("source %q: timestamp extractor: %w: %v", h.n.name, handler.ErrPanic, p)
	case decodingKey:
		*err = &record.DeserializationError{Metadata: raw.Metadata(), Part: "key", Err: fmt.Errorf("%w: %v", handler.ErrPanic, p)}
	default:
		*err = &record.DeserializationError{Metadata: raw.Metadata(), Part: "value", Err: fmt.Errorf("%w: %v", handler.ErrPanic, p)}
	}
}

func (h *sourceHead[K, V]) Forward() error {
	env := h.n.env
	env.meta, env.hasMeta = h.meta, true
	env.current, env.ts = &h.n.nodeBase, h.ts
	if env.closed.Load() {
		return h.n.ctx.closedErr("forward")
	}
	// h.rec stays unchanged until the next Decode, after this returns.
	return h.n.ctx.forward(&h.rec, h.ts)
}

// sinkNode serializes records and hands them to the collector.
type sinkNode[K, V any] struct {
	nodeBase
	spec      *sinkSpec[K, V]
	topic     string // fixed topic, as named in the running topology
	collector RecordCollector
	kbuf      []byte
	vbuf      []byte
}

func newSinkNode[K, V any](g *Graph, spec *sinkSpec[K, V], topic string) runtimeNode {
	return &sinkNode[K, V]{nodeBase: nodeBase{name: spec.name, env: &g.env}, spec: spec, topic: topic,
		collector: g.cfg.Collector, kbuf: make([]byte, 0, 64), vbuf: make([]byte, 0, 256)}
}

func (n *sinkNode[K, V]) addChild(c runtimeNode) error {
	return fmt.Errorf("%w: sink %q cannot have child %q", ErrSinkAsParent, n.name, c.base().name)
}
func (n *sinkNode[K, V]) init() error  { return nil }
func (n *sinkNode[K, V]) close() error { return nil }

func (n *sinkNode[K, V]) receive(r *record.Record[K, V], ts int64) error {
	env := n.env
	prev := env.current
	env.current = &n.nodeBase
	err := n.send(r, ts)
	env.current = prev
	if err != nil {
		return atNode(n.name, err)
	}
	return nil
}

func (n *sinkNode[K, V]) send(r *record.Record[K, V], ts int64) error {
	spec := n.spec
	topic := n.topic
	if spec.topicFn != nil {
		if topic = spec.topicFn(*r); topic == "" {
			return errors.New("topic function returned an empty topic")
		}
	}
	var kb, vb []byte
	var err error
	if !r.KeyIsNull() {
		if kb, err = spec.ks.Serialize(n.kbuf[:0], r.Key()); err != nil {
			return fmt.Errorf("serialize key for topic %q: %w", topic, err)
		}
		if kb != nil {
			n.kbuf = kb[:0]
		}
	}
	if !r.ValueIsNull() {
		if vb, err = spec.vs.Serialize(n.vbuf[:0], r.Value()); err != nil {
			return fmt.Errorf("serialize value for topic %q: %w", topic, err)
		}
		if vb != nil {
			n.vbuf = vb[:0]
		}
	}
	partition := int32(-1)
	if spec.partitioner != nil {
		count, err := n.collector.PartitionCount(topic)
		if err != nil {
			return fmt.Errorf("partition count of %q: %w", topic, err)
		}
		if p, ok := spec.partitioner(topic, *r, count); ok {
			if p < 0 || p >= count {
				return fmt.Errorf("partitioner chose partition %d of topic %q, which has %d", p, topic, count)
			}
			partition = p
		}
	}
	return n.collector.Send(topic, partition, kb, vb, r.Headers(), ts)
}

// describeStore names a store's kind and types for error messages, in
// words ("a window store of (string, int64)"), never its Go type.
func describeStore(s store.StateStore) string {
	kind := "a store"
	t := reflect.TypeOf(s)
	has := func(m string) bool { _, ok := t.MethodByName(m); return ok }
	switch {
	case has("FindSessions"):
		kind = "a session store"
	case has("FetchRange"):
		kind = "a window store"
	case has("PutIfAbsent"):
		kind = "a key-value store"
	}
	if typed, ok := s.(interface {
		Types() (k, v reflect.Type)
	}); ok {
		k, v := typed.Types()
		return fmt.Sprintf("%s of (%s, %s)", kind, k, v)
	}
	return kind
}
