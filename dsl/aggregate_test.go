package dsl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// watchChanges hangs a processor off the table's node, through the
// Processor API, and returns the changes it sees as "key:old->new@ts"
// (an absent old value as _).
func watchChanges[V any](b *dsl.Builder, table dsl.Table[string, V], name string) *[]string {
	var seen []string
	processor.AddProcessor(b.Processor(), name, processor.Func(
		func(_ processor.Context[string, string], r record.Record[string, dsl.Change[V]]) error {
			c := r.Value()
			old, nw := "_", "_"
			if c.HasOld {
				old = fmt.Sprint(c.Old)
			}
			if c.HasNew {
				nw = fmt.Sprint(c.New)
			}
			seen = append(seen, fmt.Sprintf("%s:%s->%s@%d", r.Key(), old, nw, r.Timestamp()))
			return nil
		}), table.NodeName())
	return &seen
}

func storeValue[V any](t testing.TB, d *testdriver.Driver, name, key string) (store.ValueAndTimestamp[V], bool) {
	t.Helper()
	s, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[V]](d, name)
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func TestCountWithoutCachingForwardsEveryUpdateWithOldValues(t *testing.T) {
	b := dsl.NewBuilder()
	counts := dsl.Count(dsl.GroupByKey(strStream(b, "in")), dsl.As("c"), dsl.WithoutCaching())
	changes := watchChanges(b, counts, "watch")
	dsl.To(dsl.ToStream(counts), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "x", 10)
	pipe(t, in, "b", "x", 11)
	pipe(t, in, "a", "x", 5) // out of order: the aggregate keeps the max timestamp
	pipe(t, in, "a", "x", 20, hdr...)
	same(t, "changes", *changes, []string{"a:_->1@10", "b:_->1@11", "a:1->2@10", "a:2->3@20"})
	// Uncached, an update is the successor of the record that made it: it
	// keeps its headers, as in Kafka Streams.
	withHeaders := kv("a", int64(3), 20)
	withHeaders.Headers = hdr
	same(t, "out", read(t, d, "out", record.String(), record.Int64()), []rec[string, int64]{
		kv("a", int64(1), 10), kv("b", int64(1), 11), kv("a", int64(2), 10), withHeaders})
	if v, _ := storeValue[int64](t, d, "c", "a"); v != (store.ValueAndTimestamp[int64]{Value: 3, Timestamp: 20}) {
		t.Errorf("store c[a] = %+v, want 3@20", v)
	}
}

