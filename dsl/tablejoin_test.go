package dsl_test

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

func tblOr(s *string) string {
	if s == nil {
		return "nil"
	}
	return *s
}

// The scenario of every table-table join test: updates from both sides, a
// right-side tombstone, then a left-side tombstone, then a right-only key.
func tblJoinScenario(t *testing.T, d *testdriver.Driver) {
	t.Helper()
	l := testdriver.CreateInputTopic(d, "left", record.String(), record.String())
	r := testdriver.CreateInputTopic(d, "right", record.String(), record.String())
	tblPipe(t, l, tblPtr("a"), tblPtr("l1"), 1)
	tblPipe(t, r, tblPtr("a"), tblPtr("r1"), 2)
	tblPipe(t, l, tblPtr("a"), tblPtr("l2"), 3)
	tblPipe(t, r, tblPtr("a"), tblPtr("r2"), 4)
	tblPipe(t, r, tblPtr("a"), nil, 5)
	tblPipe(t, l, tblPtr("a"), nil, 6)
	tblPipe(t, r, tblPtr("b"), tblPtr("r9"), 7)
}

func TestTableTableJoinsUpdateAndRetractFromBothSides(t *testing.T) {
	for _, tc := range []struct {
		name string
		join func(l, r dsl.Table[string, string], opts ...dsl.Option) dsl.Table[string, string]
		want []string
	}{
		{"inner", func(l, r dsl.Table[string, string], opts ...dsl.Option) dsl.Table[string, string] {
			return dsl.JoinTables(l, r, func(a, b string) string { return a + "+" + b }, opts...)
		}, []string{
			"a=<none>->l1+r1@2", // the right side's insert completes the key
			"a=l1+r1->l2+r1@3",
			"a=l2+r1->l2+r2@4",
			"a=l2+r2-><none>@5", // the right tombstone retracts the result
		}},
		{"left", func(l, r dsl.Table[string, string], opts ...dsl.Option) dsl.Table[string, string] {
			return dsl.LeftJoinTables(l, r, func(a string, b *string) string { return a + "+" + tblOr(b) }, opts...)
		}, []string{
			"a=<none>->l1+nil@1",
			"a=l1+nil->l1+r1@2",
			"a=l1+r1->l2+r1@3",
			"a=l2+r1->l2+r2@4",
			"a=l2+r2->l2+nil@5", // right tombstone: the left value stays, unmatched
			"a=l2+nil-><none>@6",
		}},
		{"outer", func(l, r dsl.Table[string, string], opts ...dsl.Option) dsl.Table[string, string] {
			return dsl.OuterJoinTables(l, r, func(a, b *string) string { return tblOr(a) + "+" + tblOr(b) }, opts...)
		}, []string{
			"a=<none>->l1+nil@1",
			"a=l1+nil->l1+r1@2",
			"a=l1+r1->l2+r1@3",
			"a=l2+r1->l2+r2@4",
			"a=l2+r2->l2+nil@5",
			"a=l2+nil-><none>@6",
			"b=<none>->nil+r9@7",
		}},
	} {
		for _, mat := range []struct {
			name string
			opts []dsl.Option
		}{{"unmaterialized", nil}, {"materialized", []dsl.Option{dsl.As("joined")}}, {"materialized uncached", []dsl.Option{dsl.As("joined"), dsl.WithoutCaching()}}} {
			t.Run(tc.name+"/"+mat.name, func(t *testing.T) {
				b := dsl.NewBuilder()
				left := dsl.TableFrom(b, "left", record.String(), record.String())
				right := dsl.TableFrom(b, "right", record.String(), record.String())
				j := tc.join(left, right, mat.opts...)
				tblChangesTo(b, j, "changes", record.String())
				d := tblDriver(t, b)
				tblJoinScenario(t, d)
				tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())), tc.want)
				if j.StoreName() != "" {
					kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[string]](d, "joined")
					if err != nil {
						t.Fatal(err)
					}
					_, aok, _ := kv.Get("a")
					_, bok, _ := kv.Get("b")
					if aok || bok != (tc.name == "outer") {
						t.Errorf("store: a present %v, b present %v", aok, bok)
					}
				}
			})
		}
	}
}

