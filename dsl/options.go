package dsl

import (
	"fmt"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// Option configures one operator: its name, the store it materializes,
// the serdes it uses. Options an operator has no use for are ignored.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options is what all options set; each operator reads its part.
type options struct {
	name        string
	store       string
	inMemory    bool
	noCache     bool
	noLogging   bool
	keySerde    any
	valueSerde  any
	otherValue  any // OtherValueSerde: a stream-stream join's right values
	partitions  int32
	stores      []string
	partitioner any
	extractor   record.TimestampExtractor
	valueTS     any // record.ValueTimestampExtractor[K, V] of the source
	// retention lengthens a windowed aggregation's store retention;
	// emitFinal makes it forward closed windows only (windowed.go).
	retention time.Duration
	emitFinal bool
}

func collect(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(o)
		}
	}
	return o
}

// Named names the operator's processor (and, for a grouping, its
// repartition topic <application-id>-<name>-repartition). Unnamed
// operators get generated names in Kafka Streams' style
// (KSTREAM-FILTER-0000000003).
func Named(name string) Option { return optionFunc(func(o *options) { o.name = name }) }

// As names the store an operator materializes (Kafka Streams'
// Materialized.as): the store's interactive-query name and its changelog
// <application-id>-<name>-changelog. On an aggregation after a key change
// it also names the repartition topic unless Named does.
func As(storeName string) Option { return optionFunc(func(o *options) { o.store = storeName }) }

// InMemory keeps the operator's store in memory instead of the default
// backend (RocksDB, or memory under the millrace_norocksdb build tag: see
// DefaultBackend); the changelog still makes it durable.
func InMemory() Option { return optionFunc(func(o *options) { o.inMemory = true }) }

// WithoutCaching turns the store's record cache off: the operator then
// forwards every update instead of one per key per commit.
func WithoutCaching() Option { return optionFunc(func(o *options) { o.noCache = true }) }

// WithoutLogging turns the store's changelog off: its state is lost with
// the local state directory.
func WithoutLogging() Option { return optionFunc(func(o *options) { o.noLogging = true }) }

// KeySerde sets the serde of the keys the operator writes (to a topic, a
// repartition topic or a store). Its type must be the operator's key type
// (checked by Build).
func KeySerde[K any](s record.Serde[K]) Option {
	return optionFunc(func(o *options) {
		if s != nil {
			o.keySerde = s
		}
	})
}

// ValueSerde sets the serde of the values the operator writes; its type
// must be the operator's value type (checked by Build).
func ValueSerde[V any](s record.Serde[V]) Option {
	return optionFunc(func(o *options) {
		if s != nil {
			o.valueSerde = s
		}
	})
}

// Partitions sets the partition count of a repartition topic (Repartition,
// or the one a grouping or join inserts), or declares the partition count
// of source topics (FromTopics, TableFrom) so Build can check joins'
// co-partitioning; the App checks it against the cluster at start.
func Partitions(n int32) Option { return optionFunc(func(o *options) { o.partitions = n }) }

// Stores connects the stores registered with Builder.AddStore to a
// processor embedded with Process or ProcessValues.
func Stores(names ...string) Option {
	return optionFunc(func(o *options) { o.stores = append(o.stores, names...) })
}

// WithPartitioner sets the partitioner of To and ToFunc; its types must be
// the stream's (checked by Build).
func WithPartitioner[K, V any](p func(topic string, r record.Record[K, V], numPartitions int32) (int32, bool)) Option {
	return optionFunc(func(o *options) {
		if p != nil {
			o.partitioner = p
		}
	})
}

// WithTimestampExtractor sets a source's timestamp extractor (FromTopics,
// TableFrom), overriding the App's default.
func WithTimestampExtractor(e record.TimestampExtractor) Option {
	return optionFunc(func(o *options) { o.extractor = e })
}

// WithValueTimestamp sets a source's event time from its decoded key and
// value (FromTopics, TableFrom), for times carried in the payload: fn
// returns milliseconds, a negative time skips the record (counted), an
// error stops the task. Its types must be the source's (checked by Build).
func WithValueTimestamp[K, V any](fn func(key K, value V) (int64, error)) Option {
	return optionFunc(func(o *options) {
		if fn != nil {
			o.valueTS = record.ValueTimestampExtractor[K, V](func(k K, v V, _ *record.ConsumerRecord, _ int64) (int64, error) {
				return fn(k, v)
			})
		}
	})
}

// setValueTimestamp applies a WithValueTimestamp option to a source.
func setValueTimestamp[K, V any](b *Builder, o *options, src *processor.SourceNode[K, V], op string) {
	if o.valueTS == nil {
		return
	}
	fn, ok := o.valueTS.(record.ValueTimestampExtractor[K, V])
	if !ok {
		b.problem(fmt.Errorf("%w: %s: WithValueTimestamp is for other types than the source's (%s, %s)", ErrSerdeType, op, typeName[K](), typeName[V]()))
		return
	}
	src.WithValueTimestamp(fn)
}
