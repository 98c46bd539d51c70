package streams_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// BenchmarkGlobalStoreRestore measures an App's start with a global store
// of 200 k records on 4 partitions (in memory): each iteration starts an
// App on a fresh state directory and times it until RUNNING, which it
// reaches once the global store holds every record.
func BenchmarkGlobalStoreRestore(b *testing.B) {
	const n = 200_000
	c := cluster(b, map[string]int32{"table": 4, "in": 1})
	recs := make([]record.Record[string, string], n)
	for i := range recs {
		r, err := record.New(fmt.Sprintf("key-%06d", i), fmt.Sprintf("value-%06d-%080d", i, i), int64(1+i))
		must(b, err)
		recs[i] = r
	}
	must(b, kafkatest.Produce(c, "table", record.String(), record.String(), recs...))
	bld := processor.NewBuilder()
	processor.AddGlobalStore(bld, store.NewKeyValueBuilder(store.InMemoryKeyValue("table"), record.String(), record.String()),
		"table", record.String(), record.String())
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddSink(bld, "out", "in", record.String(), record.String(), "in")
	topo, err := bld.Build()
	must(b, err)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		app := start(b, topo, streams.Config{ApplicationID: fmt.Sprintf("global-restore-%d", i), BootstrapServers: c.Bootstrap(),
			StartupTimeout: 2 * time.Minute})
		waitState(b, app.app, streams.Running, 2*time.Minute)
		took := time.Since(began)
		b.StopTimer()
		kv, err := streams.KeyValueStore[string, string](app.app, "table")
		must(b, err)
		if v, ok, err := kv.Get("key-199999"); err != nil || !ok || v == "" {
			b.Fatalf("the global store lacks the last record: %q %v %v", v, ok, err)
		}
		must(b, app.stop(b))
		b.ReportMetric(float64(n)/took.Seconds(), "records/s")
		b.StartTimer()
	}
}

// A global store read in batches holds, once the App is RUNNING, each
// key's last value of its topic (tombstones delete), over many batches
// and partitions, and it keeps following the topic afterwards.
func TestGlobalStoreRestoredInBatchesHoldsEachKeysLastValueAndKeepsUp(t *testing.T) {
	c := cluster(t, map[string]int32{"table": 3, "in": 1})
	last := map[string]string{}
	var recs []record.Record[string, string]
	for i := range 5000 {
		k := fmt.Sprintf("k%03d", i%300)
		r, err := record.New(k, fmt.Sprintf("v%d", i), int64(1+i))
		must(t, err)
		if i%7 == 0 {
			r = r.WithNullValue()
			delete(last, k)
		} else {
			last[k] = r.Value()
		}
		recs = append(recs, r)
	}
	must(t, kafkatest.Produce(c, "table", record.String(), record.String(), recs...))
	bld := processor.NewBuilder()
	processor.AddGlobalStore(bld, store.NewKeyValueBuilder(store.InMemoryKeyValue("table"), record.String(), record.String()),
		"table", record.String(), record.String())
	processor.AddSource(bld, "in", record.String(), record.String(), "in")
	processor.AddSink(bld, "out", "in", record.String(), record.String(), "in")
	topo, err := bld.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "global-batches", BootstrapServers: c.Bootstrap()})
	waitState(t, app.app, streams.Running, time.Minute)
	kv, err := streams.KeyValueStore[string, string](app.app, "table")
	must(t, err)
	check := func(want map[string]string) error {
		for i := range 300 {
			k := fmt.Sprintf("k%03d", i)
			v, ok, err := kv.Get(k)
			if err != nil {
				return err
			}
			if w, has := want[k]; ok != has || v != w {
				return fmt.Errorf("key %s: %q (present %v), want %q (present %v)", k, v, ok, w, has)
			}
		}
		return nil
	}
	if err := check(last); err != nil {
		t.Fatalf("at RUNNING: %v", err)
	}
	// Afterwards: every key gets a new value.
	recs = recs[:0]
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		r, err := record.New(k, "after", int64(10_000+i))
		must(t, err)
		recs = append(recs, r)
		last[k] = "after"
	}
	must(t, kafkatest.Produce(c, "table", record.String(), record.String(), recs...))
	deadline := time.Now().Add(30 * time.Second)
	for err := check(last); err != nil; err = check(last) {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the updates: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