func TestCountWithCachingForwardsOneUpdatePerKeyPerCommit(t *testing.T) {
	b := dsl.NewBuilder()
	counts := dsl.Count(dsl.GroupByKey(strStream(b, "in")), dsl.As("c"))
	changes := watchChanges(b, counts, "watch")
	dsl.To(dsl.ToStream(counts), "out")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	// The driver commits after every piped record: no compaction.
	pipe(t, in, "a", "x", 1)
	pipe(t, in, "a", "x", 2)
	// One commit for the batch: one update per key, old = the value of the
	// last flush.
	if err := d.Batch(func() error {
		for i, k := range []string{"a", "b", "a", "b", "a"} {
			if err := in.Pipe(k, "x", int64(3+i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := *changes
	// The flush order of the batch's keys is the cache's; sort them out.
	if len(got) != 4 || got[0] != "a:_->1@1" || got[1] != "a:1->2@2" {
		t.Fatalf("changes %v", got)
	}
	batch := map[string]bool{got[2]: true, got[3]: true}
	same(t, "batch changes", batch, map[string]bool{"a:2->5@7": true, "b:_->2@6": true})
	m, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, "out", record.String(), record.Int64()))
	if err != nil {
		t.Fatal(err)
	}
	same(t, "out", m, map[string]int64{"a": 5, "b": 2})
}

func TestReduceFoldsValuesStartingWithTheFirst(t *testing.T) {
	b := dsl.NewBuilder()
	joined := dsl.Reduce(dsl.GroupByKey(strStream(b, "in")), func(agg, v string) string { return agg + "+" + v },
		dsl.As("r"), dsl.WithoutCaching())
	changes := watchChanges(b, joined, "watch")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "1", 1)
	pipe(t, in, "b", "2", 2)
	pipe(t, in, "a", "3", 3)
	pipe(t, in, "a", "4", 2)
	same(t, "changes", *changes, []string{"a:_->1@1", "b:_->2@2", "a:1->1+3@3", "a:1+3->1+3+4@3"})
	if v, _ := storeValue[string](t, d, "r", "a"); v.Value != "1+3+4" || v.Timestamp != 3 {
		t.Errorf("store r[a] = %+v", v)
	}
}

func TestAggregateFoldsFromInit(t *testing.T) {
	b := dsl.NewBuilder()
	sums := dsl.Aggregate(dsl.GroupByKey(dsl.FromTopics(b, []string{"in"}, record.String(), record.Int64())),
		func() int64 { return 100 }, func(k string, v, agg int64) int64 { return agg + v },
		dsl.As("sums"), dsl.WithoutCaching(), dsl.InMemory())
	changes := watchChanges(b, sums, "watch")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.Int64())
	for i, n := range []int64{1, 2, 3} {
		if err := in.Pipe("a", n, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	same(t, "changes", *changes, []string{"a:_->101@0", "a:101->103@1", "a:103->106@2"})
}

func TestAggregateIntoAStructNeedsItsSerde(t *testing.T) {
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	agg := dsl.Aggregate(g, func() point { return point{} }, func(k, v string, p point) point { return point{p.X + 1, p.Y + len(v)} },
		dsl.As("p"), dsl.ValueSerde(record.JSON[point]()), dsl.WithoutCaching())
	changes := watchChanges(b, agg, "watch")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "xy", 1)
	pipe(t, in, "a", "z", 2)
	same(t, "changes", *changes, []string{"a:_->{1 2}@1", "a:{1 2}->{2 3}@2"})
}

func TestReduceUsesTheGroupingsValueSerdeForItsStore(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.MapValues(strStream(b, "in"), func(v string) point { return point{X: len(v)} })
	sum := dsl.Reduce(dsl.GroupByKey(s, dsl.ValueSerde(record.JSON[point]())),
		func(agg, v point) point { return point{X: agg.X + v.X} }, dsl.As("sum"), dsl.WithoutCaching())
	changes := watchChanges(b, sum, "watch")
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "a", "xy", 1)
	pipe(t, in, "a", "z", 2)
	same(t, "changes", *changes, []string{"a:_->{2 0}@1", "a:{2 0}->{3 0}@2"})
}

func TestAggregationsDropAndCountNullKeysAndValues(t *testing.T) {
	for _, op := range []string{"Count", "Reduce", "Aggregate"} {
		t.Run(op, func(t *testing.T) {
			b := dsl.NewBuilder()
			g := dsl.GroupByKey(strStream(b, "in"))
			var changes *[]string
			switch op {
			case "Count":
				changes = watchChanges(b, dsl.Count(g, dsl.As("agg"), dsl.WithoutCaching()), "watch")
			case "Reduce":
				changes = watchChanges(b, dsl.Reduce(g, func(a, v string) string { return a + v }, dsl.As("agg"), dsl.WithoutCaching()), "watch")
			case "Aggregate":
				changes = watchChanges(b, dsl.Aggregate(g, func() string { return "" }, func(k, v, a string) string { return a + v },
					dsl.As("agg"), dsl.WithoutCaching()), "watch")
			}
			d := newDriver(t, b)
			nulls(t, d)
			pipeRaw(t, d, "in", []byte("k"), []byte("1"), 4)
			want := map[string]string{"Count": "k:_->1@4", "Reduce": "k:_->1@4", "Aggregate": "k:_->1@4"}[op]
			same(t, "changes", *changes, []string{want})
			same(t, "dropped", dropped(t, d, 0), map[string]int64{dsl.DropNullKey: 2, dsl.DropNullValue: 1})
		})
	}
}

func TestCountAfterAKeyChangeDropsNullKeysBeforeTheRepartition(t *testing.T) {
	b := dsl.NewBuilder()
	// A custom processor may forward null keys; a grouping after it
	// repartitions, and the repartition cannot place them.
	s := dsl.Process(strStream(b, "in"), processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	}))
	counts := dsl.Count(dsl.GroupByKey(s), dsl.As("c"), dsl.WithoutCaching())
	changes := watchChanges(b, counts, "watch")
	d := newDriver(t, b)
	nulls(t, d)
	pipeRaw(t, d, "in", []byte("k"), []byte("1"), 4)
	same(t, "changes", *changes, []string{"k:_->1@4"})
	same(t, "dropped before the repartition", dropped(t, d, 0), map[string]int64{dsl.DropNullKeyBeforeRepartition: 2})
	same(t, "dropped by the count", dropped(t, d, 1), map[string]int64{dsl.DropNullValue: 1})
}

