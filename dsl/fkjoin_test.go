package dsl_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

// Orders (left, keyed by order id) name their customer (right, keyed by
// customer id) in their value, "customer:item"; an order without a
// customer ("-:item") has no foreign key.
func fkOfOrder(order string) (string, bool) {
	c, _, _ := strings.Cut(order, ":")
	return c, c != "" && c != "-"
}

func fkInner(l, r string) string { return l + "/" + r }

func fkLeft(l string, r *string) string { return l + "/" + tblOr(r) }

// fkRig is orders ⋈ customers on the test driver, the result's changes
// written as "old->new".
type fkRig struct {
	d       *testdriver.Driver
	b       *dsl.Builder
	orders  *testdriver.InputTopic[string, string]
	cust    *testdriver.InputTopic[string, string]
	changes *testdriver.OutputTopic[string, string]
	joined  dsl.Table[string, string]
}

// fkSetup builds the join (left join if left) of two uncached tables, so
// every input record is one change.
func fkSetup(t *testing.T, left bool, opts ...dsl.Option) *fkRig {
	t.Helper()
	b := dsl.NewBuilder()
	orders := dsl.TableFrom(b, "orders", record.String(), record.String(), dsl.WithoutCaching())
	customers := dsl.TableFrom(b, "customers", record.String(), record.String(), dsl.WithoutCaching())
	var j dsl.Table[string, string]
	if left {
		j = dsl.LeftJoinByForeignKey(orders, customers, fkOfOrder, fkLeft, opts...)
	} else {
		j = dsl.JoinByForeignKey(orders, customers, fkOfOrder, fkInner, opts...)
	}
	tblChangesTo(b, j, "changes", record.String())
	d := tblDriver(t, b)
	return &fkRig{d: d, b: b, joined: j,
		orders:  testdriver.CreateInputTopic(d, "orders", record.String(), record.String()),
		cust:    testdriver.CreateInputTopic(d, "customers", record.String(), record.String()),
		changes: testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())}
}

func (r *fkRig) order(t *testing.T, id string, v *string, ts int64) {
	t.Helper()
	tblPipe(t, r.orders, &id, v, ts)
}

func (r *fkRig) customer(t *testing.T, id string, v *string, ts int64) {
	t.Helper()
	tblPipe(t, r.cust, &id, v, ts)
}

func (r *fkRig) expect(t *testing.T, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	tblEqual(t, "changes", tblRead(t, r.changes), want)
}

// fkStoreEntries reads a store of the driver as "key=value" (results) or
// counts its entries (subscriptions).
func fkResults(t *testing.T, d *testdriver.Driver, name string) []string {
	t.Helper()
	kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[string]](d, name)
	if err != nil {
		t.Fatal(err)
	}
	it, err := kv.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := []string{}
	for it.Next() {
		out = append(out, fmt.Sprintf("%s=%s@%d", it.Key(), it.Value().Value, it.Value().Timestamp))
	}
	return out
}

