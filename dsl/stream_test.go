package dsl_test

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// rec is a record as a comparable value: what the tests expect a sink to
// have written, nulls and headers included.
type rec[K, V any] struct {
	Key       K
	Value     V
	NullKey   bool
	NullValue bool
	TS        int64
	Headers   record.Headers
}

func (r rec[K, V]) String() string {
	k, v := fmt.Sprint(r.Key), fmt.Sprint(r.Value)
	if r.NullKey {
		k = "<null>"
	}
	if r.NullValue {
		v = "<null>"
	}
	s := fmt.Sprintf("%s=%s@%d", k, v, r.TS)
	if len(r.Headers) > 0 {
		s += " " + r.Headers.String()
	}
	return s
}

// kv is a non-null record without headers.
func kv[K, V any](k K, v V, ts int64) rec[K, V] { return rec[K, V]{Key: k, Value: v, TS: ts} }

func fromRecords[K, V any](rs []record.Record[K, V]) []rec[K, V] {
	out := make([]rec[K, V], 0, len(rs))
	for _, r := range rs {
		h := r.Headers()
		if len(h) == 0 {
			h = nil
		}
		out = append(out, rec[K, V]{Key: r.Key(), Value: r.Value(), NullKey: r.KeyIsNull(), NullValue: r.ValueIsNull(),
			TS: r.Timestamp(), Headers: h})
	}
	return out
}

func mustBuild(t testing.TB, b *dsl.Builder) *processor.Topology {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return topo
}

// newDriver builds b and runs it in a test driver of application "x",
// closed when the test ends.
func newDriver(t testing.TB, b *dsl.Builder) *testdriver.Driver {
	t.Helper()
	d, err := testdriver.New(mustBuild(t, b), testdriver.Config{ApplicationID: "x"})
	if err != nil {
		t.Fatalf("testdriver.New: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// read reads every record the sinks wrote to topic.
func read[K, V any](t testing.TB, d *testdriver.Driver, topic string, keys record.Deserializer[K], values record.Deserializer[V]) []rec[K, V] {
	t.Helper()
	rs, err := testdriver.CreateOutputTopic(d, topic, keys, values).ReadRecords()
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return fromRecords(rs)
}

func readStrings(t testing.TB, d *testdriver.Driver, topic string) []rec[string, string] {
	t.Helper()
	return read(t, d, topic, record.String(), record.String())
}

func same[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func pipe(t testing.TB, in *testdriver.InputTopic[string, string], k, v string, ts int64, h ...record.Header) {
	t.Helper()
	if err := in.Pipe(k, v, ts, h...); err != nil {
		t.Fatalf("Pipe(%q, %q): %v", k, v, err)
	}
}

func pipeRaw(t testing.TB, d *testdriver.Driver, topic string, k, v []byte, ts int64) {
	t.Helper()
	if err := d.PipeRaw(topic, k, v, ts); err != nil {
		t.Fatalf("PipeRaw: %v", err)
	}
}

func strStream(b *dsl.Builder, topic string) dsl.Stream[string, string] {
	return dsl.FromTopics(b, []string{topic}, record.String(), record.String())
}

func dropped(t testing.TB, d *testdriver.Driver, sub int) map[string]int64 {
	t.Helper()
	st, err := d.Stats(sub)
	if err != nil {
		t.Fatal(err)
	}
	return st.DroppedReasons()
}

var hdr = record.Headers{{Key: "h", Value: []byte("1")}}

// nulls pipes the three null shapes to "in": a null key, a tombstone, both.
func nulls(t testing.TB, d *testdriver.Driver) {
	t.Helper()
	pipeRaw(t, d, "in", nil, []byte("v"), 1)
	pipeRaw(t, d, "in", []byte("k"), nil, 2)
	pipeRaw(t, d, "in", nil, nil, 3)
}

func nullKey(v string, ts int64) rec[string, string] {
	return rec[string, string]{Value: v, NullKey: true, TS: ts}
}
func tombstone(k string, ts int64) rec[string, string] {
	return rec[string, string]{Key: k, NullValue: true, TS: ts}
}
func nullBoth(ts int64) rec[string, string] {
	return rec[string, string]{NullKey: true, NullValue: true, TS: ts}
}

func TestFilterKeepsMatchingRecordsWithTimestampAndHeaders(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.Filter(strStream(b, "in"), func(k, v string) bool { return strings.HasPrefix(v, "y") }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "yes", 5, hdr...)
	pipe(t, in, "b", "no", 6)
	pipe(t, in, "c", "yep", 7)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{
		{Key: "a", Value: "yes", TS: 5, Headers: hdr}, kv("c", "yep", 7)})
}

func TestFilterNotDropsMatchingRecords(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.FilterNot(strStream(b, "in"), func(k, v string) bool { return k == "b" }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 1)
	pipe(t, in, "b", "2", 2)
	pipe(t, in, "c", "3", 3)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("a", "1", 1), kv("c", "3", 3)})
}

func TestMapValuesKeepsKeyTimestampAndHeaders(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.Int64())
	dsl.To(dsl.MapValues(s, func(n int64) string { return strconv.FormatInt(n*2, 10) }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	if err := in.Pipe("a", 21, 9, hdr...); err != nil {
		t.Fatal(err)
	}
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{{Key: "a", Value: "42", TS: 9, Headers: hdr}})
}

func TestMapValuesWithKeySeesTheKey(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.MapValuesWithKey(strStream(b, "in"), func(k, v string) string { return k + ":" + v }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 3)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("a", "a:1", 3)})
}

