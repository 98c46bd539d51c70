package task

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct{ ms int64 }

func (c *fakeClock) Now() time.Time { return time.UnixMilli(c.ms) }

type sent struct {
	topic      string
	partition  int32
	key, value []byte
	ts         int64
}

type memCollector struct {
	sent       []sent
	partitions int32
}

func (c *memCollector) Send(topic string, partition int32, key, value []byte, _ record.Headers, ts int64) error {
	c.sent = append(c.sent, sent{topic, partition, clone(key), clone(value), ts})
	return nil
}

func (c *memCollector) PartitionCount(string) (int32, error) { return c.partitions, nil }

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func raw(topic string, offset, ts int64, value string) record.ConsumerRecord {
	return record.ConsumerRecord{Topic: topic, Partition: 2, Offset: offset, Timestamp: ts, Key: []byte("k"), Value: []byte(value)}
}

func joinTopology(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "left", record.String(), record.String(), "left")
	processor.AddSource(b, "right", record.String(), record.String(), "right")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "left", "right")
	topo, err := b.Build()
	must(t, err)
	return topo
}

func runningTask(t *testing.T, cfg Config) *Task {
	t.Helper()
	if cfg.Collector == nil {
		cfg.Collector = &memCollector{partitions: 4}
	}
	tk, err := New(cfg)
	must(t, err)
	must(t, tk.InitializeStores())
	must(t, tk.CompleteRestoration())
	t.Cleanup(func() { must(t, tk.Close()) })
	return tk
}

func drain(t *testing.T, tk *Task) int {
	t.Helper()
	n := 0
	for {
		ok, err := tk.Process()
		must(t, err)
		if !ok {
			return n
		}
		n++
	}
}

func TestMaxTaskIdleHoldsProcessingUntilDeadlineThenCountsEnforcedProcessing(t *testing.T) {
	clock := &fakeClock{ms: 1000}
	col := &memCollector{}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), Collector: col,
		Clock: clock, MaxTaskIdle: 100 * time.Millisecond})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 5, "a"), raw("left", 1, 6, "b")}))
	// "right" is empty with unknown lag: wait.
	if n := drain(t, tk); n != 0 {
		t.Fatalf("processed %d records while right was empty and idle time remained", n)
	}
	clock.ms = 1099
	if n := drain(t, tk); n != 0 {
		t.Fatalf("processed %d records 1ms before the deadline", n)
	}
	clock.ms = 1100
	if n := drain(t, tk); n != 2 {
		t.Fatalf("processed %d records at the deadline, want 2", n)
	}
	if got := tk.Stats().EnforcedProcessing.Load(); got != 2 {
		t.Errorf("enforced processing = %d, want 2 (one per record)", got)
	}
	if len(col.sent) != 2 {
		t.Errorf("sent %d", len(col.sent))
	}
}

func TestCaughtUpEmptyPartitionDoesNotHoldProcessing(t *testing.T) {
	clock := &fakeClock{ms: 1000}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), Clock: clock,
		MaxTaskIdle: time.Hour})
	must(t, tk.SetLag("right", 2, 0))
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 5, "a")}))
	if n := drain(t, tk); n != 1 {
		t.Fatalf("processed %d, want 1: a caught-up partition must not block", n)
	}
	if got := tk.Stats().EnforcedProcessing.Load(); got != 0 {
		t.Errorf("enforced processing = %d, want 0", got)
	}
}

func TestNegativeMaxTaskIdleNeverWaits(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), Clock: &fakeClock{},
		MaxTaskIdle: -1})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 5, "a")}))
	if n := drain(t, tk); n != 1 {
		t.Fatalf("processed %d, want 1", n)
	}
}

