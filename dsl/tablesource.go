package dsl

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// TableFrom reads topic as a table (Kafka Streams' builder.table): each
// record is an upsert of its key, a tombstone (null value) deletes the key,
// and a record with a null key is dropped and counted (DropNullKey). The
// table is materialized in a timestamped key-value store, queryable under
// its name: As names it, else it is <topic>-STATE-STORE-0000000NNN. The
// topic itself is the store's changelog, so the table adds no changelog
// topic. Its node forwards each key's Change (new and old value; a delete
// has no new value, a delete of an absent key forwards nothing): once per
// key per commit while the store's cache is on (the default), per record
// with WithoutCaching.
//
// Options: As, Named (the source is <name>, its table processor
// <name>-table-source), InMemory, WithoutCaching, Partitions (declares the
// topic's partition count for the co-partitioning check of joins),
// WithTimestampExtractor.
func TableFrom[K, V any](b *Builder, topic string, keys record.Serde[K], values record.Serde[V], opts ...Option) Table[K, V] {
	if b == nil {
		return Table[K, V]{}
	}
	if topic == "" {
		b.problem(fmt.Errorf("%w: TableFrom: empty topic", ErrInvalidOperator))
		return Table[K, V]{}
	}
	o := collect(opts)
	// Kafka Streams' order of generated names: store, source, processor.
	storeName := b.storeName(o, topic+"-STATE-STORE-")
	sourceName, name := o.name, o.name+"-table-source"
	if o.name == "" {
		sourceName, name = b.newName("KSTREAM-SOURCE-"), b.newName("KTABLE-SOURCE-")
	}
	op := fmt.Sprintf("TableFrom %q", topic)
	keys = serdeFor[K](b, nil, keys, op, "keys")
	values = serdeFor[V](b, nil, values, op, "values")
	src := processor.AddSource(b.pb, sourceName, deserializer(keys), deserializer(values), topic)
	if o.extractor != nil {
		src.WithTimestampExtractor(o.extractor)
	}
	setValueTimestamp(b, o, src, fmt.Sprintf("TableFrom %q", topic))
	b.declarePartitions([]string{topic}, o.partitions)
	processor.AddProcessor(b.pb, name, tableSourceSupplier[K, V](storeName), sourceName)
	if sb := sourceTableStore(storeName, topic, o, keys, values); sb != nil {
		b.pb.AddStore(sb, name)
	}
	return Table[K, V]{b: b, node: name, keys: keys, values: values, get: storeGetter[K, V](storeName),
		getStores: []string{storeName}, store: storeName, topics: []string{topic}}
}

// SkipUndecodable is the reason a record of a table's source topic that
// its serdes cannot decode is skipped (logged and counted) when the table
// is restored from the topic.
const SkipUndecodable = "deserialization-error"

// sourceTableStore is the store of a table read from topic: as
// tableStore, but the topic itself is its changelog (Kafka Streams'
// source-table optimization): the store writes no changelog, and the App
// restores it from the topic up to the task's committed offset. Restored
// records are decoded with the table's serdes; a null key or a record
// that does not decode is skipped and counted, as the table's processor
// and the global stores skip them. WithoutLogging turns that off too.
func sourceTableStore[K, V any](name, topic string, o *options, keys record.Serde[K], values record.Serde[V]) *store.KeyValueBuilder[K, store.ValueAndTimestamp[V]] {
	sb := tableStore(name, o, keys, values)
	if sb == nil || o.noLogging {
		return sb
	}
	stored := store.TimestampedSerde(values)
	return sb.WithSourceChangelog(store.SourceChangelog{Topic: topic,
		Convert: func(raw *record.ConsumerRecord) (key, value []byte, skip string, err error) {
			if raw.Key == nil {
				return nil, nil, DropNullKey, nil
			}
			k, err := keys.Deserialize(raw.Key)
			if err != nil {
				return nil, nil, SkipUndecodable, err
			}
			if key, err = keys.Serialize(nil, k); err != nil {
				return nil, nil, SkipUndecodable, err
			}
			if raw.Value == nil {
				return key, nil, "", nil
			}
			v, err := values.Deserialize(raw.Value)
			if err != nil {
				return nil, nil, SkipUndecodable, err
			}
			if value, err = stored.Serialize(nil, store.ValueAndTimestamp[V]{Value: v, Timestamp: raw.Timestamp}); err != nil {
				return nil, nil, SkipUndecodable, err
			}
			return key, value, "", nil
		}})
}

