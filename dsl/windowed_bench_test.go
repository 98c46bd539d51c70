//go:build cgo && !millrace_norocksdb

package dsl_test

import (
	"encoding/binary"
	"github.com/millrace/millrace/internal/tasktest"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/task"
	"github.com/millrace/millrace/window"
)

// newCountSerializer writes a Change's new value as Int64 does: what
// ToStream then To writes for a windowed count.
type newCountSerializer struct{}

func (newCountSerializer) Serialize(dst []byte, c window.Change[int64]) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(c.New)), nil
}

// BenchmarkWindowedCount compares the DSL's windowed count with the same
// window processors wired by hand, side by side: 60 s tumbling windows
// with 5 s grace over 1000 keys, 1 ms of event time per record, a commit
// every 10k records, windowed counts sunk to a discarding collector.
//
//   - dsl: CountWindows(WindowedBy(GroupByKey(s), w)) -> ToStream -> To.
//   - processor: source -> window.Count -> sink, the store made with
//     window.TimeWindowStore.
//   - dsl-final / processor-final: the same with EmitFinal
//     (window.CountFinal and its watermark store).
//   - dsl-suppress: CountWindows then Suppress(UntilWindowCloses): what
//     EmitFinal saves.
func BenchmarkWindowedCount(b *testing.B) {
	w := mustW(window.Tumbling(60*time.Second, 5*time.Second))
	backends := []struct {
		name string
		win  window.WindowBackend
		kv   window.KeyValueBackend
		opts []dsl.Option
	}{
		{"rocksdb", rocksdb.Window, rocksdb.KeyValue, nil},
		{"memory", store.InMemoryWindow, store.InMemoryKeyValue, []dsl.Option{dsl.InMemory()}},
	}
	for _, be := range backends {
		dslCount := func(b *testing.B, extra ...dsl.Option) {
			bld := dsl.NewBuilder()
			g := dsl.GroupByKey(dsl.FromTopics(bld, []string{"in"}, record.String(), record.String()))
			opts := append(append([]dsl.Option{dsl.As("counts")}, be.opts...), extra...)
			dsl.To(dsl.ToStream(dsl.CountWindows(dsl.WindowedBy(g, w), opts...)), "out")
			col := &discard{}
			t := tasktest.Start(b, mustBuild(b, bld), col, benchCacheBytes)
			runThroughTask(b, t)
			checkWindowed(b, t, col)
		}
		procCount := func(b *testing.B, final bool) {
			bld := processor.NewBuilder()
			processor.AddSource(bld, "in", record.String(), record.String(), "in")
			sup := window.Count[string, string](w, "counts")
			if final {
				sup = window.CountFinal[string, string](w, "counts", "marks")
				bld.AddStore(window.EmitWatermarkStore(be.kv, "marks"))
			}
			stores := []string{"counts"}
			if final {
				stores = append(stores, "marks")
			}
			processor.AddProcessor(bld, "count", sup, "in").WithStores(stores...)
			processor.AddSink(bld, "out", "out", window.TimeWindowedSerde(record.String(), w.Size()),
				record.Serializer[window.Change[int64]](newCountSerializer{}), "count")
			bld.AddStore(window.TimeWindowStore(be.win, "counts", w, record.String(), record.Int64()))
			topo, err := bld.Build()
			if err != nil {
				b.Fatal(err)
			}
			col := &discard{}
			t := tasktest.Start(b, topo, col, benchCacheBytes)
			runThroughTask(b, t)
			checkWindowed(b, t, col)
		}
		b.Run(be.name+"/dsl", func(b *testing.B) { dslCount(b) })
		b.Run(be.name+"/processor", func(b *testing.B) { procCount(b, false) })
		b.Run(be.name+"/dsl-final", func(b *testing.B) { dslCount(b, dsl.EmitFinal()) })
		b.Run(be.name+"/processor-final", func(b *testing.B) { procCount(b, true) })
		b.Run(be.name+"/dsl-suppress", func(b *testing.B) {
			bld := dsl.NewBuilder()
			g := dsl.GroupByKey(dsl.FromTopics(bld, []string{"in"}, record.String(), record.String()))
			counts := dsl.CountWindows(dsl.WindowedBy(g, w), append([]dsl.Option{dsl.As("counts")}, be.opts...)...)
			dsl.To(dsl.ToStream(dsl.Suppress(counts, dsl.UntilWindowCloses(window.Unbounded()), dsl.Named("final"))), "out")
			col := &discard{}
			t := tasktest.Start(b, mustBuild(b, bld), col, benchCacheBytes)
			runThroughTask(b, t)
			checkWindowed(b, t, col)
		})
	}
}

// checkWindowed reports the updates per input record and fails on any
// drop (the input is in order: nothing is late).
func checkWindowed(b *testing.B, t *task.Task, col *discard) {
	b.Helper()
	b.ReportMetric(float64(col.n)/float64(b.N), "updates/record")
	if d := t.Stats().Dropped(); d != 0 {
		b.Fatalf("%d records dropped: %v", d, t.Stats().DroppedReasons())
	}
}
