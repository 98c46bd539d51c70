//go:build cgo && !millrace_norocksdb

package appadmin_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// persistentCountTopology is countTopology with its store in RocksDB, so
// the counts survive in the state directory between runs.
func persistentCountTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	counts := dsl.Count(dsl.GroupBy(lines, func(_, v string) string { return v }), dsl.As("counts"), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), "out")
	return b.Build()
}

// TestResetWithoutTheStateDirectoryStillStartsTheStoresEmpty resets an
// application whose RocksDB store holds the first run's counts on disk,
// without deleting the state directory (as on the machines where the tool
// did not run), and checks that the second run counts exactly one run: the
// App sees a checkpoint past the end of the new, empty changelog and wipes
// the store. Had the store kept its contents, every count would be doubled.
func TestResetWithoutTheStateDirectoryStillStartsTheStoresEmpty(t *testing.T) {
	cl := startCluster(t)
	adm := admin(t, cl)
	stateDir := t.TempDir()
	first := startAppWith(t, cl, stateDir, streams.Config{}, persistentCountTopology)
	if got, want := readCounts(t, cl, 30), oneRun(); !maps.Equal(got, want) {
		t.Fatalf("first run counted %v, want %v", got, want)
	}
	first.close(t)
	waitMembers(t, adm, 0)
	stores, err := filepath.Glob(filepath.Join(stateDir, appID, "*", "rocksdb", "counts"))
	if err != nil || len(stores) == 0 {
		t.Fatalf("the first run left no RocksDB store under %s (%v)", stateDir, err)
	}

	if _, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap()}); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := os.Stat(stores[0]); err != nil {
		t.Fatalf("the reset without a state directory touched the local state: %v", err)
	}

	startAppWith(t, cl, stateDir, streams.Config{}, persistentCountTopology)
	// out now holds the first run's 30 counts, then the second's.
	if got, want := readCounts(t, cl, 60), oneRun(); !maps.Equal(got, want) {
		t.Errorf("after the reset the App counted %v, want exactly one run's %v (the old store came back)", got, want)
	}
}
