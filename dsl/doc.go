// Package dsl is Millrace's Streams DSL: Kafka Streams' KStream, KTable and
// GlobalKTable as typed Go values, compiled to the Processor API.
//
//	b := dsl.NewBuilder()
//	lines := dsl.FromTopics(b, []string{"lines"}, record.String(), record.String())
//	words := dsl.FlatMapValues(lines, strings.Fields)
//	counts := dsl.Count(dsl.GroupBy(words, func(_, w string) string { return w }), dsl.As("counts"))
//	dsl.To(dsl.ToStream(counts), "word-counts")
//	topo, err := b.Build() // a *processor.Topology: run it with streams.New or testdriver.New
//
// Go has no type parameters on methods, so operators are package functions
// over handles (Stream, Table, GlobalTable, GroupedStream, GroupedTable).
// A handle carries its builder, the node that forwards its records, its
// serdes and whether its key may have changed, so the types flow from
// operator to operator: a mismatch is a compile error, and Go infers every
// type argument from the functions passed in.
//
// Every operator adds ordinary processors, stores, sources and sinks to a
// processor.Builder (reachable with Builder.Processor): the test driver and
// the App run a DSL topology as any other, and Process / ProcessValues embed
// a custom processor (with its stores and punctuators) anywhere in a chain.
// Declaring never fails; Build reports every problem at once, each wrapping
// a sentinel (ErrMissingSerde, ErrNilFunction, processor.ErrDuplicateName,
// ...) and naming the operator.
//
// # Serdes
//
// An operator that writes bytes (a sink, a repartition topic, a store)
// takes its serdes from, in order: its KeySerde / ValueSerde options, the
// handle (a source's serdes travel while the type does not change), and the
// builder's serde for the type (RegisterSerde; string, []byte, int64, int32
// and float64 are registered by NewBuilder, in the formats of Kafka's Java
// serdes). None of them is a Build error naming the operator and the type.
// Operators that write nothing never need one.
//
// # Repartitioning
//
// Map, SelectKey, FlatMap, GroupBy and Process may change the key; the next
// key-dependent stateful operator (an aggregation, ToTable, a join with a
// table) first writes the stream to an internal topic
// <application-id>-<name>-repartition and reads it back, so each key's
// records reach the one task that holds its state; Repartition does so
// explicitly. The topic's name is, for an aggregation, the grouping's Named
// name, else the store's As name; for ToTable and a stream-table join, the
// operator's Named name, else the stream's node name; else generated in
// Kafka Streams' style (Builder.Unnamed lists generated names). A grouped
// table always repartitions. The App creates it at start,
// with the partition count of the upstream sub-topology's sources (or that
// of the topics it is joined with, or Partitions), and deletes records from
// it once they are committed. MapValues, FlatMapValues, Filter, Peek and
// ProcessValues keep the key and never repartition. Records with a null key
// are dropped before a repartition and counted under
// DropNullKeyBeforeRepartition: no task could own them.
//
// # Null keys and null values
//
// Records keep Kafka's null keys and null values (tombstones) as the
// Processor API does. User functions receive keys and values as Go values,
// so a null one arrives as the zero value; operators keep the null flag of
// every part they do not replace:
//
//   - Filter, FilterNot, Peek, Foreach, Split, Merge, To: the function sees
//     zero values; the record passes unchanged, nulls included.
//   - MapValues, MapValuesWithKey, FlatMapValues: a tombstone is not passed
//     to the function; it is forwarded as a tombstone of the new value type.
//     The key, null or not, stays.
//   - Map, FlatMap: the function sees zero values and what it returns is
//     the record (never null). SelectKey replaces the key (never null) and
//     keeps the value, null or not.
//   - Aggregations drop (and count) records with a null key or a null
//     value, as Kafka Streams does. Tables: a tombstone deletes the key.
//   - Joins follow Kafka Streams (KIP-962): see each join's doc.
//
// To tell a null from an empty value in your own logic, use Process or
// ProcessValues: a processor receives the full record.Record.
//
// # Names
//
// Every operator takes Named; unnamed ones get Kafka Streams' generated
// names (KSTREAM-FILTER-0000000003: a prefix and the builder's counter).
// Stores take As; unnamed stores and repartition topics are listed by
// Builder.Unnamed and by Builder.Describe, because their names, and so the
// state and changelogs behind them, depend on the operators declared
// before them.
//
// # Tables and caching
//
// A Table's node forwards Change values (new and old value of a key). An
// aggregation or a table from a topic is materialized into a timestamped
// key-value store (the default backend, cached and changelogged; InMemory,
// WithoutCaching, WithoutLogging change that): with the cache on, it
// forwards one compacted update per key when the cache flushes (on commit
// or eviction), as Kafka Streams' DSL does; with it off, every update. An
// insert and a delete of a key within one flush forward nothing, and so
// does a delete of a key the table never held. Updates flushed from a cache
// carry no headers; uncached ones keep those of the record that made them.
//
// A table read from a topic (TableFrom) uses the topic as its changelog:
// no <application-id>-<store>-changelog topic is created, and the App
// restores the store from the topic up to the committed offset.
//
// ReduceTable and AggregateTable never delete a group's row: a group whose
// members all left keeps the aggregate the subtractor made (0 for
// CountTable). Kafka Streams deletes the row when the subtractor returns
// null, which a Go value cannot.
//
// # Windows
//
// A grouped stream is windowed once, with its window definition and
// grace: WindowedBy (window.Tumbling, window.Hopping), SlidingWindowedBy
// (window.Sliding), SessionWindowedBy (window.Sessions). Go has no
// overloading, so the aggregations are named after the window kind:
// CountWindows / ReduceWindows / AggregateWindows, CountSliding /
// ReduceSliding / AggregateSliding, CountSessions / ReduceSessions /
// AggregateSessions (with a merger). Each compiles to the window
// package's processor with a store derived from the same definition
// (window size, retention size + grace, lengthened by Retention, never
// shortened), so the two cannot disagree. The result is a
// Table[Windowed[K], V] carrying Kafka Streams' windowed key serde
// (time-windowed: key + start; session: key + end + start), a value
// getter over its window or session store, and the window definition, from
// which Suppress(UntilWindowCloses) takes the close time: end + grace for
// time windows (end exclusive), the first time past end + grace for
// sliding and session windows (inclusive ends, as the window package
// closes them). EmitFinal forwards only closed windows (time, sliding and
// session windows; for sessions, no deletes of merged-away ones) without
// a suppression buffer (KIP-825). Unwindow rekeys a windowed stream by its
// plain key. Window and session stores are queryable with
// streams.WindowStore and streams.SessionStore.
//
// # Store backends and cgo
//
// Stores an operator builds without InMemory are RocksDB stores, which
// need cgo and librocksdb (Debian: librocksdb-dev). Built with the
// millrace_norocksdb tag, the dsl package's default backend is the
// in-memory one instead and store/rocksdb is not linked, so a program that
// runs its topology on the test driver, or on an App with in-memory state
// restored from changelogs, builds without RocksDB:
//
//	go test -tags millrace_norocksdb ./...
//	CGO_ENABLED=0 go test -tags millrace_norocksdb ./yourpkg  # with no streams.App: it needs cgo for librdkafka
//
// DefaultBackend says which backend a build has. Everything else about an
// operator (names, changelogs, caching) is the same under both.
//
// Choices where Kafka Streams differs or the issue is silent: a
// suppressed table forwards no old values and its value getter reads the
// upstream table (Kafka Streams' returns the last emitted value);
// suppression buffers are in memory with a changelog, as in Kafka
// Streams; finals of one emit-final step go out by window start (by end
// for sessions), then key.
package dsl
