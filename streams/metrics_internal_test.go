package streams

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/task"
)

type nopCollector struct{}

func (nopCollector) Send(string, int32, []byte, []byte, record.Headers, int64) error { return nil }
func (nopCollector) PartitionCount(string) (int32, error)                            { return 1, nil }

// runTask makes a running pass-through task 0_0, processes n records and
// publishes its metrics.
func runTask(t *testing.T, n int) *task.Task {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "in")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	tk, err := task.New(task.Config{Topology: topo, Collector: nopCollector{}, MaxTaskIdle: -1, MeterSinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.InitializeStores(); err != nil {
		t.Fatal(err)
	}
	if err := tk.CompleteRestoration(); err != nil {
		t.Fatal(err)
	}
	recs := make([]record.ConsumerRecord, n)
	for i := range recs {
		recs[i] = record.ConsumerRecord{Topic: "in", Offset: int64(i), Timestamp: int64(i), Key: []byte("k"), Value: []byte("v")}
	}
	if err := tk.AddRecords("in", 0, recs); err != nil {
		t.Fatal(err)
	}
	for {
		ok, err := tk.Process()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	tk.PublishMetrics(time.Now())
	return tk
}

func newTestMetrics() *metrics {
	return newMetrics(&Config{ApplicationID: "app", CacheMaxBytes: 1 << 20}, &hooks{logger: zap.NewNop()})
}

func TestATaskRunAgainAddsItsCountersToTheEarlierRuns(t *testing.T) {
	m := newTestMetrics()
	id := processor.TaskID{}
	first := runTask(t, 3)
	m.addTask(id, first)
	m.setBlocked(id, time.Second)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	m.removeTask(id)
	if got := m.snapshot(Running, time.Now()).Tasks; len(got) != 1 || got[0].Active || got[0].Processed != 3 || got[0].Blocked != 0 {
		t.Fatalf("after the first run: %+v, want an inactive task with its 3 records", got)
	}
	second := runTask(t, 4)
	defer second.Close()
	m.addTask(id, second)
	tm := m.snapshot(Running, time.Now()).Tasks[0]
	if !tm.Active || tm.Processed != 7 || tm.Sources[0].RecordsConsumed != 7 || tm.Sources[0].Processed != 7 ||
		tm.Sinks[0].Records != 7 || tm.Lateness.Count != 7 || tm.Sources[0].E2ELatency.Count != 7 {
		t.Errorf("second run: %+v, want both runs' 7 records", tm)
	}
	if len(tm.Sources) != 1 || len(tm.Sinks) != 1 {
		t.Errorf("sources %+v and sinks %+v: the runs' entries are merged", tm.Sources, tm.Sinks)
	}
}

func TestRestoreRoundTakesInStoresUntilNoneRestores(t *testing.T) {
	m := newTestMetrics()
	a, b, c := processor.TaskID{Partition: 0}, processor.TaskID{Partition: 1}, processor.TaskID{Partition: 2}
	tp := topicPartition{"app-s-changelog", 0}
	m.restoreStarted(a, "s", tp, 10, 110)
	m.restoreStarted(b, "s", tp, 0, 50)
	m.restoreBatch(a, "s", tp, 59, 40) // offsets 10..59, 40 records (compaction gaps)
	m.restoreBatch(b, "s", tp, 49, 50)
	m.restoreEnded(b, "s", tp)
	p := m.snapshot(Rebalancing, time.Now()).Restore
	if !p.Active || p.Stores != 2 || p.StoresDone != 1 || p.Offsets != 150 || p.OffsetsDone != 100 || p.Records != 90 {
		t.Errorf("mid-round: %+v, want 2 stores (1 done), 100 of 150 offsets, 90 records", p)
	}
	tm := m.snapshot(Rebalancing, time.Now()).Tasks
	if len(tm) != 2 || !tm[0].Restoring || tm[0].Stores[0].Remaining != 50 || tm[1].Restoring || tm[1].Stores[0].Restored != 50 {
		t.Errorf("tasks mid-round: %+v, want a restoring with 50 left, b done with 50", tm)
	}
	m.restoreStarted(c, "s", tp, 0, 20) // joins the round: a still restores
	m.restorePosition(a, "s", 110)
	m.restoreEnded(a, "s", tp)
	m.restoreSuspended(c, "s", tp) // leaves it
	p = m.snapshot(Running, time.Now()).Restore
	if p.Active || p.Stores != 2 || p.StoresDone != 2 || p.OffsetsDone != 150 || p.Took <= 0 {
		t.Errorf("round over: %+v, want 2 stores done (c suspended), all 150 offsets", p)
	}
	m.restoreStarted(c, "s", tp, 0, 20) // a new round
	if p := m.snapshot(Rebalancing, time.Now()).Restore; !p.Active || p.Stores != 1 || p.Offsets != 20 || p.OffsetsDone != 0 {
		t.Errorf("new round: %+v, want c alone", p)
	}
}