func fkSubscriptions(t *testing.T, d *testdriver.Driver, name string) int {
	t.Helper()
	s, err := d.Store(name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := store.ApproximateEntries(s)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestJoinByForeignKeyJoinsEachLeftValueWithTheRightValueOfItsForeignKey(t *testing.T) {
	r := fkSetup(t, false, dsl.Named("orders-customers"), dsl.As("joined"))
	r.customer(t, "c1", tblPtr("alice"), 1)
	r.order(t, "o1", tblPtr("c1:pen"), 2)
	r.expect(t, "o1=<none>->c1:pen/alice@2")
	r.order(t, "o2", tblPtr("c2:ink"), 3) // no customer c2 yet: no result
	r.expect(t)
	r.customer(t, "c2", tblPtr("bob"), 4) // c2 arrives: o2 joins, at c2's time
	r.expect(t, "o2=<none>->c2:ink/bob@4")
	r.order(t, "o1", tblPtr("c1:pens"), 5) // same foreign key, new left value
	r.expect(t, "o1=c1:pen/alice->c1:pens/alice@5")
	r.customer(t, "c1", tblPtr("alice2"), 6) // a right update is an update of its subscribers
	r.expect(t, "o1=c1:pens/alice->c1:pens/alice2@6")
	tblEqual(t, "result store", fkResults(t, r.d, "joined"), []string{"o1=c1:pens/alice2@6", "o2=c2:ink/bob@4"})
	if got := r.joined.StoreName(); got != "joined" {
		t.Errorf("StoreName %q, want joined", got)
	}
}

func TestLeftJoinByForeignKeyKeepsEveryLeftValue(t *testing.T) {
	r := fkSetup(t, true)
	r.order(t, "o1", tblPtr("c1:pen"), 1) // no customer: joined with nil
	r.expect(t, "o1=<none>->c1:pen/nil@1")
	r.customer(t, "c1", tblPtr("alice"), 2)
	r.expect(t, "o1=c1:pen/nil->c1:pen/alice@2")
	r.order(t, "o2", tblPtr("c1:ink"), 3)
	r.expect(t, "o2=<none>->c1:ink/alice@3")
	r.customer(t, "c1", nil, 4) // a right tombstone leaves the left values unmatched
	r.expect(t, "o1=c1:pen/alice->c1:pen/nil@4", "o2=c1:ink/alice->c1:ink/nil@4")
	r.order(t, "o1", nil, 5) // a left tombstone retracts
	r.expect(t, "o1=c1:pen/nil-><none>@5")
}

func TestForeignKeyJoinRightChangeUpdatesEverySubscriber(t *testing.T) {
	r := fkSetup(t, false, dsl.Named("fk"))
	r.customer(t, "c1", tblPtr("alice"), 1)
	r.customer(t, "c10", tblPtr("zed"), 1) // a foreign key whose bytes start with c1's
	for i, o := range []string{"o1", "o2", "o3"} {
		r.order(t, o, tblPtr("c1:item"+o), int64(2+i))
	}
	r.order(t, "o4", tblPtr("c10:x"), 5)
	r.order(t, "o5", tblPtr("c2:y"), 6)
	r.expect(t, "o1=<none>->c1:itemo1/alice@2", "o2=<none>->c1:itemo2/alice@3", "o3=<none>->c1:itemo3/alice@4",
		"o4=<none>->c10:x/zed@5")
	r.customer(t, "c1", tblPtr("ALICE"), 7)
	// Every subscriber of c1, in the order of the subscription store's
	// keys; not o4 (c10) nor o5 (c2).
	r.expect(t, "o1=c1:itemo1/alice->c1:itemo1/ALICE@7", "o2=c1:itemo2/alice->c1:itemo2/ALICE@7",
		"o3=c1:itemo3/alice->c1:itemo3/ALICE@7")
	r.customer(t, "c1", nil, 8) // a right tombstone retracts every inner result
	r.expect(t, "o1=c1:itemo1/ALICE-><none>@8", "o2=c1:itemo2/ALICE-><none>@8", "o3=c1:itemo3/ALICE-><none>@8")
	r.customer(t, "c1", tblPtr("back"), 9) // the subscriptions outlive the right value
	r.expect(t, "o1=<none>->c1:itemo1/back@9", "o2=<none>->c1:itemo2/back@9", "o3=<none>->c1:itemo3/back@9")
	if n := fkSubscriptions(t, r.d, "fk-subscription-store"); n != 5 {
		t.Errorf("%d subscriptions, want 5 (one per order)", n)
	}
}

func TestForeignKeyJoinForeignKeyChangeRetractsTheOldResult(t *testing.T) {
	for _, left := range []bool{false, true} {
		t.Run(map[bool]string{false: "inner", true: "left"}[left], func(t *testing.T) {
			r := fkSetup(t, left, dsl.Named("fk"))
			r.customer(t, "c1", tblPtr("alice"), 1)
			r.customer(t, "c2", tblPtr("bob"), 2)
			r.order(t, "o1", tblPtr("c1:pen"), 3)
			r.expect(t, "o1=<none>->c1:pen/alice@3")
			r.order(t, "o1", tblPtr("c2:pen"), 4) // moves to c2: one change, old result to new
			r.expect(t, "o1=c1:pen/alice->c2:pen/bob@4")
			r.customer(t, "c1", tblPtr("alice2"), 5) // o1 left c1: nothing
			r.expect(t)
			r.order(t, "o1", tblPtr("c3:pen"), 6) // to a foreign key without right value
			if left {
				r.expect(t, "o1=c2:pen/bob->c3:pen/nil@6")
			} else {
				r.expect(t, "o1=c2:pen/bob-><none>@6")
			}
			r.customer(t, "c2", tblPtr("bob2"), 7) // o1 left c2 too
			r.expect(t)
			r.customer(t, "c3", tblPtr("carol"), 8)
			if left {
				r.expect(t, "o1=c3:pen/nil->c3:pen/carol@8")
			} else {
				r.expect(t, "o1=<none>->c3:pen/carol@8")
			}
			if n := fkSubscriptions(t, r.d, "fk-subscription-store"); n != 1 {
				t.Errorf("%d subscriptions, want 1: the old foreign keys were unsubscribed", n)
			}
		})
	}
}

func TestForeignKeyJoinLeftTombstoneRetractsAndUnsubscribes(t *testing.T) {
	for _, left := range []bool{false, true} {
		t.Run(map[bool]string{false: "inner", true: "left"}[left], func(t *testing.T) {
			r := fkSetup(t, left, dsl.Named("fk"), dsl.As("joined"))
			r.customer(t, "c1", tblPtr("alice"), 1)
			r.order(t, "o1", tblPtr("c1:pen"), 2)
			r.expect(t, "o1=<none>->c1:pen/alice@2")
			r.order(t, "o1", nil, 3)
			r.expect(t, "o1=c1:pen/alice-><none>@3")
			r.order(t, "o1", nil, 4)                 // deleting an absent key: nothing
			r.order(t, "o9", nil, 5)                 // never there: nothing
			r.customer(t, "c1", tblPtr("alice2"), 6) // unsubscribed: nothing
			r.expect(t)
			if n := fkSubscriptions(t, r.d, "fk-subscription-store"); n != 0 {
				t.Errorf("%d subscriptions left, want 0", n)
			}
			tblEqual(t, "result store", fkResults(t, r.d, "joined"), []string{})
		})
	}
}

func TestForeignKeyJoinRightTombstoneRetractsInnerAndUnmatchesLeftResults(t *testing.T) {
	for _, tc := range []struct {
		left bool
		want []string
	}{
		{false, []string{"o1=c1:pen/alice-><none>@3"}},
		{true, []string{"o1=c1:pen/alice->c1:pen/nil@3"}},
	} {
		r := fkSetup(t, tc.left)
		r.customer(t, "c1", tblPtr("alice"), 1)
		r.order(t, "o1", tblPtr("c1:pen"), 2)
		r.expect(t, "o1=<none>->c1:pen/alice@2")
		r.customer(t, "c1", nil, 3)
		r.expect(t, tc.want...)
		r.customer(t, "c1", nil, 4) // deleting an absent right key: nothing
		r.expect(t)
	}
}

// Two updates of one order in one batch: both subscriptions are answered
// after the second update, so the first answer (for the first value's
// hash) is stale and must not produce a result.
func TestForeignKeyJoinDropsStaleResponses(t *testing.T) {
	for _, left := range []bool{false, true} {
		t.Run(map[bool]string{false: "inner", true: "left"}[left], func(t *testing.T) {
			r := fkSetup(t, left, dsl.Named("fk"))
			r.customer(t, "c1", tblPtr("alice"), 1)
			r.customer(t, "c2", tblPtr("bob"), 2)
			err := r.d.Batch(func() error {
				r.order(t, "o1", tblPtr("c1:pen"), 3)
				r.order(t, "o1", tblPtr("c2:pen"), 4)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Without the hash check, c1's answer would make c1:pen/alice.
			r.expect(t, "o1=<none>->c2:pen/bob@4")
			// Same foreign key, two values: only the second joins.
			err = r.d.Batch(func() error {
				r.order(t, "o1", tblPtr("c2:ink"), 5)
				r.order(t, "o1", tblPtr("c2:cap"), 6)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			r.expect(t, "o1=c2:pen/bob->c2:cap/bob@6")
			// A delete overtaking the answer: the answer is stale.
			err = r.d.Batch(func() error {
				r.order(t, "o2", tblPtr("c1:pen"), 7)
				r.order(t, "o2", nil, 8)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			r.expect(t)
		})
	}
}

func TestForeignKeyJoinWithoutForeignKey(t *testing.T) {
	t.Run("inner: no result, counted", func(t *testing.T) {
		r := fkSetup(t, false)
		r.customer(t, "c1", tblPtr("alice"), 1)
		r.order(t, "o1", tblPtr("-:pen"), 2)
		r.expect(t)
		r.order(t, "o2", tblPtr("c1:ink"), 3)
		r.order(t, "o2", tblPtr("-:ink"), 4) // losing its foreign key retracts
		r.expect(t, "o2=<none>->c1:ink/alice@3", "o2=c1:ink/alice-><none>@4")
		r.customer(t, "c1", tblPtr("alice2"), 5) // and unsubscribes
		r.expect(t)
		if n := tblDropped(t, r.d, dsl.DropNullForeignKey); n != 2 {
			t.Errorf("dropped %d for %s, want 2", n, dsl.DropNullForeignKey)
		}
	})
	t.Run("left: joined with nil", func(t *testing.T) {
		r := fkSetup(t, true)
		r.customer(t, "c1", tblPtr("alice"), 1)
		r.order(t, "o1", tblPtr("-:pen"), 2)
		r.expect(t, "o1=<none>->-:pen/nil@2")
		r.order(t, "o1", tblPtr("c1:pen"), 3) // gains one
		r.expect(t, "o1=-:pen/nil->c1:pen/alice@3")
		r.order(t, "o1", tblPtr("-:pen"), 4) // loses it again
		r.expect(t, "o1=c1:pen/alice->-:pen/nil@4")
		r.customer(t, "c1", tblPtr("alice2"), 5)
		r.expect(t)
		if n := tblDropped(t, r.d, dsl.DropNullForeignKey); n != 0 {
			t.Errorf("a left join dropped %d", n)
		}
	})
}

// With the result store's cache on (the default), the result is forwarded
// once per key per commit; the driver commits after each batch.
func TestForeignKeyJoinCachedResultForwardsOncePerCommit(t *testing.T) {
	b := dsl.NewBuilder()
	orders := dsl.TableFrom(b, "orders", record.String(), record.String())
	customers := dsl.TableFrom(b, "customers", record.String(), record.String())
	j := dsl.JoinByForeignKey(orders, customers, fkOfOrder, fkInner)
	tblChangesTo(b, j, "changes", record.String())
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "orders", record.String(), record.String())
	cu := testdriver.CreateInputTopic(d, "customers", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())
	if err := d.Batch(func() error {
		tblPipe(t, cu, tblPtr("c1"), tblPtr("alice"), 1)
		tblPipe(t, cu, tblPtr("c2"), tblPtr("bob"), 2)
		tblPipe(t, in, tblPtr("o1"), tblPtr("c1:pen"), 3)
		tblPipe(t, in, tblPtr("o1"), tblPtr("c2:pen"), 4)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tblEqual(t, "changes", tblRead(t, out), []string{"o1=<none>->c2:pen/bob@4"})
	tblPipe(t, cu, tblPtr("c2"), tblPtr("bob2"), 5)
	tblEqual(t, "changes", tblRead(t, out), []string{"o1=c2:pen/bob->c2:pen/bob2@5"})
}

// The result is a table like any other: it can be joined, grouped, and
// its getter reads the result store.
func TestForeignKeyJoinResultFeedsTableOperators(t *testing.T) {
	b := dsl.NewBuilder()
	orders := dsl.TableFrom(b, "orders", record.String(), record.String())
	customers := dsl.TableFrom(b, "customers", record.String(), record.String())
	j := dsl.JoinByForeignKey(orders, customers, fkOfOrder, func(_, c string) string { return c })
	perCustomer := dsl.CountTable(dsl.GroupTableBy(j, func(_, c string) (string, string) { return c, c }), dsl.As("per-customer"),
		dsl.WithoutCaching())
	dsl.To(dsl.ToStream(perCustomer), "counts")
	probe := dsl.FromTopics(b, []string{"probe"}, record.String(), record.String())
	dsl.To(dsl.LeftJoinTable(probe, j, func(v string, r *string) string { return v + ":" + tblOr(r) }), "probed")
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "orders", record.String(), record.String())
	cu := testdriver.CreateInputTopic(d, "customers", record.String(), record.String())
	pr := testdriver.CreateInputTopic(d, "probe", record.String(), record.String())
	tblPipe(t, cu, tblPtr("c1"), tblPtr("alice"), 1)
	tblPipe(t, cu, tblPtr("c2"), tblPtr("bob"), 2)
	tblPipe(t, in, tblPtr("o1"), tblPtr("c1:pen"), 3)
	tblPipe(t, in, tblPtr("o2"), tblPtr("c1:ink"), 4)
	tblPipe(t, in, tblPtr("o1"), tblPtr("c2:pen"), 5)
	tblPipe(t, pr, tblPtr("o1"), tblPtr("p"), 6)
	counts := testdriver.CreateOutputTopic(d, "counts", record.String(), record.Int64())
	got, err := testdriver.ReadKeyValuesToMap(counts)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[alice:1 bob:1]" {
		t.Errorf("counts %v, want alice 1 (o2), bob 1 (o1 moved)", got)
	}
	tblEqual(t, "probed", tblRead(t, testdriver.CreateOutputTopic(d, "probed", record.String(), record.String())),
		[]string{"o1=p:bob@6"})
}

func TestForeignKeyJoinDescribeShowsItsInternalTopics(t *testing.T) {
	t.Run("named", func(t *testing.T) {
		b := dsl.NewBuilder()
		orders := dsl.TableFrom(b, "orders", record.String(), record.String(), dsl.As("orders"))
		customers := dsl.TableFrom(b, "customers", record.String(), record.String(), dsl.As("customers"))
		dsl.To(dsl.ToStream(dsl.JoinByForeignKey(orders, customers, fkOfOrder, fkInner, dsl.Named("oc"), dsl.As("oc-store"))), "out")
		desc, err := b.Describe()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"oc-subscription-registration-topic", "oc-subscription-response-topic", "oc-subscription-store",
			"oc-result", "oc-store"} {
			if !strings.Contains(desc, s) {
				t.Errorf("no %s in\n%s", s, desc)
			}
		}
		if n := strings.Count(desc, "Sub-topology:"); n != 2 {
			t.Errorf("%d sub-topologies, want 2 (left side, right side):\n%s", n, desc)
		}
		if u := b.Unnamed(); len(u) != 0 {
			t.Errorf("unnamed %q", u)
		}
		topo, _ := b.Build()
		its := topo.ForApplication("app").InternalTopics()
		var names []string
		for _, it := range its {
			names = append(names, it.Name)
			if it.Partitions != 0 || !it.Purge {
				t.Errorf("internal topic %+v: want derived partitions (0), purged", it)
			}
		}
		if want := []string{"app-oc-subscription-registration-topic", "app-oc-subscription-response-topic"}; !slices.Equal(names, want) {
			t.Errorf("internal topics %q, want %q", names, want)
		}
	})
	t.Run("unnamed", func(t *testing.T) {
		b := dsl.NewBuilder()
		orders := dsl.TableFrom(b, "orders", record.String(), record.String(), dsl.As("orders"))
		customers := dsl.TableFrom(b, "customers", record.String(), record.String(), dsl.As("customers"))
		dsl.To(dsl.ToStream(dsl.LeftJoinByForeignKey(orders, customers, fkOfOrder, fkLeft)), "out")
		desc, err := b.Describe()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"topic KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic",
			"store KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000008",
			"topic KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000011-topic",
			"store KTABLE-FK-JOIN-OUTPUT-STATE-STORE-0000000014",
		}
		if got := b.Unnamed(); !slices.Equal(got, want) {
			t.Errorf("unnamed %q, want %q", got, want)
		}
		for _, w := range want {
			if !strings.Contains(desc, strings.SplitN(w, " ", 2)[1]) {
				t.Errorf("no %s in\n%s", w, desc)
			}
		}
	})
}

type fkCustom struct{ n int }

func TestForeignKeyJoinBuildErrors(t *testing.T) {
	str := record.String()
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		in    string
	}{
		{"nil foreign key function", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			dsl.JoinByForeignKey[string, string, string, string, string](l, r, nil, fkInner)
		}, dsl.ErrNilFunction, "JoinByForeignKey"},
		{"nil joiner", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			dsl.LeftJoinByForeignKey[string, string, string, string, string](l, r, fkOfOrder, nil)
		}, dsl.ErrNilFunction, "LeftJoinByForeignKey"},
		{"no serde for the left values", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			lc := dsl.MapTableValues(l, func(string) fkCustom { return fkCustom{} })
			dsl.JoinByForeignKey(lc, r, func(fkCustom) (string, bool) { return "", true }, func(fkCustom, string) string { return "" })
		}, dsl.ErrMissingSerde, "left values (dsl_test.fkCustom)"},
		{"no serde for the right values", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			rc := dsl.MapTableValues(r, func(string) fkCustom { return fkCustom{} })
			dsl.JoinByForeignKey(l, rc, fkOfOrder, func(string, fkCustom) string { return "" })
		}, dsl.ErrMissingSerde, "right values (dsl_test.fkCustom)"},
		{"no serde for the result", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			dsl.JoinByForeignKey(l, r, fkOfOrder, func(string, string) fkCustom { return fkCustom{} })
		}, dsl.ErrMissingSerde, "values (dsl_test.fkCustom)"},
		{"result serde of the wrong type", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
			dsl.JoinByForeignKey(l, r, fkOfOrder, fkInner, dsl.ValueSerde(record.Int64()))
		}, dsl.ErrSerdeType, "JoinByForeignKey"},
		{"other builder", func(b *dsl.Builder) {
			l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(dsl.NewBuilder(), "r", str, str)
			dsl.JoinByForeignKey(l, r, fkOfOrder, fkInner)
		}, dsl.ErrInvalidOperator, "JoinByForeignKey"},
		{"zero right table", func(b *dsl.Builder) {
			l := dsl.TableFrom(b, "l", str, str)
			dsl.JoinByForeignKey(l, dsl.Table[string, string]{}, fkOfOrder, fkInner)
		}, dsl.ErrInvalidOperator, "JoinByForeignKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			tc.build(b)
			err := tblBuildErr(t, b, tc.want)
			if !strings.Contains(err.Error(), tc.in) {
				t.Errorf("error does not say %q: %v", tc.in, err)
			}
		})
	}
	// A valid join with a registered result serde builds.
	b := dsl.NewBuilder()
	dsl.RegisterSerde(b, record.SerdeFuncs(func(fkCustom) ([]byte, error) { return []byte{1}, nil },
		func([]byte) (fkCustom, error) { return fkCustom{1}, nil }))
	l, r := dsl.TableFrom(b, "l", str, str), dsl.TableFrom(b, "r", str, str)
	dsl.To(dsl.ToStream(dsl.JoinByForeignKey(l, r, fkOfOrder, func(string, string) fkCustom { return fkCustom{} })), "out",
		dsl.ValueSerde(record.SerdeFuncs(func(fkCustom) ([]byte, error) { return nil, nil }, nil)))
	if _, err := b.Build(); err != nil {
		var be *processor.BuildError
		t.Fatalf("valid join: %v (%v)", err, errors.As(err, &be))
	}
}
