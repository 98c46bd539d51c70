package appadmin_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// The broker tests run countTopology (in -> GroupBy value -> Count in the
// in-memory store "counts", no cache -> out) as application "counter":
// the App creates counter-counts-repartition and counter-counts-changelog,
// and writes one count per input record to out.
const appID = "counter"

var words = []string{"alpha", "bravo", "charlie", "delta", "echo"}

// startCluster starts an embedded broker with the topics in and out, and
// writes 30 records to in: each word 6 times, keyed so they spread over
// the partitions.
func startCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"in": 3, "out": 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // registered before any App, so Apps close first
	var recs []record.Record[string, string]
	for i := range 30 {
		r, err := record.New(fmt.Sprintf("k%d", i), words[i%len(words)], int64(1_000+i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := kafkatest.Produce(cl, "in", record.String(), record.String(), recs...); err != nil {
		t.Fatal(err)
	}
	return cl
}

// oneRun is what a single run over the input counts.
func oneRun() map[string]int64 {
	m := map[string]int64{}
	for i := range 30 {
		m[words[i%len(words)]]++
	}
	return m
}

// admin returns a franz-go admin client on the cluster, closed with the
// test.
func admin(t *testing.T, cl *kafkatest.Cluster) *kadm.Client {
	t.Helper()
	kc, err := kgo.NewClient(kgo.SeedBrokers(cl.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kadm.NewClient(kc)
}

func bounded(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// committedOffsets returns the group's committed offsets.
func committedOffsets(t *testing.T, adm *kadm.Client) map[appadmin.TopicPartition]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(bounded(t), appID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[appadmin.TopicPartition]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("committed offset of %s-%d: %v", o.Topic, o.Partition, o.Err)
		}
		out[appadmin.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.At
	})
	return out
}

// topicsOf returns the cluster's topic names.
func topicsOf(t *testing.T, adm *kadm.Client) map[string]bool {
	t.Helper()
	td, err := adm.ListTopics(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for name := range td {
		out[name] = true
	}
	return out
}

// runningApp is an App running countTopology.
type runningApp struct {
	app  *streams.App
	done chan error
}

// startApp runs countTopology as appID with stateDir; cfg adds to the
// test's defaults. The App is closed with the test if the test does not
// close it first.
func startApp(t *testing.T, cl *kafkatest.Cluster, stateDir string, cfg streams.Config) *runningApp {
	t.Helper()
	return startAppWith(t, cl, stateDir, cfg, countTopology)
}

// startAppWith is startApp with the topology topo builds.
func startAppWith(t *testing.T, cl *kafkatest.Cluster, stateDir string, cfg streams.Config, topo func() (*processor.Topology, error)) *runningApp {
	t.Helper()
	tp, err := topo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplicationID, cfg.BootstrapServers, cfg.StateDir = appID, cl.Bootstrap(), stateDir
	cfg.CommitInterval = 100 * time.Millisecond
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 2 * time.Second
	}
	cfg.StartupTimeout = 20 * time.Second
	cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	app, err := streams.New(tp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &runningApp{app: app, done: make(chan error, 1)}
	go func() { r.done <- app.Run(context.Background()) }()
	t.Cleanup(func() { r.close(t) })
	return r
}

// close closes the App and waits for Run to return; it is idempotent.
func (r *runningApp) close(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	closed := make(chan error, 1)
	go func() { closed <- r.app.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close the App: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the App did not close within 60s")
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("the App's Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of Close")
	}
	r.done = nil
}

// waitMembers waits until the group has n members and returns them.
func waitMembers(t *testing.T, adm *kadm.Client, n int) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs, err := adm.DescribeGroups(bounded(t), appID)
		if err == nil {
			if g := gs[appID]; len(g.Members) == n && (n == 0 || g.State == "Stable") {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not reach %d stable member(s) within 30s (last: %+v, %v)", appID, n, gs[appID], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readCounts reads n records of out and returns the last count of each
// word: a word's counts are all in one partition, in order.
func readCounts(t *testing.T, cl *kafkatest.Cluster, n int) map[string]int64 {
	t.Helper()
	recs, err := kafkatest.Read(cl, "out", record.String(), record.Int64(), n, kafkatest.ReadOptions{Timeout: 60 * time.Second})
	if err != nil {
		t.Fatalf("read %d counts: %v", n, err)
	}
	last := map[string]int64{}
	for _, r := range recs {
		last[r.Key()] = r.Value()
	}
	return last
}
