package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Processor handles records of one input type and forwards records of one
// output type. Implementations keep the Context given to Init to forward,
// schedule punctuators and reach stores.
type Processor[KIn, VIn, KOut, VOut any] interface {
	// Init prepares the processor for a task; the task's stores are open
	// and restored. An error stops the task.
	Init(ctx Context[KOut, VOut]) error
	// Process handles one record. A returned error (or a panic) goes to the
	// processing handler with the task, node and record position.
	Process(r record.Record[KIn, VIn]) error
	// Close releases what Init acquired. Stores are closed by the task.
	Close() error
}

// Supplier returns a new processor. It is called once per task.
type Supplier[KIn, VIn, KOut, VOut any] func() Processor[KIn, VIn, KOut, VOut]

// Func returns a supplier of stateless processors that call fn for each
// record; Init keeps the context, Close does nothing. A nil fn gives a nil
// supplier, which AddProcessor reports as a build error.
func Func[KIn, VIn, KOut, VOut any](fn func(ctx Context[KOut, VOut], r record.Record[KIn, VIn]) error) Supplier[KIn, VIn, KOut, VOut] {
	if fn == nil {
		return nil
	}
	return func() Processor[KIn, VIn, KOut, VOut] { return &funcProcessor[KIn, VIn, KOut, VOut]{fn: fn} }
}