func subtopologies(t testing.TB, b *dsl.Builder) int {
	t.Helper()
	return len(mustBuild(t, b).Subtopologies())
}

func TestOperatorsThatKeepTheKeyNeverRepartition(t *testing.T) {
	ops := map[string]func(dsl.Stream[string, string]) dsl.Stream[string, string]{
		"Filter": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.Filter(s, func(k, v string) bool { return true })
		},
		"FilterNot": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.FilterNot(s, func(k, v string) bool { return false })
		},
		"MapValues": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.MapValues(s, strings.ToUpper)
		},
		"MapValuesWithKey": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.MapValuesWithKey(s, func(k, v string) string { return k })
		},
		"FlatMapValues": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.FlatMapValues(s, strings.Fields)
		},
		"Peek": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.Peek(s, func(k, v string) {})
		},
		"Merge": func(s dsl.Stream[string, string]) dsl.Stream[string, string] { return dsl.Merge(s) },
		"Split": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.Split(s, "s-", dsl.Otherwise[string, string]("all"))["all"]
		},
		"ProcessValues": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return dsl.ProcessValues(s, processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				return ctx.Forward(r)
			}))
		},
		"Repartition": func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			// a repartitioned stream is partitioned by its key: no second one
			return dsl.Repartition(dsl.SelectKey(s, func(k, v string) string { return v }), dsl.Named("r"))
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			dsl.Count(dsl.GroupByKey(op(strStream(b, "in"))), dsl.As("c"))
			want := 1
			if name == "Repartition" {
				want = 2 // its own
			}
			if n := subtopologies(t, b); n != want {
				desc, _ := b.Describe()
				t.Errorf("%d sub-topologies, want %d:\n%s", n, want, desc)
			}
			if it := mustBuild(t, b).InternalTopics(); name != "Repartition" && len(it) != 0 {
				t.Errorf("internal topics %+v", it)
			}
		})
	}
}

func TestOperatorsThatMayChangeTheKeyRepartitionBeforeAGrouping(t *testing.T) {
	ops := map[string]func(dsl.Stream[string, string]) dsl.GroupedStream[string, string]{
		"Map": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupByKey(dsl.Map(s, func(k, v string) (string, string) { return v, k }))
		},
		"SelectKey": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupByKey(dsl.SelectKey(s, func(k, v string) string { return v }))
		},
		"FlatMap": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupByKey(dsl.FlatMap(s, func(k, v string) []dsl.KeyValue[string, string] {
				return []dsl.KeyValue[string, string]{dsl.Pair(v, k)}
			}))
		},
		"GroupBy": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupBy(s, func(k, v string) string { return v })
		},
		"Process": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupByKey(dsl.Process(s, processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				return ctx.Forward(record.WithKey(r, r.Value()))
			})))
		},
		// key changed, then operators that keep it: still changed
		"SelectKey then MapValues and Filter": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			rekeyed := dsl.SelectKey(s, func(k, v string) string { return v })
			return dsl.GroupByKey(dsl.Filter(dsl.MapValues(rekeyed, strings.ToUpper), func(k, v string) bool { return true }))
		},
		"Merge of a re-keyed stream": func(s dsl.Stream[string, string]) dsl.GroupedStream[string, string] {
			return dsl.GroupByKey(dsl.Merge(dsl.Filter(s, func(k, v string) bool { return false }),
				dsl.SelectKey(s, func(k, v string) string { return v })))
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			counts := dsl.Count(op(strStream(b, "in")), dsl.As("c"), dsl.WithoutCaching())
			dsl.To(dsl.ToStream(counts), "out")
			if n := subtopologies(t, b); n != 2 {
				desc, _ := b.Describe()
				t.Fatalf("%d sub-topologies, want 2:\n%s", n, desc)
			}
			if _, ok := mustBuild(t, b).ForApplication("x").InternalTopic("x-c-repartition"); !ok {
				t.Errorf("no x-c-repartition topic")
			}
			d := newDriver(t, b)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
			// (key, value): counted by value
			pipe(t, in, "1", "p", 1)
			pipe(t, in, "2", "q", 2)
			pipe(t, in, "3", "p", 3)
			same(t, "out", read(t, d, "out", record.String(), record.Int64()), []rec[string, int64]{
				kv("p", int64(1), 1), kv("q", int64(1), 2), kv("p", int64(2), 3)})
		})
	}
}

