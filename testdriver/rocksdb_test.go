//go:build cgo && !millrace_norocksdb

package testdriver_test

// Topologies with RocksDB stores in the driver: these need cgo and
// librocksdb.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/store/statedir"
	"github.com/millrace/millrace/testdriver"
)

func TestRocksDBStoreRunsInTheDriverAndKeepsStateAcrossDrivers(t *testing.T) {
	dir := t.TempDir()
	build := func() *processor.Builder {
		b := processor.NewBuilder()
		processor.AddSource(b, "src", record.String(), record.String(), "in")
		processor.AddProcessor(b, "count", counter, "src").WithStores("counts")
		processor.AddSink(b, "out", "counts", record.String(), record.Int64(), "count")
		b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("counts"), record.String(), record.Int64()).WithCaching())
		return b
	}
	topo, err := build().Build()
	must(t, err)
	d, err := testdriver.New(topo, testdriver.Config{StateDir: dir, ApplicationID: "app"})
	must(t, err)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	must(t, in.Pipe("k", "a", 1))
	must(t, in.Pipe("k", "b", 2))
	// A second driver on the same state directory is refused: the task is locked.
	if _, err := testdriver.New(topo, testdriver.Config{StateDir: dir, ApplicationID: "app"}); !errors.Is(err, statedir.ErrLocked) {
		t.Errorf("second driver on a locked state directory: %v", err)
	}
	must(t, d.Close())
	d2, err := testdriver.New(topo, testdriver.Config{StateDir: dir, ApplicationID: "app"})
	must(t, err)
	defer d2.Close()
	must(t, testdriver.CreateInputTopic(d2, "in", record.String(), record.String()).Pipe("k", "c", 3))
	vs, err := testdriver.CreateOutputTopic(d2, "counts", record.String(), record.Int64()).ReadValues()
	must(t, err)
	if len(vs) != 1 || vs[0] != 3 {
		t.Errorf("count after reopening the RocksDB store = %v, want [3]", vs)
	}
}

func TestWindowStoreReachesProcessorTypedAndDriverReadsIt(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "win", func() processor.Processor[string, string, string, string] {
		var w store.WindowStore[string, int64]
		return &ticker{onInit: func(ctx processor.Context[string, string]) (err error) {
			if _, err := processor.WindowStore[string, string](ctx, "w"); !errors.Is(err, processor.ErrStoreType) {
				return fmt.Errorf("wrong-type lookup: %v", err)
			}
			w, err = processor.WindowStore[string, int64](ctx, "w")
			if err != nil {
				return err
			}
			return w.Put("k", 7, 1000)
		}}
	}, "src").WithStores("w")
	b.AddStore(store.NewWindowBuilder(rocksdb.Window("w", time.Hour, time.Minute, false), record.String(), record.Int64()))
	d := newDriver(t, b, testdriver.Config{})
	w, err := testdriver.WindowStore[string, int64](d, "w")
	must(t, err)
	if v, ok, err := w.Fetch("k", 1000); err != nil || !ok || v != 7 {
		t.Errorf("Fetch = %d %v %v", v, ok, err)
	}
}
