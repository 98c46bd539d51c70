package streams

import (
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// restoreFixture is a restorer on an embedded cluster whose changelog
// topics "cl-a" and "cl-b" (one partition each) hold n records of keys
// k000.. with values v000...
func restoreFixture(t *testing.T, batch bool, n int) *restorer {
	t.Helper()
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"cl-a": 1, "cl-b": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	recs := make([]record.Record[string, string], n)
	for i := range recs {
		recs[i], err = record.New(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%03d", i), int64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"cl-a", "cl-b"} {
		if err := kafkatest.Produce(c, topic, record.String(), record.String(), recs...); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{ApplicationID: "restorer", BootstrapServers: c.Bootstrap(), Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	cfg.withDefaults()
	cl := newClients(&cfg)
	r, err := startRestorer(cl, newMetrics(&cfg, &hooks{logger: cfg.Logger}), batch)
	if err != nil {
		t.Fatal(err)
	}
	if batch && r.reader == nil {
		t.Fatal("the restore consumer is not one the batch reader accepts")
	}
	t.Cleanup(func() { r.close(); cl.close() })
	return r
}

// restoreInto makes a restoration of task id from topic's partition 0
// into a new in-memory store, from the beginning.
func restoreInto(t *testing.T, id processor.TaskID, topic string) (*restoration, store.KeyValueBytes) {
	t.Helper()
	st := store.NewInMemoryKeyValueBytes("s")
	if err := st.Init(store.InitContext{TaskID: id.String(), ApplicationID: "restorer", StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &restoration{id: id, parts: []*restorePart{{tp: topicPartition{topic, 0}, store: "s", target: st,
		start: int64(kafka.OffsetBeginning)}}}, st
}

// awaitRestored waits until the restorer reported every task in ids
// restored to offset end.
func awaitRestored(t *testing.T, r *restorer, end int64, ids ...processor.TaskID) {
	t.Helper()
	want := map[processor.TaskID]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(want) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("tasks %v not restored within 30 s", want)
		}
		for _, res := range r.take() {
			if res.err != nil || len(res.wipe) > 0 {
				t.Fatalf("task %s: restoration failed: %v %v", res.id, res.err, res.wipe)
			}
			for tp, o := range res.restoredTo {
				if o != end {
					t.Errorf("task %s: %s-%d restored to %d, want %d", res.id, tp.topic, tp.partition, o, end)
				}
			}
			delete(want, res.id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkStore checks st holds k000..=v000.. for n keys.
func checkStore(t *testing.T, st store.KeyValueBytes, n int) {
	t.Helper()
	if got, err := st.ApproximateNumEntries(); err != nil || got != int64(n) {
		t.Errorf("store holds %d entries (%v), want %d", got, err, n)
	}
	for i := range n {
		v, ok, err := st.Get([]byte(fmt.Sprintf("k%03d", i)))
		if want := fmt.Sprintf("v%03d", i); err != nil || !ok || string(v) != want {
			t.Fatalf("k%03d = %q %v %v, want %q", i, v, ok, err, want)
		}
	}
}

// TestRestorerRestoresAPartitionAgainAfterItsRestorationEnded proves a
// changelog partition restored, unassigned, then restored again (a task
// revoked and assigned back, recreated after a wipe) is read again, in
// batches or polled, and that restorations added together all finish.
// With the batch reader, the partition's route to it is cleared when its
// fetcher stops; a reader that did not set it again would never deliver.
func TestRestorerRestoresAPartitionAgainAfterItsRestorationEnded(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			const n = 2500 // three write batches
			r := restoreFixture(t, batch, n)
			a, b := processor.TaskID{Subtopology: 0}, processor.TaskID{Subtopology: 1}
			for round := range 2 {
				xa, sa := restoreInto(t, a, "cl-a")
				xb, sb := restoreInto(t, b, "cl-b")
				r.add(xa)
				r.add(xb)
				awaitRestored(t, r, n, a, b)
				checkStore(t, sa, n)
				checkStore(t, sb, n)
				if t.Failed() {
					t.Fatalf("round %d", round)
				}
			}
		})
	}
}
