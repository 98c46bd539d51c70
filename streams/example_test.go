package streams_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// upperTopology upper-cases the values of "in" into "out".
func upperTopology() *dsl.Builder {
	b := dsl.NewBuilder()
	dsl.To(dsl.MapValues(dsl.FromTopics(b, []string{"in"}, record.String(), record.String()), strings.ToUpper), "out")
	return b
}

// An App on a Kafka cluster, until interrupted. (Compiled, not run: it
// needs a broker at localhost:9092.)
func ExampleNew() {
	topo, err := upperTopology().Build()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// README: streams
	app, err := streams.New(topo, streams.Config{
		ApplicationID:    "page-view-counter", // consumer group, internal topic prefix
		BootstrapServers: "localhost:9092",
		StateDir:         "/var/lib/millrace", // RocksDB stores, checkpoints, locks
		// ProcessingGuarantee: streams.ExactlyOnceV2,
	})
	if err != nil {
		log.Fatal(err) // every configuration problem, at once
	}
	err = app.Run(ctx) // until ctx ends or a fatal error; Close() from elsewhere stops it
	// README end
	if err != nil {
		log.Fatal(err)
	}
}

// An App on the embedded broker, as an integration test runs one: write
// the input, read the output, close.
func ExampleApp() {
	cluster, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"in": 2, "out": 2}})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close() // after the App's Close: it commits on close
	topo, err := upperTopology().Build()
	if err != nil {
		log.Fatal(err)
	}
	stateDir, err := os.MkdirTemp("", "example-app-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(stateDir)
	app, err := streams.New(topo, streams.Config{ApplicationID: "example-upper", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	r, _ := record.New("k", "hello, mill race", time.Now().UnixMilli())
	if err := kafkatest.Produce(cluster, "in", record.String(), record.String(), r); err != nil {
		log.Fatal(err)
	}
	out, err := kafkatest.Read(cluster, "out", record.String(), record.String(), 1, kafkatest.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out[0].Key(), out[0].Value())
	if err := app.Close(); err != nil {
		log.Fatal(err)
	}
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output: k HELLO, MILL RACE
}
