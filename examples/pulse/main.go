// Command pulse is a patient-monitoring pipeline in the DSL: heartbeats are counted per
// patient and minute of event time (read from the JSON payload), the final
// count of each minute is kept when it is above 100 bpm, and joined within a
// minute with body-temperature readings; a fast pulse with a fever raises an
// alert.
//
// By default it starts an embedded Kafka broker, writes a generated ward
// (out-of-order, late and unparsable events included), runs the pipeline
// until the alerts are out, and prints them. With -brokers it runs against a
// real cluster.
//
//	go run ./examples/pulse
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	seed := flag.Uint64("seed", 7, "seed of the generated ward")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if err := run(*brokers, *seed, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "pulse:", err)
		os.Exit(1)
	}
}

func run(brokers string, seed uint64, verbose bool) error {
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: map[string]int32{PulseTopic: 2, TempTopic: 2, AlertTopic: 1}})
	if err != nil {
		return err
	}
	defer cluster.Close()
	stateDir, err := os.MkdirTemp("", "pulse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	logger := zap.NewNop()
	if verbose {
		logger, _ = zap.NewDevelopment()
	}
	alertLog = logger
	topo, err := NewTopology(false)
	if err != nil {
		return err
	}
	// Write the whole ward first, then start: the tasks see both topics and
	// merge them by event time. MaxTaskIdle makes a task wait for a topic
	// that has not been fetched yet instead of racing ahead on the other.
	events := Generate(seed)
	// The record time is the time of writing: the topology reads the
	// event time from the payload.
	byTopic := map[string][]record.Record[string, []byte]{}
	for _, e := range events {
		r, err := record.New(e.Patient, e.Value, time.Now().UnixMilli())
		if err != nil {
			return err
		}
		byTopic[e.Topic] = append(byTopic[e.Topic], r)
	}
	fmt.Printf("writing %d heartbeats and %d temperature readings\n", len(byTopic[PulseTopic]), len(byTopic[TempTopic]))
	for topic, recs := range byTopic {
		if err := kafkatest.Produce(cluster, topic, record.String(), record.Bytes(), recs...); err != nil {
			return err
		}
	}
	app, err := streams.New(topo, streams.Config{ApplicationID: "pulse-example", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 100 * time.Millisecond, MaxTaskIdle: 2 * time.Second, Logger: logger})
	if err != nil {
		return err
	}
	go app.Run(context.Background())

	alerts, readErr := kafkatest.Read(cluster, AlertTopic, record.String(), record.JSON[Alert](), len(ExpectedAlerts),
		kafkatest.ReadOptions{Timeout: 90 * time.Second})
	for _, a := range alerts {
		fmt.Println("ALERT", a.Value())
	}
	closeErr := app.Close()
	if readErr != nil {
		return readErr
	}
	return closeErr
}
