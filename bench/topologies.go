package main

import (
	"fmt"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

// Store names of the bench topologies; their changelogs are
// <application-id>-<name>-changelog.
const (
	countStore    = "counts"
	windowStore   = "wcounts"
	joinStore     = "join"
	tableStore    = "table"
	restoredStore = "restore"
)

// topologyFor builds the Millrace topology of a row.
func topologyFor(spec childSpec) (*processor.Topology, error) {
	switch spec.Kind {
	case kindPassthrough:
		return passthroughTopology(spec.In, spec.Out)
	case kindCount:
		return countTopology(spec.In, spec.Out)
	case kindWindowed:
		return windowedCountTopology(spec.In, spec.Out)
	case kindStreamJoin:
		return streamJoinTopology(spec.In, spec.In2, spec.Out)
	case kindTableJoin:
		return tableJoinTopology(spec.In, spec.In2, spec.Out)
	case kindRestore:
		return restoreTopology(spec.In)
	}
	return nil, fmt.Errorf("row %s has no Millrace topology", spec.Row)
}

func passthroughTopology(in, out string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.Bytes(), record.Bytes(), in)
	processor.AddSink(b, "out", out, record.Bytes(), record.Bytes(), "in")
	return b.Build()
}

// countTopology counts per key in a cached RocksDB store with the
// processor API, forwarding every new count.
func countTopology(in, out string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.Bytes(), record.Bytes(), in)
	processor.AddProcessor(b, "count", func() processor.Processor[[]byte, []byte, []byte, int64] { return &counter{} }, "in").
		WithStores(countStore)
	processor.AddSink(b, "out", out, record.Bytes(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue(countStore), record.Bytes(), record.Int64()).WithCaching())
	return b.Build()
}

// counter counts per key and forwards each new count.
type counter struct {
	ctx    processor.Context[[]byte, int64]
	counts store.KeyValueStore[[]byte, int64]
}

func (c *counter) Init(ctx processor.Context[[]byte, int64]) (err error) {
	c.ctx = ctx
	c.counts, err = processor.KeyValueStore[[]byte, int64](ctx, countStore)
	return err
}

func (c *counter) Process(r record.Record[[]byte, []byte]) error {
	n, _, err := c.counts.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	if err := c.counts.Put(r.Key(), n); err != nil {
		return err
	}
	return c.ctx.Forward(record.WithValue(r, n))
}

func (c *counter) Close() error { return nil }

// windowSize is the windowed count's tumbling window.
const windowSize = 60 * time.Second

// windowedCountTopology counts per key and 60 s tumbling window (no
// grace) with the DSL: a cached RocksDB window store, whose updates leave
// compacted when the cache flushes (at commits).
func windowedCountTopology(in, out string) (*processor.Topology, error) {
	w, err := window.Tumbling(windowSize, 0)
	if err != nil {
		return nil, err
	}
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{in}, record.Bytes(), record.Bytes())
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(s), w), dsl.As(windowStore))
	dsl.To(dsl.ToStream(counts), out)
	return b.Build()
}

// joinWindow is the stream-stream join's time difference.
const joinWindow = time.Second

// streamJoinTopology joins two streams on their key within 1 s (no grace)
// with the DSL, keeping the left value.
func streamJoinTopology(left, right, out string) (*processor.Topology, error) {
	jw, err := window.JoinWithin(joinWindow, 0)
	if err != nil {
		return nil, err
	}
	b := dsl.NewBuilder()
	l := dsl.FromTopics(b, []string{left}, record.Bytes(), record.Bytes())
	r := dsl.FromTopics(b, []string{right}, record.Bytes(), record.Bytes())
	joined := dsl.Join(l, r, func(lv, _ []byte) []byte { return lv }, jw, dsl.As(joinStore))
	dsl.To(joined, out)
	return b.Build()
}

// tableJoinTopology joins a stream with a table read from a topic (a
// cached RocksDB store) with the DSL, keeping the stream's value.
func tableJoinTopology(stream, table, out string) (*processor.Topology, error) {
	b := dsl.NewBuilder()
	t := dsl.TableFrom(b, table, record.Bytes(), record.Bytes(), dsl.As(tableStore))
	s := dsl.FromTopics(b, []string{stream}, record.Bytes(), record.Bytes())
	dsl.To(dsl.JoinTable(s, t, func(v, _ []byte) []byte { return v }), out)
	return b.Build()
}

// restoreTopology has one cached RocksDB key-value store with a
// changelog, written by a processor from an input that stays empty: all
// its state comes from restoring the changelog.
func restoreTopology(in string) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.Bytes(), record.Bytes(), in)
	processor.AddProcessor(b, "put", func() processor.Processor[[]byte, []byte, []byte, []byte] { return &putter{} }, "in").
		WithStores(restoredStore)
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue(restoredStore), record.Bytes(), record.Bytes()).WithCaching())
	return b.Build()
}

// putter writes each record into the restore row's store.
type putter struct {
	kv store.KeyValueStore[[]byte, []byte]
}

func (p *putter) Init(ctx processor.Context[[]byte, []byte]) (err error) {
	p.kv, err = processor.KeyValueStore[[]byte, []byte](ctx, restoredStore)
	return err
}

func (p *putter) Process(r record.Record[[]byte, []byte]) error { return p.kv.Put(r.Key(), r.Value()) }

func (p *putter) Close() error { return nil }
