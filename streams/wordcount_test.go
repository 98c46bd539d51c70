package streams_test

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// wordCount splits lines into words, repartitions by word through a topic,
// and counts in a cached RocksDB store.
func wordCount(t testing.TB, in, words, out string) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "lines", record.String(), record.String(), in)
	processor.AddProcessor(b, "split", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		for _, w := range strings.Fields(strings.ToLower(r.Value())) {
			if err := ctx.Forward(r.WithKey(w).WithValue(w)); err != nil {
				return err
			}
		}
		return nil
	}), "lines")
	processor.AddSink(b, "by-word", words, record.String(), record.String(), "split")
	processor.AddSource(b, "words", record.String(), record.String(), words)
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "words").WithStores("counts")
	processor.AddSink(b, "out", out, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()).WithCaching())
	topo, err := b.Build()
	must(t, err)
	return topo
}

type counter struct {
	ctx    processor.Context[string, int64]
	counts store.KeyValueStore[string, int64]
}

func (c *counter) Init(ctx processor.Context[string, int64]) (err error) {
	c.ctx = ctx
	c.counts, err = processor.KeyValueStore[string, int64](ctx, "counts")
	return err
}

func (c *counter) Process(r record.Record[string, string]) error {
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

func lastCounts(out []consumed) map[string]int64 {
	m := map[string]int64{}
	for _, c := range out {
		if len(c.value) == 8 {
			m[string(c.key)] = int64(binary.BigEndian.Uint64(c.value))
		}
	}
	return m
}

func TestWordCountEndToEndGivesExactCounts(t *testing.T) {
	c := cluster(t, map[string]int32{"lines": 3, "words": 3, "counts": 3})
	lines := []kv{{"", "the quick brown fox", 1}, {"", "the lazy dog", 2}, {"", "The fox", 3}, {"", "quick quick", 4}}
	produce(t, c.Bootstrap(), "lines", lines)
	app := start(t, wordCount(t, "lines", "words", "counts"), streams.Config{ApplicationID: "wc", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond})
	want := map[string]int64{"the": 3, "quick": 3, "brown": 1, "fox": 2, "lazy": 1, "dog": 1}
	out := consumeUntil(t, c.Bootstrap(), "counts", false, 60*time.Second, func(out []consumed) bool { return len(out) >= 11 }, app)
	got := lastCounts(out)
	for w, n := range want {
		if got[w] != n {
			t.Errorf("count of %q = %d, want %d (all: %v)", w, got[w], n, got)
		}
	}
	if len(out) != 11 {
		t.Errorf("%d output records, want 11 (one per word)", len(out))
	}
}
