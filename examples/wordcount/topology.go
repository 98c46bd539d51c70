package main

import (
	"strings"
	"unicode"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
)

// Topics of the example.
const (
	LinesTopic = "text-lines"       // key: none, value: a line of text
	WordsTopic = "text-words"       // key and value: a word (repartition by word)
	CountTopic = "text-word-counts" // key: word, value: count so far (int64)
)

// NewTopology splits lines into words, repartitions them by word through
// WordsTopic so each word is counted by one task, and counts in a cached
// RocksDB store whose changelog makes the counts survive restarts and move
// with their task.
func NewTopology() (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "lines", record.String(), record.String(), LinesTopic)
	processor.AddProcessor(b, "split", processor.Func(splitWords), "lines")
	processor.AddSink(b, "by-word", WordsTopic, record.String(), record.String(), "split")

	processor.AddSource(b, "words", record.String(), record.String(), WordsTopic)
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] { return &counter{} }, "words").
		WithStores("word-counts")
	processor.AddSink(b, "counts", CountTopic, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("word-counts"), record.String(), record.Int64()).WithCaching())
	return b.Build()
}

// splitWords forwards each word of a line, keyed by the word.
func splitWords(ctx processor.Context[string, string], r record.Record[string, string]) error {
	for _, w := range Words(r.Value()) {
		if err := ctx.Forward(r.WithKey(w).WithValue(w)); err != nil {
			return err
		}
	}
	return nil
}

// Words lower-cases a line and splits it at anything but letters and digits.
func Words(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// counter counts per word and forwards the new count.
type counter struct {
	ctx    processor.Context[string, int64]
	counts store.KeyValueStore[string, int64]
}

func (c *counter) Init(ctx processor.Context[string, int64]) (err error) {
	c.ctx = ctx
	c.counts, err = processor.KeyValueStore[string, int64](ctx, "word-counts")
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
