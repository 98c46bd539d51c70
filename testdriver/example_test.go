package testdriver_test

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// latest keeps each user's latest status, forwards it upper-cased, and
// every minute of wall-clock time reports how many users it knows.
type latest struct {
	ctx    processor.Context[string, string]
	status store.KeyValueStore[string, string]
}

func (l *latest) Init(ctx processor.Context[string, string]) (err error) {
	l.ctx = ctx
	if l.status, err = processor.KeyValueStore[string, string](ctx, "status"); err != nil {
		return err
	}
	_, err = ctx.Schedule(time.Minute, punctuate.WallClock, func(now int64) error {
		n, err := l.status.ApproximateNumEntries()
		if err != nil {
			return err
		}
		r, err := record.New("users", fmt.Sprint(n), now)
		if err != nil {
			return err
		}
		return ctx.Forward(r)
	})
	return err
}

func (l *latest) Process(r record.Record[string, string]) error {
	if err := l.status.Put(r.Key(), r.Value()); err != nil {
		return err
	}
	return l.ctx.Forward(r.WithValue(strings.ToUpper(r.Value())))
}

func (l *latest) Close() error { return nil }

// The driver runs a topology with no broker: records go in through input
// topics, come out of output topics, stores can be read, and wall-clock
// time moves only when the test says so.
func ExampleNew() {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "status")
	processor.AddProcessor(b, "latest", func() processor.Processor[string, string, string, string] { return &latest{} }, "in").WithStores("status")
	processor.AddSink(b, "out", "status-upper", record.String(), record.String(), "latest")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("status"), record.String(), record.String()))
	topo, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}

	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "example", StartTime: start})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, "status", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "status-upper", record.String(), record.String())
	in.Pipe("ada", "away", start.UnixMilli())
	in.Pipe("grace", "here", start.UnixMilli())
	in.Pipe("ada", "back", start.UnixMilli())
	d.AdvanceWallClock(time.Minute) // the wall-clock punctuator fires

	for !out.IsEmpty() {
		kv, _ := out.ReadKeyValue()
		fmt.Println(kv)
	}
	status, _ := testdriver.KeyValueStore[string, string](d, "status")
	ada, _, _ := status.Get("ada")
	fmt.Println("ada is", ada)
	// Output:
	// {ada AWAY}
	// {grace HERE}
	// {ada BACK}
	// {users 2}
	// ada is back
}
