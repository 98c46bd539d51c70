//go:build cgo && !millrace_norocksdb

package dsl_test

import (
	"github.com/millrace/millrace/internal/tasktest"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/window"
)

// BenchmarkStreamJoin is a 1 s inner stream-stream join, the DSL's Join
// against window.Join wired by hand (the same stores from
// window.JoinStores, RocksDB or in memory), through a task as the other
// benchmarks here: runThroughTask's single input (1000 keys in turn, one
// ms per record), joined with itself, as Kafka Streams allows (both sides
// read the topic). A record pairs with its key's records within 1 s on
// the other side: the one 1000 ms earlier on the left processor's fetch,
// that one and itself on the right's, so every input makes 3 outputs
// (past the first second). Run with
//
//	go test -run '^$' -bench StreamJoin -cpu 1 -benchmem ./dsl/
func BenchmarkStreamJoin(b *testing.B) {
	w, err := window.JoinWithin(time.Second, 0)
	if err != nil {
		b.Fatal(err)
	}
	concat := func(l, r string) string { return l + "+" + r }
	for _, be := range []struct {
		name    string
		windows window.WindowBackend
		kv      window.KeyValueBackend
		opts    []dsl.Option
	}{
		{"rocksdb", rocksdb.Window, rocksdb.KeyValue, nil},
		{"memory", store.InMemoryWindow, store.InMemoryKeyValue, []dsl.Option{dsl.InMemory()}},
	} {
		b.Run(be.name+"/dsl", func(b *testing.B) {
			bld := dsl.NewBuilder()
			in := dsl.FromTopics(bld, []string{"in"}, record.String(), record.String())
			dsl.To(dsl.Join(in, in, concat, w, append(be.opts, dsl.As("j"))...), "out")
			col := &discard{}
			runThroughTask(b, tasktest.Start(b, mustBuild(b, bld), col, benchCacheBytes))
			checkJoinOutputs(b, col)
		})
		b.Run(be.name+"/processor", func(b *testing.B) {
			names := window.JoinStoreNames{Left: "left-buf", Right: "right-buf"}
			left, right := window.Join[string, string, string, string](window.InnerJoin, w, names,
				func(_ string, l, r *string) string { return concat(*l, *r) }, record.String(), record.String(), record.String())
			bld := processor.NewBuilder()
			processor.AddSource(bld, "in", record.String(), record.String(), "in")
			processor.AddProcessor(bld, "join-left", left, "in").WithStores(names.Left, names.Right)
			processor.AddProcessor(bld, "join-right", right, "in").WithStores(names.Left, names.Right)
			processor.AddSink(bld, "out", "out", record.String(), record.String(), "join-left", "join-right")
			for _, sb := range window.JoinStores(be.windows, be.kv, names, w, record.String(), record.String(), record.String()) {
				bld.AddStore(sb)
			}
			topo, err := bld.Build()
			if err != nil {
				b.Fatal(err)
			}
			col := &discard{}
			runThroughTask(b, tasktest.Start(b, topo, col, benchCacheBytes))
			checkJoinOutputs(b, col)
		})
	}
}

// checkJoinOutputs checks the self-join made 3 outputs per input after the
// first 1000 (which find no earlier record of their key: 1 each).
func checkJoinOutputs(b *testing.B, col *discard) {
	b.Helper()
	want := 3*b.N - 2*min(b.N, benchKeys)
	if col.n != want {
		b.Fatalf("join emitted %d records for %d inputs, want %d", col.n, b.N, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(col.n)/float64(b.N), "outputs/input")
}