// TestCountAcrossARepartitionNeitherLosesNorDoubleCounts pipes many records
// through a key change, in batches (so the cache compacts), and checks the
// forwarded changes add up to the records counted and the store holds the
// exact counts.
func TestCountAcrossARepartitionNeitherLosesNorDoubleCounts(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			b := dsl.NewBuilder()
			opts := []dsl.Option{dsl.As("c")}
			if !cached {
				opts = append(opts, dsl.WithoutCaching())
			}
			counts := dsl.Count(dsl.GroupBy(strStream(b, "in"), func(k, v string) string { return v }), opts...)
			var delta, updates int64
			processor.AddProcessor(b.Processor(), "sum", processor.Func(
				func(_ processor.Context[string, string], r record.Record[string, dsl.Change[int64]]) error {
					updates++
					delta += r.Value().New - r.Value().Old
					return nil
				}), counts.NodeName())
			d := newDriver(t, b)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
			want := map[string]int64{}
			const n = 500
			for batch := 0; batch < n/50; batch++ {
				if err := d.Batch(func() error {
					for i := batch * 50; i < (batch+1)*50; i++ {
						v := fmt.Sprintf("v%d", i*i%17)
						want[v]++
						if err := in.Pipe(fmt.Sprint(i), v, int64(i)); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if delta != n {
				t.Errorf("changes add up to %d, want %d", delta, n)
			}
			if cached && updates > int64(n/50*len(want)) {
				t.Errorf("%d updates for %d batches of %d keys: the cache did not compact", updates, n/50, len(want))
			}
			if !cached && updates != n {
				t.Errorf("%d updates uncached, want %d", updates, n)
			}
			for k, c := range want {
				if v, ok := storeValue[int64](t, d, "c", k); !ok || v.Value != c {
					t.Errorf("c[%s] = %+v, want %d", k, v, c)
				}
			}
			same(t, "dropped", dropped(t, d, 0), map[string]int64{})
			same(t, "dropped after the repartition", dropped(t, d, 1), map[string]int64{})
		})
	}
}

func TestTwoAggregationsOfOneRekeyedStream(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			b := dsl.NewBuilder()
			rekeyed := dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v })
			var gopts []dsl.Option
			if named {
				gopts = append(gopts, dsl.Named("g"))
			}
			g := dsl.GroupByKey(rekeyed, gopts...)
			counts := dsl.Count(g, dsl.WithoutCaching())
			longest := dsl.Reduce(g, func(a, v string) string { return a + v }, dsl.WithoutCaching())
			cs, ls := watchChanges(b, counts, "wc"), watchChanges(b, longest, "wl")
			topo, err := b.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			wantTopics := 2 // one per aggregation, named after its store
			if named {
				wantTopics = 1 // Kafka Streams reuses a named grouping's topic
			}
			if it := topo.InternalTopics(); len(it) != wantTopics {
				t.Errorf("internal topics %+v, want %d", it, wantTopics)
			}
			d := newDriver(t, b)
			in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
			pipe(t, in, "1", "p", 1)
			pipe(t, in, "2", "p", 2)
			same(t, "counts", *cs, []string{"p:_->1@1", "p:1->2@2"})
			same(t, "reduced", *ls, []string{"p:_->p@1", "p:p->pp@2"})
		})
	}
}

func TestGroupByKeyWithoutAKeyChangeAddsNoTopic(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.Count(dsl.GroupByKey(strStream(b, "in"), dsl.Named("g")))
	topo := mustBuild(t, b)
	if n, it := len(topo.Subtopologies()), topo.InternalTopics(); n != 1 || len(it) != 0 {
		t.Errorf("%d sub-topologies, internal topics %+v", n, it)
	}
}

