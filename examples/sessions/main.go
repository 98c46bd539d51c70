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
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/examples/internal/demo"
	"github.com/millrace/millrace/streams"
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
	bootstrap, stop, err := demo.Cluster(brokers, map[string]int32{ClicksTopic: 1, SessionsTopic: 1, PagesTopic: 1})
	if err != nil {
		return err
	}
	defer stop()
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
	app, err := streams.New(topo, streams.Config{ApplicationID: "sessions-example", BootstrapServers: bootstrap,
		StateDir: stateDir, CommitInterval: 100 * time.Millisecond, Logger: logger})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()

	start := time.Now().Truncate(10 * time.Minute).Add(-time.Hour)
	var recs []demo.Record
	for _, c := range []struct {
		user, page string
		min        int
	}{{"ada", "/home", 0}, {"ada", "/docs", 2}, {"bob", "/home", 3}, {"ada", "/home", 12}, {"ada", "/docs", 7}, {"bob", "/docs", 21},
		// Stream time is per task: each page's task closes its windows only
		// once it sees later clicks of its own.
		{"bob", "/home", 30}, {"bob", "/docs", 30}} {
		recs = append(recs, demo.Record{Key: []byte(c.user), Value: []byte(c.page), Time: start.Add(time.Duration(c.min) * time.Minute)})
	}
	fmt.Printf("writing %d clicks to %s\n", len(recs), ClicksTopic)
	if err := demo.Produce(bootstrap, ClicksTopic, recs); err != nil {
		app.Close()
		return err
	}
	merged, pagesSeen := false, 0
	readErr := demo.Read(bootstrap, []string{SessionsTopic, PagesTopic}, 60*time.Second, func(topic string, k, v []byte) bool {
		switch topic {
		case SessionsTopic:
			w, err := SessionKeys.Deserialize(k)
			if err != nil {
				return false
			}
			what := "deleted (merged)"
			if v != nil {
				what = fmt.Sprintf("%d clicks", binary.BigEndian.Uint64(v))
			}
			fmt.Printf("session   %-5s %s-%s  %s\n", w.Key, clock(w.Start), clock(w.End), what)
			// ada's clicks end in one session of 4, whatever the cache compacted before
			merged = merged || (w.Key == "ada" && v != nil && binary.BigEndian.Uint64(v) == 4)
		case PagesTopic:
			w, err := PageKeys.Deserialize(k)
			if err != nil {
				return false
			}
			fmt.Printf("page view %-5s %s-%s  %d (final)\n", w.Key, clock(w.Start), clock(w.End), binary.BigEndian.Uint64(v))
			pagesSeen++
		}
		return merged && pagesSeen >= 7
	})
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
