package dsl

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Problems Build reports (besides the processor package's own); each
// reported problem wraps one of these.
var (
	// ErrMissingSerde: an operator needs a serde (to write a topic, a
	// repartition topic or a store) and none was given or registered for
	// the type.
	ErrMissingSerde = errors.New("dsl: missing serde")
	// ErrSerdeType: a serde option is for another type than the one the
	// operator serializes.
	ErrSerdeType = errors.New("dsl: serde of the wrong type")
	// ErrNilFunction: an operator was given a nil function or supplier.
	ErrNilFunction = errors.New("dsl: nil function")
	// ErrInvalidOperator: an operator was given an invalid argument (an
	// empty topic, a handle from another builder, no branches).
	ErrInvalidOperator = errors.New("dsl: invalid operator")
	// ErrNotCoPartitioned: a join reads topics whose declared partition
	// counts differ.
	ErrNotCoPartitioned = errors.New("dsl: join inputs are not co-partitioned")
)

// Builder declares a DSL topology. Operators are package functions over
// the typed handles it hands out (Stream, Table, GlobalTable, ...); each
// adds ordinary processors, stores, sources and sinks to an underlying
// processor.Builder. Nothing fails while declaring: Build reports every
// problem at once. A Builder is not safe for concurrent use.
type Builder struct {
	pb       *processor.Builder
	index    int
	serdes   map[reflect.Type]any
	problems []error
	// unnamed lists the stores and internal topics whose names were
	// generated: they depend on the order of operators (see Unnamed).
	unnamed []string
	// partitions holds the partition counts declared on source topics
	// (Partitions option), for the co-partitioning check of joins.
	partitions map[string]int32
}

// NewBuilder returns an empty builder with serdes registered for string,
// []byte, int64, int32 and float64 (Kafka's Java serdes' formats).
func NewBuilder() *Builder {
	b := &Builder{pb: processor.NewBuilder(), serdes: map[reflect.Type]any{}, partitions: map[string]int32{}}
	RegisterSerde(b, record.String())
	RegisterSerde(b, record.Bytes())
	RegisterSerde(b, record.Int64())
	RegisterSerde(b, record.Int32())
	RegisterSerde(b, record.Float64())
	return b
}

// RegisterSerde makes s the serde of every T the builder's operators must
// serialize without one given (Kafka Streams' default serdes, by type).
// A later registration for the same type replaces the earlier one.
func RegisterSerde[T any](b *Builder, s record.Serde[T]) {
	if b == nil {
		return
	}
	if s == nil {
		b.problem(fmt.Errorf("%w: RegisterSerde for %s: nil serde", ErrMissingSerde, typeName[T]()))
		return
	}
	b.serdes[reflect.TypeFor[T]()] = s
}

// AddStore registers a store for processors embedded with Process or
// ProcessValues, which name it with the Stores option.
func (b *Builder) AddStore(sb store.Builder) {
	if b == nil {
		return
	}
	b.pb.AddStore(sb)
}

// Processor returns the underlying processor.Builder, for what the DSL
// does not cover (global stores of other kinds, hand-wired sub-graphs).
// Nodes added there may be fed from DSL handles by name (see
// Stream.NodeName) and the other way round with FromNode.
func (b *Builder) Processor() *processor.Builder {
	if b == nil {
		return nil
	}
	return b.pb
}

// Build validates the declaration and returns the topology, or a
// *processor.BuildError listing every problem (the DSL's and the
// processor package's).
func (b *Builder) Build() (*processor.Topology, error) {
	if b == nil {
		return nil, &processor.BuildError{Problems: []error{fmt.Errorf("%w: nil *dsl.Builder", processor.ErrEmptyTopology)}}
	}
	t, err := b.pb.Build()
	problems := slices.Clone(b.problems)
	if err != nil {
		var be *processor.BuildError
		if errors.As(err, &be) {
			problems = append(problems, be.Problems...)
		} else {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return nil, &processor.BuildError{Problems: problems}
	}
	return t, nil
}

// Unnamed lists the stores and internal topics whose names the builder
// generated, in declaration order. Their names depend on the order and
// number of operators before them, so changing the topology can rename
// them (and lose or orphan their state): name them (As, Named) before
// going to production, as Kafka Streams advises.
func (b *Builder) Unnamed() []string {
	if b == nil {
		return nil
	}
	return slices.Clone(b.unnamed)
}

// Describe builds the topology and describes it: the processor package's
// description (sub-topologies split at repartition topics, stores,
// internal topics) followed by the generated store and topic names.
func (b *Builder) Describe() (string, error) {
	t, err := b.Build()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString(t.Describe().String())
	if len(b.unnamed) > 0 {
		sb.WriteString("Generated names (they change when operators are added before them; name them with As or Named):\n")
		for _, n := range b.unnamed {
			sb.WriteString("  ")
			sb.WriteString(n)
			sb.WriteByte('\n')
		}
	}
	return sb.String(), nil
}

func (b *Builder) problem(err error) {
	if b != nil {
		b.problems = append(b.problems, err)
	}
}

// newName returns a generated name in Kafka Streams' style,
// PREFIX-0000000007, counting every generated name of the builder.
func (b *Builder) newName(prefix string) string {
	n := fmt.Sprintf("%s%010d", prefix, b.index)
	b.index++
	return n
}

// nodeName returns the user's name or a generated one.
func (b *Builder) nodeName(o *options, prefix string) string {
	if o.name != "" {
		return o.name
	}
	return b.newName(prefix)
}

// storeName returns the user's store name or a generated one, noted as
// unnamed.
func (b *Builder) storeName(o *options, prefix string) string {
	if o.store != "" {
		return o.store
	}
	n := b.newName(prefix)
	b.unnamed = append(b.unnamed, "store "+n)
	return n
}

// owns reports a handle of another builder (or none) as a problem.
func (b *Builder) owns(op string, other *Builder) bool {
	switch {
	case other == nil:
		b.problem(fmt.Errorf("%w: %s: a zero handle (it belongs to no builder: did the operator that made it fail?)", ErrInvalidOperator, op))
		return false
	case other != b:
		b.problem(fmt.Errorf("%w: %s: the handles come from different builders", ErrInvalidOperator, op))
		return false
	}
	return true
}

// serdeFor resolves the serde for T: the operator's option, then the
// handle's, then the builder's registry. what says what it is for, in the
// error when there is none.
func serdeFor[T any](b *Builder, option any, handle record.Serde[T], op, what string) record.Serde[T] {
	if option != nil {
		s, ok := option.(record.Serde[T])
		if !ok {
			b.problem(fmt.Errorf("%w: %s: the %s serde is a %T, the %s are %s", ErrSerdeType, op, what, option, what, typeName[T]()))
			return nil
		}
		return s
	}
	if handle != nil {
		return handle
	}
	if b != nil {
		if s, ok := b.serdes[reflect.TypeFor[T]()].(record.Serde[T]); ok {
			return s
		}
	}
	b.problem(fmt.Errorf("%w: %s needs a serde for its %s (%s): give one with KeySerde/ValueSerde or register it with RegisterSerde",
		ErrMissingSerde, op, what, typeName[T]()))
	return nil
}

// registered returns the builder's serde for T, or nil; no problem.
func registered[T any](b *Builder) record.Serde[T] {
	if b == nil {
		return nil
	}
	s, _ := b.serdes[reflect.TypeFor[T]()].(record.Serde[T])
	return s
}

// keep returns old as a serde of T if it is one (the type did not
// change), else T's registered serde: operators that change a type lose
// the serde of the old one.
func keep[T, O any](b *Builder, old record.Serde[O]) record.Serde[T] {
	if s, ok := any(old).(record.Serde[T]); ok && old != nil {
		return s
	}
	return registered[T](b)
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
