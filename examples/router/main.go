// Command router routes orders to a topic per category, chosen from each
// record's JSON value, and sends records it cannot route to a dead-letter
// topic with the reason in a header.
//
// By default it starts an embedded Kafka broker, writes a few orders (some
// malformed), runs the application until everything is routed, prints where
// each record went and exits. With -brokers it runs against a real cluster.
//
//	go run ./examples/router
//	go run ./examples/router -brokers localhost:9092
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

var orders = []struct{ key, value string }{
	{"o-1", `{"id":"o-1","category":"books","amount":12.5}`},
	{"o-2", `{"id":"o-2","category":"music","amount":9.99}`},
	{"o-3", `{"id":"o-3","category":"books","amount":31}`},
	{"o-4", `not json at all`},
	{"o-5", `{"id":"o-5","amount":3}`},
	{"o-6", `{"id":"o-6","category":"garden","amount":54}`},
	{"o-7", `{"id":"o-7","category":"../etc","amount":1}`},
}

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if err := run(*brokers, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
}

func run(brokers string, verbose bool) error {
	topics := map[string]int32{OrdersTopic: 2, DeadLetterTopic: 1}
	for _, c := range []string{"books", "music", "garden"} {
		topics[TopicFor(c)] = 1
	}
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: topics})
	if err != nil {
		return err
	}
	defer cluster.Close()
	stateDir, err := os.MkdirTemp("", "router-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	logger := zap.NewNop()
	if verbose {
		logger, _ = zap.NewDevelopment()
	}
	topo, err := NewTopology()
	if err != nil {
		return err
	}
	app, err := streams.New(topo, streams.Config{ApplicationID: "router-example", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 200 * time.Millisecond, Logger: logger})
	if err != nil {
		return err
	}
	go app.Run(context.Background())

	var recs []record.Record[string, []byte]
	for _, o := range orders {
		r, err := record.New(o.key, []byte(o.value), time.Now().UnixMilli())
		if err != nil {
			app.Close()
			return err
		}
		recs = append(recs, r)
	}
	fmt.Printf("writing %d orders to %s\n", len(recs), OrdersTopic)
	if err := kafkatest.Produce(cluster, OrdersTopic, record.String(), record.Bytes(), recs...); err != nil {
		app.Close()
		return err
	}
	var outTopics []string
	for t := range topics {
		if t != OrdersTopic {
			outTopics = append(outTopics, t)
		}
	}
	routed := map[string][]string{}
	n := 0
	readErr := kafkatest.ReadUntil(cluster, outTopics, record.String(), record.Bytes(), kafkatest.ReadOptions{Timeout: 60 * time.Second},
		func(topic string, r record.Record[string, []byte]) bool {
			routed[topic] = append(routed[topic], r.Key())
			n++
			return n == len(orders)
		})
	closeErr := app.Close()
	if readErr != nil {
		return readErr
	}
	if closeErr != nil {
		return closeErr
	}
	sort.Strings(outTopics)
	for _, t := range outTopics {
		fmt.Printf("  %-22s %v\n", t, routed[t])
	}
	return nil
}
