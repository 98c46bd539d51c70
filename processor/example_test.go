package processor_test

import (
	"fmt"
	"log"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// README: processor
// countViews counts page views per page and emits all counts every 10 s of
// stream time.
type countViews struct {
	ctx    processor.Context[string, int64]
	counts store.KeyValueStore[string, int64]
}

func (c *countViews) Init(ctx processor.Context[string, int64]) (err error) {
	c.ctx = ctx
	if c.counts, err = processor.KeyValueStore[string, int64](ctx, "counts"); err != nil {
		return err
	}
	_, err = ctx.Schedule(10*time.Second, punctuate.StreamTime, func(now int64) error {
		it, err := c.counts.All()
		if err != nil {
			return err
		}
		defer it.Close()
		for it.Next() {
			r, _ := record.New(it.Key(), it.Value(), now)
			if err := ctx.Forward(r); err != nil {
				return err
			}
		}
		return it.Err()
	})
	return err
}

func (c *countViews) Process(r record.Record[string, string]) error {
	n, _, err := c.counts.Get(r.Key())
	if err != nil {
		return err
	}
	return c.counts.Put(r.Key(), n+1)
}

func (c *countViews) Close() error { return nil }

// README end

// viewsTopology wires countViews between the page-views and view-counts
// topics, with its store.
func viewsTopology() (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "views", record.String(), record.String(), "page-views")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] {
		return &countViews{}
	}, "views").WithStores("counts")
	processor.AddSink(b, "out", "view-counts", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	return b.Build()
}

// A topology of a source, a processor with a store and a sink, tested on
// the test driver: no broker.
func ExampleNewBuilder() {
	// README: wiring
	b := processor.NewBuilder()
	processor.AddSource(b, "views", record.String(), record.String(), "page-views")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, int64] {
		return &countViews{}
	}, "views").WithStores("counts")
	processor.AddSink(b, "out", "view-counts", record.String(), record.Int64(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build() // every problem at once: cycles, unknown parents, type mismatches, ...
	if err != nil {
		log.Fatal(err)
	}

	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, "page-views", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "view-counts", record.String(), record.Int64())
	in.Pipe("/home", "ada", 1_000) // the first record starts stream time: the punctuator fires
	kv, _ := out.ReadKeyValue()
	fmt.Println(kv) // {/home 1}
	// README end
	// Output: {/home 1}
}

// A stream-time punctuator fires on its grid (every 10 s of stream time
// here) as records move stream time on, once per step however far a record
// jumps, and never for a late record.
func ExampleProcessor() {
	topo, err := viewsTopology()
	if err != nil {
		log.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, "page-views", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "view-counts", record.String(), record.Int64())
	for _, v := range []struct {
		page string
		at   int64
	}{{"/home", 1_000}, {"/docs", 4_000}, {"/home", 10_000}, {"/home", 3_000}, {"/docs", 35_000}} {
		if err := in.Pipe(v.page, "ada", v.at); err != nil {
			log.Fatal(err)
		}
		for !out.IsEmpty() {
			r, err := out.ReadRecord()
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("after the view at %2d s: %s=%d at %d s\n", v.at/1000, r.Key(), r.Value(), r.Timestamp()/1000)
		}
	}
	// Output:
	// after the view at  1 s: /home=1 at 1 s
	// after the view at 10 s: /docs=1 at 10 s
	// after the view at 10 s: /home=2 at 10 s
	// after the view at 35 s: /docs=2 at 35 s
	// after the view at 35 s: /home=3 at 35 s
}
