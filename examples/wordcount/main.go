// Command wordcount counts words with Millrace's DSL: lines are split into words,
// repartitioned by word, and counted in a RocksDB store with a changelog.
//
// By default it starts an embedded Kafka broker, writes a few lines of text
// to it, runs the application until every word is counted, prints the
// counts and exits. With -brokers it does the same against a real cluster.
//
//	go run ./examples/wordcount
//	go run ./examples/wordcount -brokers localhost:9092
//	go run ./examples/wordcount describe   # the topology and its topics (admin.go)
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

var text = []string{
	"A millrace is the current of water that turns a mill wheel",
	"the race carries water from the dam to the wheel",
	"Kafka carries records from producers to consumers",
	"and Millrace turns the records into state",
}

func main() {
	if code, ran := adminCommand(os.Args[1:]); ran { // describe, reset, help: see admin.go
		os.Exit(code)
	}
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	stateDir := flag.String("state-dir", "", "state directory; empty uses a temporary one")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if err := run(*brokers, *stateDir, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(brokers, stateDir string, verbose bool) error {
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: map[string]int32{LinesTopic: 3, CountTopic: 3}})
	if err != nil {
		return err
	}
	defer cluster.Close()
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "wordcount-"); err != nil {
			return err
		}
		defer os.RemoveAll(stateDir)
	}
	logger := zap.NewNop()
	if verbose {
		logger, _ = zap.NewDevelopment()
	}
	topo, err := NewTopology()
	if err != nil {
		return err
	}
	fmt.Print(topo.Describe())
	app, err := streams.New(topo, streams.Config{ApplicationID: "wordcount-example", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 200 * time.Millisecond, Logger: logger,
		Hooks: []streams.Hook{streams.NewRestorePrinter(os.Stderr, streams.RestorePrinterOptions{})}}) // restoration progress
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	want := map[string]int64{}
	var recs []record.Record[string, string]
	for _, line := range text {
		r, err := record.New("", line, time.Now().UnixMilli())
		if err != nil {
			app.Close()
			return err
		}
		recs = append(recs, r.WithNullKey())
		for _, w := range Words(line) {
			want[w]++
		}
	}
	fmt.Printf("writing %d lines to %s\n", len(recs), LinesTopic)
	if err := kafkatest.Produce(cluster, LinesTopic, record.String(), record.String(), recs...); err != nil {
		app.Close()
		return err
	}
	// The store is cached, so how many updates a word gets is not known:
	// read until every word has reached its count.
	counts := map[string]int64{}
	readErr := kafkatest.ReadUntil(cluster, []string{CountTopic}, record.String(), record.Int64(),
		kafkatest.ReadOptions{Timeout: 60 * time.Second}, func(_ string, r record.Record[string, int64]) bool {
			counts[r.Key()] = r.Value()
			for w, n := range want {
				if counts[w] < n {
					return false
				}
			}
			return true
		})
	closeErr := app.Close()
	if readErr != nil {
		return readErr
	}
	if closeErr != nil {
		return closeErr
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	fmt.Println("word counts:")
	for _, w := range words {
		fmt.Printf("  %-10s %d\n", w, counts[w])
	}
	return nil
}