func TestMapReplacesKeyAndValueKeepingTimestampAndHeaders(t *testing.T) {
	b := dsl.NewBuilder()
	m := dsl.Map(strStream(b, "in"), func(k, v string) (int64, string) { return int64(len(v)), k })
	dsl.To(m, "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "xyz", 4, hdr...)
	same(t, "out", read(t, d, "out", record.Int64(), record.String()), []rec[int64, string]{
		{Key: 3, Value: "a", TS: 4, Headers: hdr}})
}

func TestSelectKeyReplacesOnlyTheKey(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v + k }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "b", 4, hdr...)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{{Key: "ba", Value: "b", TS: 4, Headers: hdr}})
}

func TestFlatMapEmitsEveryPairAndNoneDropsTheRecord(t *testing.T) {
	b := dsl.NewBuilder()
	fm := dsl.FlatMap(strStream(b, "in"), func(k, v string) []dsl.KeyValue[string, int64] {
		var out []dsl.KeyValue[string, int64]
		for i, w := range strings.Fields(v) {
			out = append(out, dsl.Pair(w, int64(i)))
		}
		return out
	})
	dsl.To(fm, "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "k", "x y", 2, hdr...)
	pipe(t, in, "k", "", 3)
	pipe(t, in, "k", "z", 4)
	same(t, "out", read(t, d, "out", record.String(), record.Int64()), []rec[string, int64]{
		{Key: "x", Value: 0, TS: 2, Headers: hdr}, {Key: "y", Value: 1, TS: 2, Headers: hdr}, kv("z", int64(0), 4)})
}

func TestFlatMapValuesEmitsOneRecordPerValue(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.FlatMapValues(strStream(b, "in"), strings.Fields), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "k", "x y", 2, hdr...)
	pipe(t, in, "k", " ", 3)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{
		{Key: "k", Value: "x", TS: 2, Headers: hdr}, {Key: "k", Value: "y", TS: 2, Headers: hdr}})
}

func TestPeekSeesEveryRecordAndForwardsItUnchanged(t *testing.T) {
	b := dsl.NewBuilder()
	var seen []string
	dsl.To(dsl.Peek(strStream(b, "in"), func(k, v string) { seen = append(seen, k+"="+v) }), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 1, hdr...)
	pipe(t, in, "b", "2", 2)
	same(t, "peeked", seen, []string{"a=1", "b=2"})
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{{Key: "a", Value: "1", TS: 1, Headers: hdr}, kv("b", "2", 2)})
}

func TestForeachSeesEveryRecordAndEndsTheStream(t *testing.T) {
	b := dsl.NewBuilder()
	var seen []string
	dsl.Foreach(strStream(b, "in"), func(k, v string) { seen = append(seen, k+"="+v) })
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 1)
	pipe(t, in, "b", "2", 2)
	same(t, "seen", seen, []string{"a=1", "b=2"})
	same(t, "produced topics", d.ProducedTopics(), []string(nil))
}