func TestCommitReportsNextOffsetAndPartitionTimePerPartition(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 10, 50, "a"), raw("left", 11, 40, "b")}))
	must(t, tk.AddRecords("right", 2, []record.ConsumerRecord{raw("right", 7, 45, "c")}))
	drain(t, tk)
	if !tk.CommitNeeded() {
		t.Error("CommitNeeded false after processing")
	}
	offs, err := tk.Commit()
	must(t, err)
	want := []partitiongroup.Offset{{Topic: "left", Partition: 2, Offset: 12, PartitionTime: 50},
		{Topic: "right", Partition: 2, Offset: 8, PartitionTime: 45}}
	if len(offs) != 2 || offs[0] != want[0] || offs[1] != want[1] {
		t.Errorf("offsets %+v, want %+v", offs, want)
	}
	if tk.CommitNeeded() {
		t.Error("CommitNeeded true right after commit")
	}
}

func TestSeededPartitionTimeRestoresStreamTime(t *testing.T) {
	tk, err := New(Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), Collector: &memCollector{}})
	must(t, err)
	defer tk.Close()
	must(t, tk.SetPartitionTime("left", 2, 900))
	must(t, tk.SetPartitionTime("right", 2, 700))
	if tk.StreamTime() != 900 {
		t.Errorf("stream time %d, want 900", tk.StreamTime())
	}
}

func TestLifecycleRejectsIllegalTransitions(t *testing.T) {
	tk, err := New(Config{Topology: joinTopology(t), Collector: &memCollector{}})
	must(t, err)
	if tk.State() != Created {
		t.Fatalf("new task is %s", tk.State())
	}
	if err := tk.CompleteRestoration(); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("created -> running: %v", err)
	}
	if err := tk.Resume(); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("created -> restoring via Resume: %v", err)
	}
	if _, err := tk.Process(); err == nil {
		t.Error("Process in created state succeeded")
	}
	must(t, tk.InitializeStores())
	if err := tk.InitializeStores(); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("restoring -> restoring: %v", err)
	}
	must(t, tk.CompleteRestoration())
	if err := tk.Resume(); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("running -> restoring: %v", err)
	}
	must(t, tk.Suspend())
	if tk.State() != Suspended {
		t.Fatalf("state %s", tk.State())
	}
	must(t, tk.Resume())
	must(t, tk.CompleteRestoration())
	must(t, tk.Close())
	if tk.State() != Closed {
		t.Fatalf("state %s", tk.State())
	}
	must(t, tk.Close()) // idempotent
	if err := tk.InitializeStores(); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("closed -> restoring: %v", err)
	}
}

// lifecycleProc records Init and Close calls.
type lifecycleProc struct {
	log  *[]string
	fail string
}

func (p *lifecycleProc) Init(processor.Context[string, string]) error {
	*p.log = append(*p.log, "init")
	if p.fail == "init" {
		return errors.New("cannot init")
	}
	if p.fail == "init-panic" {
		panic("init exploded")
	}
	return nil
}
func (p *lifecycleProc) Process(record.Record[string, string]) error { return nil }
func (p *lifecycleProc) Close() error {
	*p.log = append(*p.log, "close")
	return nil
}

func lifecycleTopology(t *testing.T, log *[]string, fail string) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] {
		return &lifecycleProc{log: log, fail: fail}
	}, "src").WithStores("s")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("s"), record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

func TestSuspendClosesProcessorsAndResumeInitializesThemAgainWithStoresKept(t *testing.T) {
	var log []string
	tk := runningTask(t, Config{Topology: lifecycleTopology(t, &log, "")})
	s, _ := tk.Store("s")
	kv := s.(store.KeyValueStore[string, string])
	must(t, kv.Put("kept", "yes"))
	must(t, tk.AddRecords("in", 0, []record.ConsumerRecord{raw("in", 0, 1, "x")}))
	must(t, tk.Suspend())
	if n, _, _ := tk.PartitionGroup().Buffered("in", 0); n != 0 {
		t.Errorf("suspend kept %d buffered records", n)
	}
	must(t, tk.Resume())
	must(t, tk.CompleteRestoration())
	if v, ok, err := kv.Get("kept"); err != nil || !ok || v != "yes" {
		t.Errorf("store lost data across suspend: %q %v %v", v, ok, err)
	}
	if got := strings.Join(log, " "); got != "init close init" {
		t.Errorf("lifecycle calls %q", got)
	}
}