// A join's value getter joins both sides' getters: a stream joined with
// the (unmaterialized) join result sees the current result.
func TestTableTableJoinGetterJoinsBothSides(t *testing.T) {
	b := dsl.NewBuilder()
	left := dsl.TableFrom(b, "left", record.String(), record.String())
	right := dsl.TableFrom(b, "right", record.String(), record.String())
	j := dsl.LeftJoinTables(left, right, func(a string, r *string) string { return a + "+" + tblOr(r) })
	probe := dsl.FromTopics(b, []string{"probe"}, record.String(), record.String())
	dsl.To(dsl.LeftJoinTable(probe, j, func(v string, r *string) string { return v + ":" + tblOr(r) }), "out")
	d := tblDriver(t, b)
	l := testdriver.CreateInputTopic(d, "left", record.String(), record.String())
	r := testdriver.CreateInputTopic(d, "right", record.String(), record.String())
	pr := testdriver.CreateInputTopic(d, "probe", record.String(), record.String())
	tblPipe(t, pr, tblPtr("a"), tblPtr("p0"), 1)
	tblPipe(t, r, tblPtr("a"), tblPtr("r1"), 2)
	tblPipe(t, pr, tblPtr("a"), tblPtr("p1"), 3) // right only: no left-join result
	tblPipe(t, l, tblPtr("a"), tblPtr("l1"), 4)
	tblPipe(t, pr, tblPtr("a"), tblPtr("p2"), 5)
	tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())),
		[]string{"a=p0:nil@1", "a=p1:nil@3", "a=p2:l1+r1@5"})
	desc, _ := b.Describe()
	if strings.Count(desc, "Sub-topology:") != 1 {
		t.Errorf("the join and its lookups should share one sub-topology:\n%s", desc)
	}
}

func TestTableTableJoinNamesItsProcessors(t *testing.T) {
	b := dsl.NewBuilder()
	left := dsl.TableFrom(b, "left", record.String(), record.String())
	right := dsl.TableFrom(b, "right", record.String(), record.String())
	j := dsl.JoinTables(left, right, func(a, b string) string { return a + b }, dsl.Named("users-orders"))
	dsl.To(dsl.ToStream(j), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"users-orders-join-this", "users-orders-join-other", "users-orders"} {
		if !strings.Contains(desc, n) {
			t.Errorf("no node %s in\n%s", n, desc)
		}
	}
	if j.NodeName() != "users-orders" {
		t.Errorf("node %q", j.NodeName())
	}
}

func TestTableTableJoinBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"declared partitions differ", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "left", record.String(), record.String(), dsl.Partitions(3))
			r := dsl.TableFrom(b, "right", record.String(), record.String(), dsl.Partitions(4))
			dsl.JoinTables(l, r, func(a, b string) string { return a + b })
		}, dsl.ErrNotCoPartitioned, "JoinTables"},
		{"nil joiner", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "left", record.String(), record.String())
			r := dsl.TableFrom(b, "right", record.String(), record.String())
			dsl.LeftJoinTables[string, string, string, string](l, r, nil)
		}, dsl.ErrNilFunction, "LeftJoinTables"},
		{"nil outer joiner", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "left", record.String(), record.String())
			r := dsl.TableFrom(b, "right", record.String(), record.String())
			dsl.OuterJoinTables[string, string, string, string](l, r, nil)
		}, dsl.ErrNilFunction, "OuterJoinTables"},
		{"other builder", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "left", record.String(), record.String())
			r := dsl.TableFrom(dsl.NewBuilder(), "right", record.String(), record.String())
			dsl.JoinTables(l, r, func(a, b string) string { return a + b })
		}, dsl.ErrInvalidOperator, "JoinTables"},
		{"materialized result without serde", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "left", record.String(), record.String())
			r := dsl.TableFrom(b, "right", record.String(), record.String())
			dsl.JoinTables(l, r, func(a, b string) tblPoint { return tblPoint{} }, dsl.As("points"))
		}, dsl.ErrMissingSerde, "JoinTables"},
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

func TestTableTableJoinWithOneDeclaredCountBuilds(t *testing.T) {
	b := dsl.NewBuilder()
	l := dsl.TableFrom(b, "left", record.String(), record.String(), dsl.Partitions(3))
	r := dsl.TableFrom(b, "right", record.String(), record.String())
	dsl.To(dsl.ToStream(dsl.JoinTables(l, r, func(a, b string) string { return a + b })), "out")
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
}