func TestMergeForwardsTheRecordsOfEveryStream(t *testing.T) {
	b := dsl.NewBuilder()
	one, two := strStream(b, "one"), strStream(b, "two")
	three := dsl.MapValues(strStream(b, "three"), strings.ToUpper)
	dsl.To(dsl.Merge(one, two, three), "out")
	d := newDriver(t, b)
	p1 := testdriver.CreateInputTopic(d, "one", record.String(), record.String())
	p2 := testdriver.CreateInputTopic(d, "two", record.String(), record.String())
	p3 := testdriver.CreateInputTopic(d, "three", record.String(), record.String())
	pipe(t, p1, "a", "1", 1)
	pipe(t, p2, "b", "2", 2)
	pipe(t, p3, "c", "x", 3)
	pipe(t, p1, "d", "4", 4)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("a", "1", 1), kv("b", "2", 2), kv("c", "X", 3), kv("d", "4", 4)})
	desc := mustBuild(t, b).Describe()
	if n := len(desc.Subtopologies); n != 1 {
		t.Errorf("merged streams in %d sub-topologies, want 1", n)
	}
}

func TestMergeNamedNamesTheMergeNode(t *testing.T) {
	b := dsl.NewBuilder()
	m := dsl.MergeNamed("both", strStream(b, "one"), strStream(b, "two"))
	if m.NodeName() != "both" {
		t.Errorf("NodeName %q, want both", m.NodeName())
	}
	dsl.To(m, "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "Processor: both ") {
		t.Errorf("no merge node named both in\n%s", desc)
	}
}

// point is a value type with no registered serde.
type point struct{ X, Y int }

func TestToWritesWithTheSerdeOptions(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.MapValues(strStream(b, "in"), func(v string) point { return point{X: len(v), Y: 7} })
	dsl.To(s, "out", dsl.ValueSerde(record.JSON[point]()), dsl.KeySerde(record.SerdeFuncs(
		func(k string) ([]byte, error) { return []byte("K" + k), nil },
		func(b []byte) (string, error) { return string(b), nil })))
	d := newDriver(t, b)
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "a", "xyz", 1)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("Ka", `{"X":3,"Y":7}`, 1)})
}

func TestToWithAPartitionerReturningZeroWrites(t *testing.T) {
	b := dsl.NewBuilder()
	var calls []string
	dsl.To(strStream(b, "in"), "out", dsl.WithPartitioner(func(topic string, r record.Record[string, string], n int32) (int32, bool) {
		calls = append(calls, fmt.Sprintf("%s %s %d", topic, r.Key(), n))
		return 0, true
	}))
	d := newDriver(t, b)
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "a", "1", 1)
	same(t, "partitioner calls", calls, []string{"out a 1"})
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{kv("a", "1", 1)})
}

func TestToWithAPartitionerOutOfRangeFailsTheRecord(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(strStream(b, "in"), "out", dsl.WithPartitioner(func(string, record.Record[string, string], int32) (int32, bool) {
		return 1, true // the driver's topics have one partition
	}))
	d := newDriver(t, b)
	err := testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("a", "1", 1)
	if err == nil {
		t.Fatal("a partition out of range was accepted")
	}
	if !strings.Contains(err.Error(), "partition") {
		t.Errorf("error does not say partition: %v", err)
	}
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{})
}

func TestToFuncPicksEachRecordsTopic(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.ToFunc(strStream(b, "in"), func(k, v string) string { return "out-" + k })
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 1)
	pipe(t, in, "b", "2", 2)
	pipe(t, in, "a", "3", 3)
	same(t, "out-a", readStrings(t, d, "out-a"), []rec[string, string]{kv("a", "1", 1), kv("a", "3", 3)})
	same(t, "out-b", readStrings(t, d, "out-b"), []rec[string, string]{kv("b", "2", 2)})
}

func TestToFuncReturningAnEmptyTopicFailsTheRecord(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.ToFunc(strStream(b, "in"), func(k, v string) string { return "" })
	d := newDriver(t, b)
	if err := testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("a", "1", 1); err == nil {
		t.Fatal("an empty topic was accepted")
	}
}

