package dsl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/window"
)

func internalTopicNames(t testing.TB, b *dsl.Builder) []string {
	t.Helper()
	var names []string
	for _, it := range mustBuild(t, b).ForApplication("x").InternalTopics() {
		names = append(names, it.Name)
	}
	return names
}

func TestGeneratedNamesCountEveryOperatorInKafkaStreamsStyle(t *testing.T) {
	b := dsl.NewBuilder()
	s := strStream(b, "in")                                      // 0
	f := dsl.Filter(s, func(k, v string) bool { return true })   // 1
	m := dsl.MapValues(f, strings.ToUpper)                       // 2
	k := dsl.SelectKey(m, func(k, v string) string { return v }) // 3
	c := dsl.Count(dsl.GroupByKey(k))                            // store 4, node 5, repartition sink 6, filter 7, source 8
	out := dsl.ToStream(c)                                       // 9
	for want, got := range map[string]string{
		"KSTREAM-SOURCE-0000000000":     s.NodeName(),
		"KSTREAM-FILTER-0000000001":     f.NodeName(),
		"KSTREAM-MAPVALUES-0000000002":  m.NodeName(),
		"KSTREAM-KEY-SELECT-0000000003": k.NodeName(),
		"KSTREAM-AGGREGATE-0000000005":  c.NodeName(),
		"KTABLE-TOSTREAM-0000000009":    out.NodeName(),
	} {
		if got != want {
			t.Errorf("node %q, want %q", got, want)
		}
	}
	if c.StoreName() != "KSTREAM-AGGREGATE-STATE-STORE-0000000004" {
		t.Errorf("store %q", c.StoreName())
	}
	same(t, "Unnamed", b.Unnamed(), []string{
		"store KSTREAM-AGGREGATE-STATE-STORE-0000000004",
		"topic KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition"})
	same(t, "internal topics", internalTopicNames(t, b), []string{"x-KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition"})
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(desc, "Generated names (they change when operators are added before them; name them with As or Named):\n"+
		"  store KSTREAM-AGGREGATE-STATE-STORE-0000000004\n"+
		"  topic KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition\n") {
		t.Errorf("Describe does not end with the generated names:\n%s", desc)
	}
}

// Generated names are Kafka Streams' own, so a topology ported from Java
// keeps its store, changelog and repartition topic names: an aggregation
// names its store before its processor, a reduction uses the REDUCE
// prefixes, and a repartition uses up three names (sink, filter, source),
// as Kafka Streams' StreamsGraphTest and PurgeRepartitionTopicIntegrationTest
// expect (stream, groupBy, count: store 2, aggregate 3, repartition nodes
// 4-6, the next operator 7).
func TestGeneratedNamesMatchKafkaStreamsForAggregations(t *testing.T) {
	b := dsl.NewBuilder()
	s := strStream(b, "in")                                                       // 0
	c := dsl.Count(dsl.GroupBy(s, func(k, v string) string { return v }))         // select 1, store 2, node 3, repartition 4-6
	out := dsl.ToStream(c)                                                        // 7
	r := dsl.Reduce(dsl.GroupByKey(s), func(a, v string) string { return a + v }) // store 8, node 9
	desc := mustBuild(t, b).ForApplication("x").Describe().String()
	for _, want := range []string{
		"Sink: KSTREAM-SINK-0000000004 (topic: x-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)",
		"Processor: KSTREAM-FILTER-0000000005 ",
		"Source: KSTREAM-SOURCE-0000000006 (topics: [x-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])",
		"Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])",
		"Processor: KTABLE-TOSTREAM-0000000007 ",
		"Processor: KSTREAM-REDUCE-0000000009 (stores: [KSTREAM-REDUCE-STATE-STORE-0000000008])",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	if out.NodeName() != "KTABLE-TOSTREAM-0000000007" || r.StoreName() != "KSTREAM-REDUCE-STATE-STORE-0000000008" {
		t.Errorf("toStream %q, reduce store %q", out.NodeName(), r.StoreName())
	}
	// Split uses up a name per branch (BranchedKStreamImpl.createBranch).
	br := dsl.Split(s, "", dsl.When("a", func(k, v string) bool { return true }), dsl.Otherwise[string, string]("b")) // 10, branches 11, 12
	if n := dsl.Filter(br["a"], func(k, v string) bool { return true }).NodeName(); n != "KSTREAM-FILTER-0000000013" {
		t.Errorf("filter after a split of two branches %q, want KSTREAM-FILTER-0000000013", n)
	}
}

func TestAsNamesTheStoreAndTheRepartitionTopic(t *testing.T) {
	b := dsl.NewBuilder()
	k := dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v })
	c := dsl.Count(dsl.GroupByKey(k), dsl.As("counts"))
	if c.StoreName() != "counts" {
		t.Errorf("store %q", c.StoreName())
	}
	same(t, "internal topics", internalTopicNames(t, b), []string{"x-counts-repartition"})
	same(t, "Unnamed", b.Unnamed(), []string(nil))
}