func TestStoreOptionsReachTheStore(t *testing.T) {
	type logged interface{ LoggingEnabled() bool }
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(strStream(b, "in"))
	dsl.Count(g, dsl.As("rocks"))
	dsl.Count(g, dsl.As("mem"), dsl.InMemory(), dsl.WithoutLogging())
	topo := mustBuild(t, b)
	d := newDriver(t, b)
	for name, want := range map[string]struct{ persistent, logged bool }{"rocks": {dsl.DefaultBackend == "rocksdb", true}, "mem": {false, false}} {
		s, err := d.Store(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Persistent() != want.persistent {
			t.Errorf("%s: Persistent %v, want %v", name, s.Persistent(), want.persistent)
		}
		sb, ok := topo.StoreBuilder(name)
		if !ok {
			t.Fatalf("no store builder %s", name)
		}
		l, ok := sb.(logged)
		if !ok {
			t.Fatalf("%s: %T has no LoggingEnabled", name, sb)
		}
		if l.LoggingEnabled() != want.logged {
			t.Errorf("%s: LoggingEnabled %v, want %v", name, l.LoggingEnabled(), want.logged)
		}
	}
	pipe(t, testdriver.CreateInputTopic(d, "in", record.String(), record.String()), "a", "x", 1)
	for _, name := range []string{"rocks", "mem"} {
		if v, ok := storeValue[int64](t, d, name, "a"); !ok || v.Value != 1 {
			t.Errorf("%s[a] = %+v, %v", name, v, ok)
		}
	}
}

func TestAggregationProblems(t *testing.T) {
	cases := map[string]struct {
		build func(b *dsl.Builder)
		want  error
		says  string
	}{
		"Aggregate into a type without serde": {func(b *dsl.Builder) {
			dsl.Aggregate(dsl.GroupByKey(strStream(b, "in")), func() point { return point{} },
				func(k, v string, p point) point { return p }, dsl.As("p"))
		}, dsl.ErrMissingSerde, `Aggregate "p" (store) needs a serde for its aggregates (dsl_test.point)`},
		"repartition of a value without serde": {func(b *dsl.Builder) {
			s := dsl.MapValues(dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v }),
				func(v string) point { return point{} })
			dsl.Count(dsl.GroupByKey(s), dsl.As("c"))
		}, dsl.ErrMissingSerde, "Count (repartition) needs a serde for its values (dsl_test.point)"},
		"grouping serde of the wrong type": {func(b *dsl.Builder) {
			s := dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v })
			dsl.Count(dsl.GroupByKey(s, dsl.KeySerde(record.Int64())), dsl.As("c"))
		}, dsl.ErrSerdeType, "Count (repartition): the keys serde is a"},
		"Reduce nil": {func(b *dsl.Builder) {
			dsl.Reduce[string, string](dsl.GroupByKey(strStream(b, "in")), nil)
		}, dsl.ErrNilFunction, "Reduce"},
		"Aggregate nil init": {func(b *dsl.Builder) {
			dsl.Aggregate(dsl.GroupByKey(strStream(b, "in")), nil, func(k, v string, a int64) int64 { return a })
		}, dsl.ErrNilFunction, "Aggregate"},
		"Aggregate nil add": {func(b *dsl.Builder) {
			dsl.Aggregate[string, string, int64](dsl.GroupByKey(strStream(b, "in")), func() int64 { return 0 }, nil)
		}, dsl.ErrNilFunction, "Aggregate"},
		"GroupBy nil": {func(b *dsl.Builder) {
			dsl.Count(dsl.GroupBy[string, string, string](strStream(b, "in"), nil))
		}, dsl.ErrNilFunction, "GroupBy"},
		"two stores named alike": {func(b *dsl.Builder) {
			g := dsl.GroupByKey(strStream(b, "in"))
			dsl.Count(g, dsl.As("c"))
			dsl.Count(g, dsl.As("c"))
		}, processor.ErrDuplicateStore, `"c"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b)
			_, err := b.Build()
			if !errors.Is(err, c.want) {
				t.Fatalf("Build: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("Build: %v\ndoes not say %s", err, c.says)
			}
		})
	}
}