func TestRepartitionNamedWritesThroughItsTopicWithItsPartitions(t *testing.T) {
	b := dsl.NewBuilder()
	r := dsl.Repartition(dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v }),
		dsl.Named("byv"), dsl.Partitions(4))
	dsl.To(r, "out")
	topo := mustBuild(t, b).ForApplication("x")
	if n := len(topo.Subtopologies()); n != 2 {
		t.Errorf("%d sub-topologies, want 2", n)
	}
	it, ok := topo.InternalTopic("x-byv-repartition")
	if !ok {
		t.Fatalf("no internal topic x-byv-repartition: %+v", topo.InternalTopics())
	}
	if it.Partitions != 4 || it.Config["cleanup.policy"] != "delete" || !it.Purge {
		t.Errorf("repartition topic %+v", it)
	}
	desc := topo.Describe().String()
	if !strings.Contains(desc, "(topic: x-byv-repartition)") || !strings.Contains(desc, "(topics: [x-byv-repartition])") {
		t.Errorf("Describe does not show x-byv-repartition:\n%s", desc)
	}
	if u := b.Unnamed(); len(u) != 0 {
		t.Errorf("Unnamed %v, want none", u)
	}

	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "p", 1, hdr...)
	pipe(t, in, "b", "q", 2)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{{Key: "p", Value: "p", TS: 1, Headers: hdr}, kv("q", "q", 2)})
}

func TestRepartitionDropsAndCountsNullKeys(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.Repartition(strStream(b, "in")), "out")
	d := newDriver(t, b)
	nulls(t, d)
	pipeRaw(t, d, "in", []byte("k"), []byte("v"), 4)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{tombstone("k", 2), kv("k", "v", 4)})
	same(t, "dropped", dropped(t, d, 0), map[string]int64{dsl.DropNullKeyBeforeRepartition: 2})
	if u := b.Unnamed(); len(u) != 1 || !strings.HasPrefix(u[0], "topic KSTREAM-REPARTITION-") || !strings.HasSuffix(u[0], "-repartition") {
		t.Errorf("Unnamed %v, want the generated repartition topic", u)
	}
}

// runningCount is a custom processor in a DSL chain: it counts records per
// key in a store registered with Builder.AddStore, forwards (key, count),
// and every 10 ms of stream time forwards ("total", sum of counts).
type runningCount struct {
	ctx   processor.Context[string, int64]
	s     store.KeyValueStore[string, int64]
	total int64
}

func (p *runningCount) Init(ctx processor.Context[string, int64]) error {
	p.ctx = ctx
	s, err := processor.KeyValueStore[string, int64](ctx, "seen")
	if err != nil {
		return err
	}
	p.s = s
	_, err = ctx.Schedule(10*time.Millisecond, punctuate.StreamTime, func(ts int64) error {
		r, err := record.New("total", p.total, ts)
		if err != nil {
			return err
		}
		return p.ctx.Forward(r)
	})
	return err
}

func (p *runningCount) Process(r record.Record[string, string]) error {
	n, _, err := p.s.Get(r.Key())
	if err != nil {
		return err
	}
	n++
	p.total++
	if err := p.s.Put(r.Key(), n); err != nil {
		return err
	}
	return p.ctx.Forward(record.WithValue(r, n))
}

func (p *runningCount) Close() error { return nil }

func runningCountTopology(values bool) *dsl.Builder {
	b := dsl.NewBuilder()
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("seen"), record.String(), record.Int64()))
	s := dsl.Filter(strStream(b, "in"), func(k, v string) bool { return v != "skip" })
	supplier := func() processor.Processor[string, string, string, int64] { return &runningCount{} }
	var counted dsl.Stream[string, int64]
	if values {
		counted = dsl.ProcessValues(s, supplier, dsl.Named("counter"), dsl.Stores("seen"))
	} else {
		counted = dsl.Process(s, supplier, dsl.Named("counter"), dsl.Stores("seen"))
	}
	dsl.To(dsl.MapValues(counted, func(n int64) string { return "#" + strconv.FormatInt(n, 10) }), "out")
	dsl.To(dsl.ToStream(dsl.Count(dsl.GroupByKey(counted), dsl.As("counts"), dsl.InMemory(), dsl.WithoutCaching())), "counts")
	return b
}

