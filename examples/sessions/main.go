// Command sessions counts clicks per user session (session windows, whose
// late clicks can merge sessions) and page views per hopping window,
// emitted once per window when it closes (EmitFinal), with Millrace's DSL.
//
// By default it starts an embedded Kafka broker, writes a few clicks, runs
// the application until the results are out, prints them and exits. With
// -brokers it does the same against a real cluster.
//
//	go run ./examples/sessions
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
	"github.com/millrace/millrace/window"
)

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if err := run(*brokers, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

func run(brokers string, verbose bool) error {
	// One partition: clicks of every user then reach the page counts in the
	// order written, and the results are those of the test driver's run.
	// With several, clicks of different users reach a page's task through
	// the repartition in any interleaving, and a window may close (grace
	// 10 min) before a slower user's clicks arrive: they are dropped as
	// late, as in Kafka Streams.
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: map[string]int32{ClicksTopic: 1, SessionsTopic: 1, PagesTopic: 1}})
	if err != nil {
		return err
	}
	defer cluster.Close()
	stateDir, err := os.MkdirTemp("", "sessions-")
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
	app, err := streams.New(topo, streams.Config{ApplicationID: "sessions-example", BootstrapServers: cluster.Bootstrap(),
		StateDir: stateDir, CommitInterval: 100 * time.Millisecond, Logger: logger})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	start := time.Now().Truncate(10 * time.Minute).Add(-time.Hour)
	var recs []record.Record[string, string]
	for _, c := range []struct {
		user, page string
		min        int
	}{{"ada", "/home", 0}, {"ada", "/docs", 2}, {"bob", "/home", 3}, {"ada", "/home", 12}, {"ada", "/docs", 7}, {"bob", "/docs", 21},
		// Stream time is per task: each page's task closes its windows only
		// once it sees later clicks of its own.
		{"bob", "/home", 30}, {"bob", "/docs", 30}} {
		r, err := record.New(c.user, c.page, start.Add(time.Duration(c.min)*time.Minute).UnixMilli())
		if err != nil {
			app.Close()
			return err
		}
		recs = append(recs, r)
	}
	fmt.Printf("writing %d clicks to %s\n", len(recs), ClicksTopic)
	if err := kafkatest.Produce(cluster, ClicksTopic, record.String(), record.String(), recs...); err != nil {
		app.Close()
		return err
	}
	// The session store is cached: how many updates and retractions reach
	// the topic depends on when it was flushed, so read until the final
	// sessions are out (ada's clicks are one session of 4, bob's last one
	// has 2). Each page window comes once, when it closes.
	final := map[string]int64{"ada": 4, "bob": 2}
	readErr := kafkatest.ReadUntil(cluster, []string{SessionsTopic}, SessionKeys, record.Int64(), kafkatest.ReadOptions{Timeout: 60 * time.Second},
		func(_ string, r record.Record[window.Windowed[string], int64]) bool {
			w, what := r.Key(), "deleted (merged)"
			if !r.ValueIsNull() {
				what = fmt.Sprintf("%d clicks", r.Value())
			}
			fmt.Printf("session   %-5s %s-%s  %s\n", w.Key, clock(w.Start), clock(w.End), what)
			if !r.ValueIsNull() && final[w.Key] == r.Value() {
				delete(final, w.Key)
			}
			return len(final) == 0
		})
	if readErr == nil {
		var pages []record.Record[window.Windowed[string], int64]
		pages, readErr = kafkatest.Read(cluster, PagesTopic, PageKeys, record.Int64(), 7, kafkatest.ReadOptions{Timeout: 60 * time.Second})
		for _, r := range pages {
			w := r.Key()
			fmt.Printf("page view %-5s %s-%s  %d (final)\n", w.Key, clock(w.Start), clock(w.End), r.Value())
		}
	}
	closeErr := app.Close()
	if err := <-done; err != nil && closeErr == nil {
		closeErr = err
	}
	if readErr != nil {
		return readErr
	}
	return closeErr
}

func clock(ms int64) string { return time.UnixMilli(ms).Local().Format(time.TimeOnly) }
