package streams_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// retime gives each record the timestamp written in its value, counts it
// per key in a logged store (so the changelog gets a write at that time)
// and forwards it.
func retimeTopology(t *testing.T) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "retime", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		ts, err := strconv.ParseInt(r.Value(), 10, 64)
		if err != nil {
			return err
		}
		out, err := r.WithTimestamp(ts)
		if err != nil {
			return err
		}
		return ctx.Forward(out)
	}), "in")
	processor.AddProcessor(b, "count", func() processor.Processor[string, string, string, string] { return &passCount{} }, "retime").WithStores("seen")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "count")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("seen"), record.String(), record.Int64()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

type passCount struct {
	ctx processor.Context[string, string]
	s   store.KeyValueStore[string, int64]
}

func (p *passCount) Init(ctx processor.Context[string, string]) (err error) {
	p.ctx = ctx
	p.s, err = processor.KeyValueStore[string, int64](ctx, "seen")
	return err
}

func (p *passCount) Process(r record.Record[string, string]) error {
	n, _, err := p.s.Get(r.Key())
	if err != nil {
		return err
	}
	if err := p.s.Put(r.Key(), n+1); err != nil {
		return err
	}
	return p.ctx.Forward(r)
}

func (p *passCount) Close() error { return nil }

type productionFunc func(rec *handler.ProducerRecord, err error) handler.Response

func (f productionFunc) OnProductionError(_ *handler.ErrorContext, rec *handler.ProducerRecord, err error) handler.Response {
	return f(rec, err)
}

const maxWritable = math.MaxInt64 / int64(time.Millisecond) // 2262-04-11

func TestSinkWritesEveryTimestampTheClientCanWriteExactly(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	want := []int64{1, 2, 1_000, 4_102_444_800_000 /* year 2100 */, maxWritable - 1, maxWritable}
	var input []kv
	for i, ts := range want {
		input = append(input, kv{"k" + strconv.Itoa(i), strconv.FormatInt(ts, 10), 1})
	}
	produce(t, c.Bootstrap(), "in", input)
	app := start(t, retimeTopology(t), streams.Config{ApplicationID: "ts-exact", BootstrapServers: c.Bootstrap(), CommitInterval: 50 * time.Millisecond})
	out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= len(want) }, app)
	if len(out) != len(want) {
		t.Fatalf("read %d outputs, want %d", len(out), len(want))
	}
	for i, o := range out {
		if o.ts != want[i] {
			t.Errorf("output %d (%s) has timestamp %d, want %d exactly", i, o.key, o.ts, want[i])
		}
	}
	// The changelog records of those writes carry the same timestamps.
	cl := consumeUntil(t, c.Bootstrap(), "ts-exact-seen-changelog", false, 30*time.Second, func(o []consumed) bool { return len(o) >= len(want) })
	for i, o := range cl {
		if o.ts != want[i] {
			t.Errorf("changelog record %d has timestamp %d, want %d", i, o.ts, want[i])
		}
	}
}

func TestSinkTimestampTheClientCannotWriteGoesToTheProductionHandler(t *testing.T) {
	for _, bad := range []int64{0, maxWritable + 1, 32_503_680_000_000 /* year 3000 */, math.MaxInt64} {
		t.Run(strconv.FormatInt(bad, 10), func(t *testing.T) {
			c := cluster(t, map[string]int32{"in": 1, "out": 1})
			produce(t, c.Bootstrap(), "in", []kv{{"good1", "5", 1}, {"bad", strconv.FormatInt(bad, 10), 1}, {"good2", "6", 1}})
			var asked []error
			cfg := streams.Config{ApplicationID: "ts-bad", BootstrapServers: c.Bootstrap(), CommitInterval: 50 * time.Millisecond,
				ProductionHandler: productionFunc(func(_ *handler.ProducerRecord, err error) handler.Response {
					asked = append(asked, err)
					return handler.ContinueWith()
				})}
			app := start(t, retimeTopology(t), cfg)
			out := consumeUntil(t, c.Bootstrap(), "out", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 2 }, app)
			time.Sleep(300 * time.Millisecond)
			out = consumeUntil(t, c.Bootstrap(), "out", false, 5*time.Second, func(o []consumed) bool { return len(o) >= len(out) })
			var keys []string
			for _, o := range out {
				keys = append(keys, string(o.key))
				if string(o.key) == "bad" {
					t.Errorf("a record with timestamp %d was written (as %d)", bad, o.ts)
				}
			}
			if strings.Join(keys, ",") != "good1,good2" {
				t.Errorf("outputs %v, want good1,good2", keys)
			}
			must(t, app.stop(t))
			if len(asked) != 1 || !errors.Is(asked[0], streams.ErrTimestampNotWritable) || !strings.Contains(asked[0].Error(), strconv.FormatInt(bad, 10)) ||
				!strings.Contains(asked[0].Error(), `"out"`) {
				t.Errorf("production handler asked %v, want once about timestamp %d on topic out", asked, bad)
			}
		})
	}
}

func TestSinkTimestampTheClientCannotWriteStopsTheAppByDefault(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", []kv{{"bad", "0", 1}})
	// Even a processing handler that skips everything cannot skip it: the
	// production handler (default: fail) decides.
	app := start(t, retimeTopology(t), streams.Config{ApplicationID: "ts-fail", BootstrapServers: c.Bootstrap(),
		ProcessingHandler: handler.LogAndContinue{}})
	select {
	case err := <-app.done:
		if !errors.Is(err, streams.ErrTimestampNotWritable) || !strings.Contains(err.Error(), `"out"`) || !strings.Contains(err.Error(), "timestamp 0") {
			t.Fatalf("Run: %v, want ErrTimestampNotWritable naming topic out and timestamp 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the App kept running")
	}
}

func TestChangelogTimestampsOutsideTheWritableRangeAreClamped(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, c.Bootstrap(), "in", []kv{{"zero", "0", 1}, {"max", strconv.FormatInt(math.MaxInt64, 10), 1}})
	app := start(t, retimeTopology(t), streams.Config{ApplicationID: "ts-clamp", BootstrapServers: c.Bootstrap(), CommitInterval: 50 * time.Millisecond,
		ProductionHandler: productionFunc(func(*handler.ProducerRecord, error) handler.Response { return handler.ContinueWith() })})
	cl := consumeUntil(t, c.Bootstrap(), "ts-clamp-seen-changelog", false, 30*time.Second, func(o []consumed) bool { return len(o) >= 2 }, app)
	if len(cl) != 2 || cl[0].ts != 1 || cl[1].ts != maxWritable {
		t.Fatalf("changelog timestamps %v, want [1 %d]", cl, maxWritable)
	}
}
