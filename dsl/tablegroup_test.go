package dsl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// Users move between regions: the old region's count must go down (a
// skipped subtraction leaves eu at 2 and fails the test).
func TestCountTableSubtractsAKeyMovingBetweenGroups(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dsl.Option
		want []string
	}{
		{"cached", []dsl.Option{dsl.As("per-region")}, []string{
			"eu=<none>->1@1", "eu=1->2@2", "eu=2->1@3", "us=<none>->1@3", "eu=1->0@4",
		}},
		{"uncached", []dsl.Option{dsl.As("per-region"), dsl.WithoutCaching()}, []string{
			"eu=<none>->1@1", "eu=1->2@2", "eu=2->1@3", "us=<none>->1@3", "eu=1->0@4",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			users := dsl.TableFrom(b, "users", record.String(), record.String())
			byRegion := dsl.GroupTableBy(users, func(user, region string) (string, string) { return region, user })
			counts := dsl.CountTable(byRegion, tc.opts...)
			tblChangesTo(b, counts, "changes", record.String())
			d := tblDriver(t, b)
			in := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
			tblPipe(t, in, tblPtr("a"), tblPtr("eu"), 1)
			tblPipe(t, in, tblPtr("b"), tblPtr("eu"), 2)
			tblPipe(t, in, tblPtr("a"), tblPtr("us"), 3) // a moves: eu -1, us +1
			tblPipe(t, in, tblPtr("b"), nil, 4)          // b deleted: eu -1
			tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())), tc.want)
			kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[int64]](d, "per-region")
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]int64{"eu": 0, "us": 1} {
				if v, ok, _ := kv.Get(k); !ok || v.Value != want {
					t.Errorf("store %s = %v %v, want %d", k, v, ok, want)
				}
			}
		})
	}
}

// A change that stays in its group reaches the aggregation as one record
// carrying both values: subtract, then add, forwarded once.
func TestReduceTableSubtractsThenAddsWithinAGroup(t *testing.T) {
	b := dsl.NewBuilder()
	amounts := dsl.TableFrom(b, "amounts", record.String(), record.Int64())
	total := dsl.ReduceTable(dsl.GroupTableBy(amounts, func(_ string, v int64) (string, int64) { return "total", v }),
		func(agg, v int64) int64 { return agg + v }, func(agg, v int64) int64 { return agg - v }, dsl.WithoutCaching())
	tblChangesTo(b, total, "changes", record.String())
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "amounts", record.String(), record.Int64())
	tblPipe(t, in, tblPtr("a"), tblPtr[int64](10), 1)
	tblPipe(t, in, tblPtr("b"), tblPtr[int64](5), 2)
	tblPipe(t, in, tblPtr("a"), tblPtr[int64](7), 3)
	tblPipe(t, in, tblPtr("b"), nil, 4)
	tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())),
		[]string{"total=<none>->10@1", "total=10->15@2", "total=15->12@3", "total=12->7@4"})
	if !strings.HasPrefix(total.StoreName(), "KTABLE-REDUCE-STATE-STORE-") {
		t.Errorf("store %q", total.StoreName())
	}
}

func TestAggregateTableKeepsEachGroupsMembers(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String())
	grouped := dsl.GroupTableBy(users, func(user, region string) (string, string) { return region, user }, dsl.Named("by-region"))
	members := dsl.AggregateTable(grouped,
		func() string { return "" },
		func(_ string, user, agg string) string {
			m := append(strings.Fields(agg), user)
			slices.Sort(m)
			return strings.Join(m, " ")
		},
		func(_ string, user, agg string) string {
			return strings.Join(slices.DeleteFunc(strings.Fields(agg), func(s string) bool { return s == user }), " ")
		}, dsl.As("members"))
	dsl.To(dsl.ToStream(members), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "by-region-repartition") {
		t.Errorf("no repartition topic by-region-repartition in\n%s", desc)
	}
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
	tblPipe(t, in, tblPtr("cy"), tblPtr("eu"), 1)
	tblPipe(t, in, tblPtr("al"), tblPtr("eu"), 2)
	tblPipe(t, in, tblPtr("bo"), tblPtr("us"), 3)
	tblPipe(t, in, tblPtr("cy"), tblPtr("us"), 4)
	tblPipe(t, in, nil, tblPtr("us"), 5) // null key: dropped by the table
	m, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, "out", record.String(), record.String()))
	if err != nil {
		t.Fatal(err)
	}
	if m["eu"] != "al" || m["us"] != "bo cy" {
		t.Errorf("members %v, want eu=al us=\"bo cy\"", m)
	}
}

