// Package tasktest starts tasks for tests and benchmarks that drive a
// task.Task directly, without a runtime. Nothing outside tests imports it.
package tasktest

import (
	"testing"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

// Start creates task 0_0 of topo with col as its collector, a fresh state
// directory and a record cache of cacheBytes, initializes its stores and
// completes its (empty) restoration, so it is ready to process. The task
// is closed when tb ends; a failure to close fails tb.
func Start(tb testing.TB, topo *processor.Topology, col processor.RecordCollector, cacheBytes int64) *task.Task {
	tb.Helper()
	t, err := task.New(task.Config{ID: processor.TaskID{}, Topology: topo, Collector: col,
		StateDir: tb.TempDir(), Cache: store.NewCache(cacheBytes)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := t.InitializeStores(); err != nil {
		tb.Fatal(err)
	}
	if err := t.CompleteRestoration(); err != nil {
		tb.Fatal(err)
	}
	return t
}