func TestNamedGroupingNamesTheRepartitionTopicOverAs(t *testing.T) {
	b := dsl.NewBuilder()
	g := dsl.GroupBy(strStream(b, "in"), func(k, v string) string { return v }, dsl.Named("g"))
	dsl.Count(g, dsl.As("counts"), dsl.Named("counter"))
	same(t, "internal topics", internalTopicNames(t, b), []string{"x-g-repartition"})
	desc := mustBuild(t, b).ForApplication("x").Describe().String()
	for _, want := range []string{"Sink: g-repartition-sink (topic: x-g-repartition)",
		"Source: g-repartition-source (topics: [x-g-repartition])", "Processor: counter (stores: [counts])"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
}

func TestNamedGroupingWithAGeneratedStoreListsOnlyTheStore(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.Count(dsl.GroupBy(strStream(b, "in"), func(k, v string) string { return v }, dsl.Named("g")))
	u := b.Unnamed()
	if len(u) != 1 || !strings.HasPrefix(u[0], "store KSTREAM-AGGREGATE-STATE-STORE-") {
		t.Errorf("Unnamed %v, want only the generated store", u)
	}
}

func TestNamedNamesEachOperatorsNode(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.String(), dsl.Named("src"))
	nodes := map[string]string{
		"src":  s.NodeName(),
		"f":    dsl.Filter(s, func(k, v string) bool { return true }, dsl.Named("f")).NodeName(),
		"fn":   dsl.FilterNot(s, func(k, v string) bool { return true }, dsl.Named("fn")).NodeName(),
		"mv":   dsl.MapValues(s, strings.ToUpper, dsl.Named("mv")).NodeName(),
		"mvk":  dsl.MapValuesWithKey(s, func(k, v string) string { return k }, dsl.Named("mvk")).NodeName(),
		"m":    dsl.Map(s, func(k, v string) (string, string) { return v, k }, dsl.Named("m")).NodeName(),
		"sk":   dsl.SelectKey(s, func(k, v string) string { return v }, dsl.Named("sk")).NodeName(),
		"fm":   dsl.FlatMap(s, func(k, v string) []dsl.KeyValue[string, string] { return nil }, dsl.Named("fm")).NodeName(),
		"fmv":  dsl.FlatMapValues(s, strings.Fields, dsl.Named("fmv")).NodeName(),
		"peek": dsl.Peek(s, func(k, v string) {}, dsl.Named("peek")).NodeName(),
		"proc": dsl.Process(s, processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
			return nil
		}), dsl.Named("proc")).NodeName(),
		"rep": dsl.Repartition(s, dsl.Named("rep")).NodeName(),
	}
	for want, got := range nodes {
		if want == "rep" {
			want = "rep-repartition-source"
		}
		if got != want {
			t.Errorf("node %q, want %q", got, want)
		}
	}
	dsl.Foreach(s, func(k, v string) {}, dsl.Named("each"))
	dsl.To(s, "out", dsl.Named("sink"))
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Processor: each ", "Sink: sink (topic: out)", "Source: src (topics: [in])"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	same(t, "Unnamed", b.Unnamed(), []string(nil))
}

func TestPartitionsOfAGroupingSizeItsRepartitionTopic(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.Count(dsl.GroupBy(strStream(b, "in"), func(k, v string) string { return v }, dsl.Named("g"), dsl.Partitions(3)))
	it, ok := mustBuild(t, b).ForApplication("x").InternalTopic("x-g-repartition")
	if !ok || it.Partitions != 3 {
		t.Errorf("x-g-repartition: %+v, %v; want 3 partitions", it, ok)
	}
}

func TestWindowedCountGeneratesKafkaStreamsNames(t *testing.T) {
	b := dsl.NewBuilder()
	w, err := window.Tumbling(time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(dsl.FromTopics(b, []string{"in"}, record.String(), record.String())), w))
	// Kafka Streams: KSTREAM-SOURCE-0000000000, then the store
	// KSTREAM-AGGREGATE-STATE-STORE-0000000001, then the processor
	// KSTREAM-AGGREGATE-0000000002.
	if counts.StoreName() != "KSTREAM-AGGREGATE-STATE-STORE-0000000001" || counts.NodeName() != "KSTREAM-AGGREGATE-0000000002" {
		t.Errorf("store %q, node %q", counts.StoreName(), counts.NodeName())
	}
}