func TestInitErrorAndPanicNameTheNode(t *testing.T) {
	for _, fail := range []string{"init", "init-panic"} {
		var log []string
		tk, err := New(Config{Topology: lifecycleTopology(t, &log, fail), Collector: &memCollector{}})
		must(t, err)
		must(t, tk.InitializeStores())
		err = tk.CompleteRestoration()
		var ne *processor.NodeError
		if !errors.As(err, &ne) || ne.Node != "p" || !strings.Contains(err.Error(), "task 0_0") {
			t.Errorf("%s: error = %v, want a NodeError for p naming task 0_0", fail, err)
		}
		must(t, tk.Close())
	}
}

func TestSinkWritesNullKeyAsNullForProducerPartitioning(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "src")
	topo, err := b.Build()
	must(t, err)
	col := &memCollector{}
	tk := runningTask(t, Config{Topology: topo, Collector: col})
	must(t, tk.AddRecords("in", 0, []record.ConsumerRecord{
		{Topic: "in", Offset: 0, Timestamp: 3, Key: nil, Value: nil},
		{Topic: "in", Offset: 1, Timestamp: 4, Key: []byte{}, Value: []byte{}},
	}))
	drain(t, tk)
	if len(col.sent) != 2 {
		t.Fatalf("sent %d", len(col.sent))
	}
	if s := col.sent[0]; s.key != nil || s.value != nil || s.partition != -1 || s.ts != 3 {
		t.Errorf("null record sent as %+v, want nil key and value, partition -1", s)
	}
	if s := col.sent[1]; s.key == nil || s.value == nil || len(s.key) != 0 {
		t.Errorf("empty record sent as %+v, want empty non-nil key and value", s)
	}
}

func TestSinkPartitionerAndTopicFunction(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSinkFunc(b, "out", func(r record.Record[string, string]) string { return "topic-" + r.Value() },
		record.String(), record.String(), "src").
		WithPartitioner(func(topic string, r record.Record[string, string], n int32) (int32, bool) {
			if r.Key() == "auto" {
				return 0, false
			}
			if r.Key() == "bad" {
				return n, true
			}
			return n - 1, true
		})
	topo, err := b.Build()
	must(t, err)
	col := &memCollector{partitions: 6}
	tk := runningTask(t, Config{Topology: topo, Collector: col})
	must(t, tk.AddRecords("in", 0, []record.ConsumerRecord{
		{Topic: "in", Offset: 0, Key: []byte("x"), Value: []byte("a")},
		{Topic: "in", Offset: 1, Key: []byte("auto"), Value: []byte("b")},
		{Topic: "in", Offset: 2, Key: []byte("bad"), Value: []byte("c")},
	}))
	drain2 := func() error {
		for {
			ok, err := tk.Process()
			if err != nil || !ok {
				return err
			}
		}
	}
	err = drain2()
	if len(col.sent) != 2 || col.sent[0].topic != "topic-a" || col.sent[0].partition != 5 ||
		col.sent[1].topic != "topic-b" || col.sent[1].partition != -1 {
		t.Errorf("sent %+v", col.sent)
	}
	if err == nil || !strings.Contains(err.Error(), "partition 6") || !strings.Contains(err.Error(), `"out"`) {
		t.Errorf("out-of-range partition: %v", err)
	}
}

func TestWallClockPunctuationUsesInjectedClock(t *testing.T) {
	clock := &fakeClock{ms: 10_000}
	var fired []int64
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] {
		return &scheduler{fired: &fired}
	}, "src")
	topo, err := b.Build()
	must(t, err)
	tk := runningTask(t, Config{Topology: topo, Clock: clock})
	if next, ok := tk.NextWallClockPunctuation(); !ok || next != 10_250 {
		t.Errorf("next wall-clock punctuation %d %v, want 10250", next, ok)
	}
	clock.ms = 10_249
	fired1, err := tk.PunctuateWallClock()
	must(t, err)
	clock.ms = 10_800
	fired2, err := tk.PunctuateWallClock()
	must(t, err)
	if fired1 || !fired2 || len(fired) != 1 || fired[0] != 10_800 {
		t.Errorf("fired %v %v %v", fired1, fired2, fired)
	}
	if next, _ := tk.NextWallClockPunctuation(); next != 11_000 {
		t.Errorf("next point %d, want 11000 on the grid", next)
	}
}

