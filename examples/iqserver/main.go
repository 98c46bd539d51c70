// Command iqserver counts words on several instances of one application
// and answers "how often did word w occur?" over HTTP from any of them:
// each instance advertises its HTTP address as its ApplicationServer,
// asks MetadataForKey which instance holds the word, and answers from its
// own store or forwards the query there.
//
// By default it starts an embedded Kafka broker and two instances, writes
// a few lines of text, asks every instance for every word, prints who
// answered each, and exits. With -brokers it does the same against a real
// cluster.
//
//	go run ./examples/iqserver
//	go run ./examples/iqserver -instances 3 -brokers localhost:9092
//
// Each instance serves
//
//	GET /count?word=w  ->  {"word":"w","count":3,"served_by":"127.0.0.1:40001","via":"127.0.0.1:40002"}
//
// "served_by" (also the X-Served-By header) is the instance whose store
// answered, "via" the one that forwarded the request; a 503 with
// Retry-After means the word's instance is rebalancing or restoring.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	"any instance answers for every word",
}

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers; empty starts an embedded broker")
	instances := flag.Int("instances", 2, "how many instances to run")
	stateDir := flag.String("state-dir", "", "state directory; empty uses a temporary one")
	verbose := flag.Bool("v", false, "log at info level")
	flag.Parse()
	if err := run(*brokers, *stateDir, *instances, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "iqserver:", err)
		os.Exit(1)
	}
}

func run(brokers, stateDir string, n int, verbose bool) (err error) {
	if n < 1 {
		return errors.New("-instances must be at least 1")
	}
	cluster, err := kafkatest.StartOrConnect(brokers, kafkatest.Config{Topics: map[string]int32{LinesTopic: 4}})
	if err != nil {
		return err
	}
	defer cluster.Close()
	bootstrap := cluster.Bootstrap()
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "iqserver-"); err != nil {
			return err
		}
		defer os.RemoveAll(stateDir)
	}
	logger := zap.NewNop()
	if verbose {
		logger, _ = zap.NewDevelopment()
	}
	var all []*Instance
	defer func() {
		for _, in := range all {
			err = errors.Join(err, in.Close())
		}
	}()
	for i := range n {
		in, err := StartInstance(bootstrap, filepath.Join(stateDir, strconv.Itoa(i)), logger)
		if err != nil {
			return err
		}
		fmt.Printf("instance %d serves http://%s/count?word=...\n", i, in.Addr)
		all = append(all, in)
	}
	if err := awaitSpread(all, 60*time.Second); err != nil {
		return err
	}
	want := map[string]int64{}
	var recs []record.Record[string, string]
	for i, line := range text {
		r, err := record.New(strconv.Itoa(i), line, time.Now().UnixMilli())
		if err != nil {
			return err
		}
		recs = append(recs, r)
		for _, w := range Words(line) {
			want[w]++
		}
	}
	fmt.Printf("writing %d lines to %s\n", len(recs), LinesTopic)
	if err := kafkatest.Produce(cluster, LinesTopic, record.String(), record.String(), recs...); err != nil {
		return err
	}
	words := make([]string, 0, len(want))
	for w := range want {
		words = append(words, w)
	}
	sort.Strings(words)
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	fmt.Printf("%-10s %5s  %-21s %s\n", "word", "count", "served by", "asked")
	for _, w := range words {
		for _, in := range all {
			var c Count
			for { // until counted: the lines are still being processed
				if c, err = Ask(client, in.Addr, w, deadline); err != nil {
					return err
				}
				if c.Count >= want[w] || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if c.Count != want[w] {
				return fmt.Errorf("%s answered %s=%d, want %d", in.Addr, w, c.Count, want[w])
			}
			how := "here"
			if c.Via != "" {
				how = "forwarded by " + c.Via
			}
			fmt.Printf("%-10s %5d  %-21s %s (%s)\n", w, c.Count, c.ServedBy, in.Addr, how)
		}
	}
	return nil
}

// awaitSpread waits until every instance is running and the group has
// spread the tasks over them (all of them hold some, if there are enough
// partitions), so queries show both local answers and forwarded ones.
func awaitSpread(all []*Instance, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		tasks, idle, running := map[string]bool{}, 0, 0
		for _, in := range all {
			ids := in.App.LocalTasks()
			for _, id := range ids {
				tasks[id.String()] = true
			}
			if len(ids) == 0 {
				idle++
			}
			if in.App.State() == streams.Running {
				running++
			}
		}
		if running == len(all) && len(tasks) == 8 && (idle == 0 || len(all) > 4) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the tasks did not spread over the %d instances within %v", len(all), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