// ToTable turns the stream into a table (Kafka Streams' toTable): each
// record upserts its key, a tombstone deletes it, a null key is dropped and
// counted. The table is materialized in a timestamped key-value store
// (As names it, else KSTREAM-TOTABLE-STATE-STORE-0000000NNN), cached and
// changelogged by default. As in Kafka Streams, a stream whose key may
// have changed is repartitioned first, through
// <name>-repartition (name: Named, else the generated processor name).
//
// Options: As, Named, InMemory, WithoutCaching, WithoutLogging, KeySerde
// and ValueSerde (the store's and the repartition topic's), Partitions
// (the repartition topic's count).
func ToTable[K, V any](s Stream[K, V], opts ...Option) Table[K, V] {
	if s.b == nil {
		return Table[K, V]{}
	}
	b := s.b
	o := collect(opts)
	name := b.nodeName(o, "KSTREAM-TOTABLE-")
	storeName := b.storeName(o, "KSTREAM-TOTABLE-STATE-STORE-")
	in := partitionedByKey(s, name, o.name == "", o, "ToTable")
	op := fmt.Sprintf("ToTable %q (store)", storeName)
	ks := serdeFor[K](b, o.keySerde, in.keys, op, "keys")
	vs := serdeFor[V](b, o.valueSerde, in.values, op, "values")
	processor.AddProcessor(b.pb, name, tableSourceSupplier[K, V](storeName), in.node)
	if sb := tableStore(storeName, o, ks, vs); sb != nil {
		b.pb.AddStore(sb, name)
	}
	return Table[K, V]{b: b, node: name, keys: ks, values: vs, get: storeGetter[K, V](storeName),
		getStores: []string{storeName}, store: storeName, topics: in.topics}
}

func tableSourceSupplier[K, V any](storeName string) processor.Supplier[K, V, K, Change[V]] {
	return func() processor.Processor[K, V, K, Change[V]] { return &tableSource[K, V]{storeName: storeName} }
}

// tableSource materializes a changelog stream into a timestamped store and
// forwards each key's Change (Kafka Streams' KTableSource).
type tableSource[K, V any] struct {
	storeName string
	ctx       processor.Context[K, Change[V]]
	s         store.KeyValueStore[K, store.ValueAndTimestamp[V]]
	cached    bool
}

func (t *tableSource[K, V]) Init(ctx processor.Context[K, Change[V]]) error {
	t.ctx = ctx
	s, err := processor.KeyValueStore[K, store.ValueAndTimestamp[V]](ctx, t.storeName)
	if err != nil {
		return err
	}
	t.s = s
	return listenForChanges(ctx, s, &t.cached)
}

func (t *tableSource[K, V]) Process(r record.Record[K, V]) error {
	if r.KeyIsNull() {
		t.ctx.Dropped(DropNullKey)
		md, _ := t.ctx.RecordMetadata()
		t.ctx.Logger().Debug("dropping table record", zap.String("reason", DropNullKey), zap.Stringer("record", md))
		return nil
	}
	old, found, err := t.s.Get(r.Key())
	if err != nil {
		return err
	}
	var ov *store.ValueAndTimestamp[V]
	if found {
		ov = &old
	}
	if r.ValueIsNull() {
		if !found {
			return nil // deleting an absent key changes nothing
		}
		if _, _, err := t.s.Delete(r.Key()); err != nil {
			return err
		}
		if t.cached {
			return nil
		}
		return forwardChangeOf(t.ctx, r, nil, ov, r.Timestamp())
	}
	// An update older than the stored value still wins, as in Kafka
	// Streams' (unversioned) table source: the topic's order is the truth.
	nv := store.ValueAndTimestamp[V]{Value: r.Value(), Timestamp: r.Timestamp()}
	if err := t.s.Put(r.Key(), nv); err != nil {
		return err
	}
	if t.cached {
		return nil
	}
	return forwardChangeOf(t.ctx, r, &nv, ov, r.Timestamp())
}

func (t *tableSource[K, V]) Close() error { return nil }
