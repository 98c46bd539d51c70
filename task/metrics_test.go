package task

import (
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
)

func TestMetricsCountWhatEachPartitionWasHandedAndWhatEachSinkSent(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1, MeterSinks: true})
	left := []record.ConsumerRecord{raw("left", 0, 5, "a"), raw("left", 1, 6, "bb")}
	left[1].Headers = record.Headers{{Key: "h", Value: []byte("xyz")}}
	must(t, tk.AddRecords("left", 2, left))
	must(t, tk.AddRecords("right", 2, []record.ConsumerRecord{raw("right", 0, 7, "c")}))
	if n := drain(t, tk); n != 3 {
		t.Fatalf("processed %d, want 3", n)
	}
	if m := tk.Metrics(time.UnixMilli(1000)); len(m.Sources) != 2 || m.Sources[0].RecordsConsumed != 0 || len(m.Sinks) != 0 {
		t.Fatalf("before publication: %+v, want the partitions listed and nothing counted", m)
	}
	tk.PublishMetrics(time.UnixMilli(1000))
	m := tk.Metrics(time.UnixMilli(1000))
	l, r := m.Sources[0], m.Sources[1]
	if l.Node != "left" || l.Topic != "left" || l.Partition != 2 || l.RecordsConsumed != 2 || l.Processed != 2 ||
		l.BytesConsumed != 1+1+1+2+1+3 {
		t.Errorf("left: %+v, want 2 records of 9 bytes (keys, values, a header) consumed and processed", l)
	}
	if r.Node != "right" || r.RecordsConsumed != 1 || r.Processed != 1 || r.BytesConsumed != 2 {
		t.Errorf("right: %+v, want 1 record of 2 bytes", r)
	}
	if len(m.Sinks) != 1 {
		t.Fatalf("sinks: %+v, want one (out, out)", m.Sinks)
	}
	if s := m.Sinks[0]; s.Node != "out" || s.Topic != "out" || s.Records != 3 || s.Bytes != 3*1+(1+2+1)+(1+3) {
		t.Errorf("sink: %+v, want 3 records of 11 bytes (the header travels with its record)", s)
	}
	// A second publication adds only what came since.
	must(t, tk.AddRecords("right", 2, []record.ConsumerRecord{raw("right", 1, 8, "d")}))
	drain(t, tk)
	tk.PublishMetrics(time.UnixMilli(1000))
	if m := tk.Metrics(time.UnixMilli(1000)); m.Sources[1].RecordsConsumed != 2 || m.Sinks[0].Records != 4 {
		t.Errorf("after more records: %+v", m)
	}
}

func TestMetricsEndToEndLatencyIsThePublicationTimeMinusEachTimestamp(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1, MeterSinks: true})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 100, "a"), raw("left", 1, 400, "b")}))
	drain(t, tk)
	tk.PublishMetrics(time.UnixMilli(1000))
	m := tk.Metrics(time.UnixMilli(1000))
	for _, e := range []Measure{m.Sources[0].E2ELatency, m.Sinks[0].E2ELatency} {
		if e.Count != 2 || e.Sum != 900+600 || e.Min != 600 || e.Max != 900 || !e.Recent || e.Avg() != 750 {
			t.Errorf("e2e latency %+v, want 2 records, 600 and 900 ms", e)
		}
	}
	if e := m.Sources[1].E2ELatency; e.Count != 0 || e.Recent {
		t.Errorf("right took nothing, yet its e2e latency is %+v", e)
	}
}

func TestMetricsLatenessIsZeroOnTimeAndTheGapToStreamTimeWhenLate(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1})
	// Stream time reaches 50; 20 and 45 are late by 30 and 5; 60 is not.
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 50, "a"), raw("left", 1, 20, "b"),
		raw("left", 2, 45, "c"), raw("left", 3, 60, "d")}))
	drain(t, tk)
	tk.PublishMetrics(time.UnixMilli(1000))
	l := tk.Metrics(time.UnixMilli(1000)).Lateness
	if l.Count != 4 || l.Sum != 35 || l.Max != 30 || l.Min != 0 || l.Avg() != 8.75 {
		t.Errorf("lateness %+v, want 4 records, sum 35, max 30, min 0", l)
	}
	if got := tk.Stats().LateRecords.Load(); got != 2 {
		t.Errorf("late records = %d, want 2", got)
	}
}

func TestMeasureExtremesAreOverTheLastTwoWindows(t *testing.T) {
	var m measure
	w := windowMs
	m.publish(1000, 1, 5, 5, 5)
	m.publish(1000+w/2, 1, 9, 9, 9)
	if got := m.read(1000 + w/2); got.Min != 5 || got.Max != 9 || got.Count != 2 || got.Sum != 14 {
		t.Errorf("one window: %+v, want min 5 max 9", got)
	}
	m.publish(1000+w+1, 1, 7, 7, 7) // a new window: the last one still counts
	if got := m.read(1000 + w + 2); got.Min != 5 || got.Max != 9 {
		t.Errorf("second window: %+v, want the first window's extremes too", got)
	}
	if got := m.read(1000 + 2*w + 2); got.Min != 7 || got.Max != 7 || !got.Recent {
		t.Errorf("the first window is over 2 windows old: %+v, want only 7", got)
	}
	if got := m.read(1000 + 3*w + 2); got.Recent || got.Max != 0 || got.Count != 3 {
		t.Errorf("nothing for two windows: %+v, want no recent extremes, the count kept", got)
	}
	m.publish(1000+5*w, 1, 1, 1, 1) // after a gap, older windows are gone
	if got := m.read(1000 + 5*w); got.Min != 1 || got.Max != 1 {
		t.Errorf("after a gap: %+v, want only 1", got)
	}
}