func TestProcessEmbedsAProcessorWithAStoreAndAPunctuator(t *testing.T) {
	for _, values := range []bool{false, true} {
		t.Run(map[bool]string{false: "Process", true: "ProcessValues"}[values], func(t *testing.T) {
			b := runningCountTopology(values)
			topo := mustBuild(t, b)
			// Process may change the key, so the count repartitions;
			// ProcessValues keeps it, so it does not.
			wantSubs := map[bool]int{false: 2, true: 1}[values]
			if n := len(topo.Subtopologies()); n != wantSubs {
				t.Errorf("%d sub-topologies, want %d:\n%s", n, wantSubs, topo.Describe())
			}
			d := newDriver(t, b)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
			pipe(t, in, "a", "1", 5) // stream time 5: the 0 grid point is due
			pipe(t, in, "a", "skip", 6)
			pipe(t, in, "b", "2", 8)
			pipe(t, in, "a", "3", 12) // the 10 grid point
			same(t, "out", readStrings(t, d, "out"), []rec[string, string]{
				kv("a", "#1", 5), kv("total", "#1", 5), kv("b", "#1", 8), kv("a", "#2", 12), kv("total", "#3", 12)})
			same(t, "counts", read(t, d, "counts", record.String(), record.Int64()), []rec[string, int64]{
				kv("a", int64(1), 5), kv("total", int64(1), 5), kv("b", int64(1), 8), kv("a", int64(2), 12), kv("total", int64(2), 12)})
			seen, err := testdriver.KeyValueStore[string, int64](d, "seen")
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]int64{"a": 2, "b": 1} {
				if n, _, err := seen.Get(k); err != nil || n != want {
					t.Errorf("seen[%s] = %d, %v; want %d", k, n, err, want)
				}
			}
		})
	}
}

// TestNullKeysAndTombstonesThroughStatelessOperators pipes a null key, a
// tombstone and a record with both null through each operator and checks
// what comes out, per the operators' documented rules.
func TestNullKeysAndTombstonesThroughStatelessOperators(t *testing.T) {
	type seen = []string
	cases := []struct {
		name string
		op   func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string]
		// what the operator's function saw, and what came out
		calls seen
		out   []rec[string, string]
	}{
		{"Filter", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.Filter(s, func(k, v string) bool { log(k + "|" + v); return true })
		}, seen{"|v", "k|", "|"}, []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
		{"FilterNot", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.FilterNot(s, func(k, v string) bool { log(k + "|" + v); return k == "k" })
		}, seen{"|v", "k|", "|"}, []rec[string, string]{nullKey("v", 1), nullBoth(3)}},
		{"Peek", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.Peek(s, func(k, v string) { log(k + "|" + v) })
		}, seen{"|v", "k|", "|"}, []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
		{"MapValues", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.MapValues(s, func(v string) string { log(v); return "m" + v })
		}, seen{"v"}, []rec[string, string]{nullKey("mv", 1), tombstone("k", 2), nullBoth(3)}},
		{"MapValuesWithKey", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.MapValuesWithKey(s, func(k, v string) string { log(k + "|" + v); return "m" + v })
		}, seen{"|v"}, []rec[string, string]{nullKey("mv", 1), tombstone("k", 2), nullBoth(3)}},
		{"FlatMapValues", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.FlatMapValues(s, func(v string) []string { log(v); return []string{v, v} })
		}, seen{"v"}, []rec[string, string]{nullKey("v", 1), nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
		{"Map", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.Map(s, func(k, v string) (string, string) { log(k + "|" + v); return "K" + k, "V" + v })
		}, seen{"|v", "k|", "|"}, []rec[string, string]{kv("K", "Vv", 1), kv("Kk", "V", 2), kv("K", "V", 3)}},
		{"SelectKey", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.SelectKey(s, func(k, v string) string { log(k + "|" + v); return "K" + k })
		}, seen{"|v", "k|", "|"}, []rec[string, string]{kv("K", "v", 1), tombstone("Kk", 2), tombstone("K", 3)}},
		{"FlatMap", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.FlatMap(s, func(k, v string) []dsl.KeyValue[string, string] {
				log(k + "|" + v)
				return []dsl.KeyValue[string, string]{dsl.Pair("K"+k, "V"+v)}
			})
		}, seen{"|v", "k|", "|"}, []rec[string, string]{kv("K", "Vv", 1), kv("Kk", "V", 2), kv("K", "V", 3)}},
		{"Split", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.Split(s, "s-", dsl.When("all", func(k, v string) bool { log(k + "|" + v); return true }))["all"]
		}, seen{"|v", "k|", "|"}, []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
		{"Merge", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.Merge(s)
		}, nil, []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
		{"ProcessValues", func(s dsl.Stream[string, string], log func(string)) dsl.Stream[string, string] {
			return dsl.ProcessValues(s, processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				log(r.String())
				return ctx.Forward(r)
			}))
		}, seen{"Record{key=<null>, value=v, ts=1}", "Record{key=k, value=<null>, ts=2}", "Record{key=<null>, value=<null>, ts=3}"}, []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			var calls seen
			dsl.To(c.op(strStream(b, "in"), func(s string) { calls = append(calls, s) }), "out")
			d := newDriver(t, b)
			nulls(t, d)
			same(t, "calls", calls, c.calls)
			same(t, "out", readStrings(t, d, "out"), c.out)
			same(t, "dropped", dropped(t, d, 0), map[string]int64{})
		})
	}
}

