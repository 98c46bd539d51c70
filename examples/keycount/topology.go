package main

import (
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Topic and store names of the example.
const (
	ViewsTopic  = "page-views"  // key: page, value: user
	CountsTopic = "view-counts" // key: page, value: views so far
	CountsStore = "counts"
)

// NewTopology counts page views per page in a key-value store and emits every
// page's count every emitEvery of stream time; every logEvery of wall-clock
// time it logs how many pages it tracks.
func NewTopology(emitEvery, logEvery time.Duration) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "views", record.String(), record.String(), ViewsTopic)
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] {
		return &viewCounter{emitEvery: emitEvery, logEvery: logEvery}
	}, "views").WithStores(CountsStore)
	processor.AddSink(b, "emit", CountsTopic, record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue(CountsStore), record.String(), record.Int64()))
	return b.Build()
}

// viewCounter is the processor a user would write: state in a store,
// output from a stream-time punctuator, housekeeping on the wall clock.
type viewCounter struct {
	emitEvery, logEvery time.Duration
	ctx                 processor.Context[string, int64]
	counts              store.KeyValueStore[string, int64]
}

func (c *viewCounter) Init(ctx processor.Context[string, int64]) error {
	c.ctx = ctx
	var err error
	if c.counts, err = processor.KeyValueStore[string, int64](ctx, CountsStore); err != nil {
		return err
	}
	if _, err := ctx.Schedule(c.emitEvery, punctuate.StreamTime, c.emit); err != nil {
		return err
	}
	_, err = ctx.Schedule(c.logEvery, punctuate.WallClock, func(now int64) error {
		n, err := c.counts.ApproximateNumEntries()
		ctx.Logger().Info("tracking pages", zap.Int64("pages", n), zap.Int64("stream_time", ctx.StreamTime()))
		return err
	})
	return err
}

func (c *viewCounter) Process(r record.Record[string, string]) error {
	if r.KeyIsNull() {
		// A view without a page cannot be counted: say so, do not guess.
		c.ctx.Logger().Warn("dropping view without a page", zap.String("user", r.Value()))
		return nil
	}
	n, _, err := c.counts.Get(r.Key())
	if err != nil {
		return err
	}
	return c.counts.Put(r.Key(), n+1)
}

// emit forwards every page's count, stamped with the current stream time.
func (c *viewCounter) emit(streamTime int64) error {
	it, err := c.counts.All()
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		r, err := record.New(it.Key(), it.Value(), streamTime)
		if err != nil {
			return err
		}
		if err := c.ctx.Forward(r); err != nil {
			return err
		}
	}
	return it.Err()
}

func (c *viewCounter) Close() error { return nil }