type scheduler struct{ fired *[]int64 }

func (s *scheduler) Init(ctx processor.Context[string, string]) error {
	_, err := ctx.Schedule(250*time.Millisecond, punctuate.WallClock, func(ts int64) error {
		*s.fired = append(*s.fired, ts)
		return nil
	})
	return err
}
func (s *scheduler) Process(record.Record[string, string]) error { return nil }
func (s *scheduler) Close() error                                { return nil }

func TestSupplierMakesAFreshProcessorPerTask(t *testing.T) {
	var made []*lifecycleProc
	var log []string
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] {
		p := &lifecycleProc{log: &log}
		made = append(made, p)
		return p
	}, "src").WithStores("s")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("s"), record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	t0 := runningTask(t, Config{ID: processor.TaskID{Partition: 0}, Topology: topo})
	t1 := runningTask(t, Config{ID: processor.TaskID{Partition: 1}, Topology: topo})
	if len(made) != 2 || made[0] == made[1] {
		t.Fatalf("supplier made %d processors for two tasks", len(made))
	}
	s0, _ := t0.Store("s")
	s1, _ := t1.Store("s")
	if s0 == s1 {
		t.Error("two tasks share one store instance")
	}
}

// punctProc schedules a stream-time punctuator in Init that counts firings.
type punctProc struct {
	fired *int
	fail  bool
	log   *[]string
	name  string
}

func (p *punctProc) Init(ctx processor.Context[string, string]) error {
	*p.log = append(*p.log, "init "+p.name)
	if _, err := ctx.Schedule(10*time.Millisecond, punctuate.StreamTime, func(int64) error { *p.fired++; return nil }); err != nil {
		return err
	}
	if p.fail {
		return errors.New("init failed")
	}
	return nil
}

func (p *punctProc) Process(record.Record[string, string]) error { return nil }

func (p *punctProc) Close() error {
	*p.log = append(*p.log, "close "+p.name)
	return nil
}

func TestResumedTaskFiresEachPunctuatorOncePerGridPoint(t *testing.T) {
	var log []string
	fired := 0
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] {
		return &punctProc{fired: &fired, log: &log, name: "p"}
	}, "src")
	topo, err := b.Build()
	must(t, err)
	tk := runningTask(t, Config{Topology: topo})
	must(t, tk.Suspend())
	must(t, tk.Resume())
	must(t, tk.CompleteRestoration())
	must(t, tk.AddRecords("in", 0, []record.ConsumerRecord{raw("in", 0, 5, "x")}))
	if ok, err := tk.Process(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if fired != 1 {
		t.Errorf("punctuator fired %d times at the first grid point, want 1 (the closed processor's schedule must be gone)", fired)
	}
}

func TestFailedInitClosesTheProcessorsAlreadyInitialized(t *testing.T) {
	var log []string
	fired := 0
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "a", func() processor.Processor[string, string, string, string] {
		return &punctProc{fired: &fired, log: &log, name: "a"}
	}, "src")
	processor.AddProcessor(b, "b", func() processor.Processor[string, string, string, string] {
		return &punctProc{fired: &fired, log: &log, name: "b", fail: true}
	}, "a")
	topo, err := b.Build()
	must(t, err)
	tk, err := New(Config{Topology: topo, Collector: &memCollector{}})
	must(t, err)
	must(t, tk.InitializeStores())
	if err := tk.CompleteRestoration(); err == nil {
		t.Fatal("CompleteRestoration succeeded, want b's init error")
	}
	must(t, tk.Close())
	if got := strings.Join(log, ", "); got != "init a, init b, close a" {
		t.Errorf("lifecycle calls %q, want a closed after b failed to init", got)
	}
}