func TestGroupedTableRepartitionTopicIsNamedAfterTheStore(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String(), dsl.As("users"))
	counts := dsl.CountTable(dsl.GroupTableBy(users, func(u, r string) (string, string) { return r, u }))
	dsl.To(dsl.ToStream(counts), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	topic := counts.StoreName() + "-repartition"
	if !strings.HasPrefix(counts.StoreName(), "KTABLE-AGGREGATE-STATE-STORE-") || !strings.Contains(desc, "topic "+topic) {
		t.Errorf("store %q; want the generated topic %s listed in\n%s", counts.StoreName(), topic, desc)
	}
}

type tblRegion struct{ Name string }

func TestGroupedTableBuildErrors(t *testing.T) {
	users := func(b *dsl.Builder) dsl.Table[string, string] {
		return dsl.TableFrom(b, "users", record.String(), record.String())
	}
	byRegion := func(b *dsl.Builder) dsl.GroupedTable[string, string] {
		return dsl.GroupTableBy(users(b), func(u, r string) (string, string) { return r, u })
	}
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"nil selector", func(b *dsl.Builder) {
			dsl.GroupTableBy[string, string, string, string](users(b), nil)
		}, dsl.ErrNilFunction, "GroupTableBy"},
		{"nil subtractor", func(b *dsl.Builder) {
			dsl.ReduceTable(byRegion(b), func(a, v string) string { return a + v }, nil)
		}, dsl.ErrNilFunction, "ReduceTable"},
		{"nil initializer", func(b *dsl.Builder) {
			f := func(_ string, _ string, n int64) int64 { return n }
			dsl.AggregateTable(byRegion(b), nil, f, f)
		}, dsl.ErrNilFunction, "AggregateTable"},
		{"group key without serde", func(b *dsl.Builder) {
			g := dsl.GroupTableBy(users(b), func(u, r string) (tblRegion, string) { return tblRegion{r}, u })
			dsl.CountTable(g)
		}, dsl.ErrMissingSerde, "GroupTableBy"},
		{"aggregate without serde", func(b *dsl.Builder) {
			f := func(_ string, _ string, p tblPoint) tblPoint { return p }
			dsl.AggregateTable(byRegion(b), func() tblPoint { return tblPoint{} }, f, f)
		}, dsl.ErrMissingSerde, "AggregateTable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			tc.build(b)
			err := tblBuildErr(t, b, tc.want)
			if !strings.Contains(err.Error(), tc.op) {
				t.Errorf("error does not name %s: %v", tc.op, err)
			}
		})
	}
}

func TestGroupTableByWithAGroupKeySerdeBuilds(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.RegisterSerde(b, record.JSON[tblRegion]())
	users := dsl.TableFrom(b, "users", record.String(), record.String())
	counts := dsl.CountTable(dsl.GroupTableBy(users, func(u, r string) (tblRegion, string) { return tblRegion{r}, u }), dsl.As("c"))
	dsl.To(dsl.ToStream(counts), "out")
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
	tblPipe(t, in, tblPtr("a"), tblPtr("eu"), 1)
	tblPipe(t, in, tblPtr("a"), tblPtr("us"), 2)
	kv, err := testdriver.KeyValueStore[tblRegion, store.ValueAndTimestamp[int64]](d, "c")
	if err != nil {
		t.Fatal(err)
	}
	eu, _, _ := kv.Get(tblRegion{"eu"})
	us, _, _ := kv.Get(tblRegion{"us"})
	if eu.Value != 0 || us.Value != 1 {
		t.Errorf("eu %d us %d, want 0 1", eu.Value, us.Value)
	}
}