func TestObserveProcessingPublishesTheAverageAndTheSlowest(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t)})
	tk.ObserveProcessing(4, 400*time.Nanosecond, 0)                   // chunk average 100
	tk.ObserveProcessing(2, 600*time.Nanosecond, 500*time.Nanosecond) // timed per record
	tk.ObserveProcessing(0, time.Second, time.Second)                 // nothing processed: ignored
	tk.PublishMetrics(time.UnixMilli(1000))
	p := tk.Metrics(time.UnixMilli(1000)).ProcessLatency
	if p.Count != 6 || p.Sum != 1000 || p.Min != 100 || p.Max != 500 {
		t.Errorf("process latency %+v, want 6 records in 1000 ns, fastest chunk 100 ns, slowest record 500 ns", p)
	}
}

func TestPunctuatedReportsEveryPunctuationWithItsType(t *testing.T) {
	clock := &fakeClock{ms: 0}
	var got []punctuate.Type
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "left")
	processor.AddProcessor(b, "p", func() processor.Processor[string, string, string, string] {
		return &funcProc{init: func(ctx processor.Context[string, string]) error {
			for _, typ := range []punctuate.Type{punctuate.StreamTime, punctuate.WallClock} {
				if _, err := ctx.Schedule(10*time.Millisecond, typ, func(int64) error { return nil }); err != nil {
					return err
				}
			}
			return nil
		}}
	}, "src")
	topo, err := b.Build()
	must(t, err)
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: topo, Clock: clock, MaxTaskIdle: -1,
		Punctuated: func(typ punctuate.Type, took time.Duration) {
			if took < 0 {
				t.Errorf("punctuation took %v", took)
			}
			got = append(got, typ)
		}})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 15, "a")}))
	drain(t, tk)
	clock.ms = 10
	if _, err := tk.PunctuateWallClock(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != punctuate.StreamTime || got[1] != punctuate.WallClock {
		t.Errorf("punctuations reported: %v, want stream time then wall clock", got)
	}
	if n := tk.Stats().Punctuations.Load(); n != 2 {
		t.Errorf("punctuations counted: %d", n)
	}
}

// funcProc is a pass-through processor with a custom Init.
type funcProc struct {
	ctx  processor.Context[string, string]
	init func(processor.Context[string, string]) error
}

func (p *funcProc) Init(ctx processor.Context[string, string]) error {
	p.ctx = ctx
	return p.init(ctx)
}
func (p *funcProc) Process(r record.Record[string, string]) error { return p.ctx.Forward(r) }
func (p *funcProc) Close() error                                  { return nil }

func TestMetricsReadWhileTheTaskProcessesAndPublishes(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1, MeterSinks: true})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a scraper
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				m := tk.Metrics(time.Now())
				if len(m.Sinks) > 0 && m.Sinks[0].Records > m.Sources[0].Processed {
					t.Errorf("a sink sent more than its only source processed: %+v", m)
				}
			}
		}
	}()
	for i := range 200 {
		must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", int64(i), int64(i), "v")}))
		drain(t, tk)
		tk.PublishMetrics(time.Now())
	}
	close(stop)
	wg.Wait()
	if m := tk.Metrics(time.Now()); m.Sources[0].Processed != 200 || m.Sinks[0].Records != 200 {
		t.Errorf("after 200 records: %+v", m)
	}
}

func TestZeroTaskMetricsAreEmpty(t *testing.T) {
	var tk Task
	tk.PublishMetrics(time.Now())
	tk.ObserveProcessing(1, time.Second, time.Second)
	if m := tk.Metrics(time.Now()); len(m.Sources) != 0 || m.ProcessLatency.Count != 0 {
		t.Errorf("zero task: %+v", m)
	}
}

func TestProcessedIsExactWhenIdleAtCommitsAndPublications(t *testing.T) {
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1})
	var recs []record.ConsumerRecord
	for i := range 5 {
		recs = append(recs, raw("left", int64(i), int64(i), "v"))
	}
	must(t, tk.AddRecords("left", 2, recs))
	for range 3 {
		if ok, err := tk.Process(); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if _, err := tk.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := tk.Stats().Processed.Load(); n != 3 {
		t.Errorf("after a commit: processed %d, want 3", n)
	}
	if ok, err := tk.Process(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	tk.PublishMetrics(time.UnixMilli(1000))
	if n := tk.Stats().Processed.Load(); n != 4 {
		t.Errorf("after a publication: processed %d, want 4", n)
	}
	drain(t, tk) // ends with a Process that finds nothing
	if n, m := tk.Stats().Processed.Load(), tk.Metrics(time.UnixMilli(1000)); n != 5 || m.Lateness.Count != 5 {
		t.Errorf("idle: processed %d, lateness count %d, want 5", n, m.Lateness.Count)
	}
}

func TestSinksAreNotMeteredUnlessAsked(t *testing.T) {
	col := &memCollector{partitions: 4}
	tk := runningTask(t, Config{ID: processor.TaskID{Partition: 2}, Topology: joinTopology(t), MaxTaskIdle: -1, Collector: col})
	must(t, tk.AddRecords("left", 2, []record.ConsumerRecord{raw("left", 0, 5, "a")}))
	drain(t, tk)
	tk.PublishMetrics(time.UnixMilli(1000))
	if m := tk.Metrics(time.UnixMilli(1000)); len(m.Sinks) != 0 || m.Sources[0].Processed != 1 || len(col.sent) != 1 {
		t.Errorf("sinks %+v, sources %+v, sent %d: want the record sent, its source counted, no sink metered", m.Sinks, m.Sources, len(col.sent))
	}
}