type funcProcessor[KIn, VIn, KOut, VOut any] struct {
	ctx Context[KOut, VOut]
	fn  func(Context[KOut, VOut], record.Record[KIn, VIn]) error
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Init(ctx Context[KOut, VOut]) error {
	p.ctx = ctx
	return nil
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Process(r record.Record[KIn, VIn]) error {
	return p.fn(p.ctx, r)
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Close() error { return nil }

// StoreProvider is the part of Context that hands out stores; the typed
// lookups (KeyValueStore) take it.
type StoreProvider interface {
	// Store returns the named store if it is connected to this processor.
	Store(name string) (store.StateStore, error)
}

// Context is a processor's view of its task. Its methods are called from the
// task's goroutine only (inside Init, Process, Close and punctuators), except
// those of the embedded context.Context, which are safe from any goroutine.
//
// A Context is a context.Context that is cancelled when the task stops
// running its processors: when it closes (its partitions were revoked, or
// the App shuts down) or when the runtime gives up on it because a call
// did not return within Config.TaskTimeout. Pass it to blocking calls
// (ctx.Done(), http.NewRequestWithContext(ctx, ...)) so they end with the
// task. Its cause (context.Cause) is ErrTaskClosed. From then on Forward,
// ForwardTo and Schedule fail with ErrTaskClosed: nothing a processor does
// after its task's last commit reaches an output. That check costs Forward
// one atomic load; Done and Err cost what a context.Context's do.
type Context[K, V any] interface {
	context.Context
	StoreProvider
	// Forward passes r to every child, depth-first, and returns the first
	// error a child returned.
	Forward(r record.Record[K, V]) error
	// ForwardTo passes r to the named child only.
	ForwardTo(child string, r record.Record[K, V]) error
	// Schedule registers fn to run every interval (at least 1ms) of stream
	// time or wall-clock time; see package punctuate for the exact rules.
	Schedule(interval time.Duration, t punctuate.Type, fn punctuate.Func) (punctuate.Cancellable, error)
	// RecordMetadata returns the topic, partition and offset of the source
	// record being processed; false inside a punctuator.
	RecordMetadata() (record.Metadata, bool)
	// StreamTime returns the task's stream time (the largest timestamp it
	// has processed) or record.UnknownTime before the first record.
	StreamTime() int64
	// WallClockTime returns the task's wall-clock time in milliseconds
	// (the test driver's virtual clock under test).
	WallClockTime() int64
	// Commit asks the runtime to commit the task soon. It is a request: the
	// commit happens between records.
	Commit()
	// TaskID returns the id of the task running the processor.
	TaskID() TaskID
	// ApplicationID returns the application id.
	ApplicationID() string
	// NodeName returns the name of the processor node.
	NodeName() string
	// Logger returns the task's logger, annotated with task and node.
	Logger() *zap.Logger
	// Dropped counts one record the processor drops on purpose (a null key,
	// a late arrival) in the task's dropped-records metric under reason, so
	// no drop goes unseen. Log it yourself at the level that suits.
	Dropped(reason string)
}

// TaskID names a task: a sub-topology and a partition number ("0_3").
type TaskID struct {
	Subtopology int
	Partition   int32
}

// String formats the id as subtopology_partition.
func (id TaskID) String() string {
	return strconv.Itoa(id.Subtopology) + "_" + strconv.FormatInt(int64(id.Partition), 10)
}

// Compare orders task ids by sub-topology, then partition: -1, 0 or +1.
func (id TaskID) Compare(other TaskID) int {
	switch {
	case id.Subtopology != other.Subtopology:
		return cmp.Compare(id.Subtopology, other.Subtopology)
	default:
		return cmp.Compare(id.Partition, other.Partition)
	}
}

// ParseTaskID parses the form String produces, and only that form: no
// sign, no leading zeros, so one task has one name.
func ParseTaskID(s string) (TaskID, error) {
	a, b, ok := strings.Cut(s, "_")
	if !ok {
		return TaskID{}, fmt.Errorf("processor: task id %q is not of the form <subtopology>_<partition>", s)
	}
	sub, err1 := strconv.Atoi(a)
	part, err2 := strconv.ParseInt(b, 10, 32)
	id := TaskID{Subtopology: sub, Partition: int32(part)}
	if err1 != nil || err2 != nil || sub < 0 || part < 0 || id.String() != s {
		return TaskID{}, fmt.Errorf("processor: task id %q is not of the form <subtopology>_<partition>", s)
	}
	return id, nil
}

// Errors a processor or builder user can branch on.
var (
	// ErrUnknownChild: ForwardTo named a node that is not a child.
	ErrUnknownChild = errors.New("processor: unknown child")
	// ErrStoreNotConnected: the store exists but is not connected to the
	// processor asking for it (or does not exist).
	ErrStoreNotConnected = errors.New("processor: store not connected to this processor")
	// ErrStoreType: the store is not of the requested kind and types.
	ErrStoreType = errors.New("processor: store has other types")
	// ErrTaskClosed: the processor's task has closed (or was given up on);
	// Forward, ForwardTo and Schedule fail with it, and it is the cause of
	// the cancelled Context.
	ErrTaskClosed = errors.New("processor: task closed")
)

// KeyValueStore returns the named key-value store with key type K and value
// type V from a processor's context. It fails if the store is not connected
// to the processor or holds other types; a nil ctx is
// ErrStoreNotConnected.
func KeyValueStore[K, V any](ctx StoreProvider, name string) (store.KeyValueStore[K, V], error) {
	return typedStore[store.KeyValueStore[K, V], K, V](ctx, name, "a key-value store")
}

// WindowStore returns the named window store with key type K and value type
// V from a processor's context.
func WindowStore[K, V any](ctx StoreProvider, name string) (store.WindowStore[K, V], error) {
	return typedStore[store.WindowStore[K, V], K, V](ctx, name, "a window store")
}

// SessionStore returns the named session store with key type K and value
// type V from a processor's context.
func SessionStore[K, V any](ctx StoreProvider, name string) (store.SessionStore[K, V], error) {
	return typedStore[store.SessionStore[K, V], K, V](ctx, name, "a session store")
}

// typedStore looks name up and asserts it is S, a kind store of (K, V).
func typedStore[S, K, V any](ctx StoreProvider, name, kind string) (S, error) {
	var zero S
	if ctx == nil {
		return zero, fmt.Errorf("%w: no context to look store %q up in", ErrStoreNotConnected, name)
	}
	s, err := ctx.Store(name)
	if err != nil {
		return zero, err
	}
	typed, ok := s.(S)
	if !ok {
		return zero, fmt.Errorf("%w: store %q is %s, not %s of (%s, %s)",
			ErrStoreType, name, describeStore(s), kind, typeName[K](), typeName[V]())
	}
	return typed, nil
}

// NodeError attributes an error to the node where it arose.
type NodeError struct {
	Node string
	Err  error
}

// Error names the node, then the cause.
func (e *NodeError) Error() string { return fmt.Sprintf("node %q: %v", e.Node, e.Err) }

// Unwrap returns the cause.
func (e *NodeError) Unwrap() error { return e.Err }

// atNode wraps err with the node name unless a deeper node already did.
func atNode(node string, err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return err
	}
	return &NodeError{Node: node, Err: err}
}