func TestNullKeysAndTombstonesReachForeachAsZeroValues(t *testing.T) {
	b := dsl.NewBuilder()
	var seen []string
	dsl.Foreach(strStream(b, "in"), func(k, v string) { seen = append(seen, k+"|"+v) })
	d := newDriver(t, b)
	nulls(t, d)
	same(t, "seen", seen, []string{"|v", "k|", "|"})
}

func TestToWritesNullKeysAndTombstonesAsNull(t *testing.T) {
	b := dsl.NewBuilder()
	var parts []int32
	dsl.To(strStream(b, "in"), "out")
	dsl.ToFunc(strStream(b, "in2"), func(k, v string) string { return "out2" }, dsl.WithPartitioner(
		func(_ string, r record.Record[string, string], _ int32) (int32, bool) {
			parts = append(parts, 0)
			return 0, true
		}))
	d := newDriver(t, b)
	nulls(t, d)
	pipeRaw(t, d, "in2", nil, nil, 7)
	same(t, "out", readStrings(t, d, "out"), []rec[string, string]{nullKey("v", 1), tombstone("k", 2), nullBoth(3)})
	same(t, "out2", readStrings(t, d, "out2"), []rec[string, string]{nullBoth(7)})
	same(t, "partitioner calls", len(parts), 1)
}

// errSentinel checks a record-level failure surfaces from Pipe.
var errSentinel = errors.New("boom")

func TestAnErrorOfAnOperatorsFunctionStopsThePipe(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.Process(strStream(b, "in"), processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return errSentinel
	})), "out")
	d := newDriver(t, b)
	err := testdriver.CreateInputTopic(d, "in", record.String(), record.String()).Pipe("a", "1", 1)
	if !errors.Is(err, errSentinel) {
		t.Fatalf("Pipe: %v, want %v", err, errSentinel)
	}
}

func TestWithValueTimestampTakesEventTimeFromThePayload(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.Int64(),
		dsl.WithValueTimestamp(func(_ string, v int64) (int64, error) { return v * 10, nil }))
	dsl.To(s, "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	if err := in.Pipe("a", 7, 1); err != nil {
		t.Fatal(err)
	}
	same(t, "out", read(t, d, "out", record.String(), record.Int64()), []rec[string, int64]{kv("a", int64(7), 70)})

	wrong := dsl.NewBuilder()
	dsl.FromTopics(wrong, []string{"in"}, record.String(), record.Int64(),
		dsl.WithValueTimestamp(func(_ string, v string) (int64, error) { return 0, nil }))
	if _, err := wrong.Build(); !errors.Is(err, dsl.ErrSerdeType) || !strings.Contains(err.Error(), `source "KSTREAM-SOURCE-0000000000"`) {
		t.Errorf("Build with a value timestamp of other types = %v", err)
	}
}
