package dsl_test

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestStreamTableJoinUsesTheTableAsOfEachStreamRecord(t *testing.T) {
	for _, tc := range []struct {
		name       string
		join       func(s dsl.Stream[string, string], t dsl.Table[string, string]) dsl.Stream[string, string]
		want       []string
		nullKeys   int64
		noMatch    int64
		nullValues int64
	}{
		{"inner", func(s dsl.Stream[string, string], t dsl.Table[string, string]) dsl.Stream[string, string] {
			return dsl.JoinTable(s, t, func(v, u string) string { return v + "/" + u })
		}, []string{"a=c1/alice@2", "a=c2/alicia@4"}, 1, 1, 1},
		{"left", func(s dsl.Stream[string, string], t dsl.Table[string, string]) dsl.Stream[string, string] {
			return dsl.LeftJoinTable(s, t, func(v string, u *string) string { return v + "/" + tblOr(u) })
		}, []string{"a=c1/alice@2", "a=c2/alicia@4", "b=c3/nil@5", "<null>=c4/nil@6"}, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			users := dsl.TableFrom(b, "users", record.String(), record.String())
			clicks := dsl.FromTopics(b, []string{"clicks"}, record.String(), record.String())
			dsl.To(tc.join(clicks, users), "out")
			d := tblDriver(t, b)
			u := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
			c := testdriver.CreateInputTopic(d, "clicks", record.String(), record.String())
			tblPipe(t, u, tblPtr("a"), tblPtr("alice"), 1)
			tblPipe(t, c, tblPtr("a"), tblPtr("c1"), 2)
			tblPipe(t, u, tblPtr("a"), tblPtr("alicia"), 3) // no output; only later clicks see it
			tblPipe(t, c, tblPtr("a"), tblPtr("c2"), 4)
			tblPipe(t, c, tblPtr("b"), tblPtr("c3"), 5) // no table value
			tblPipe(t, c, nil, tblPtr("c4"), 6)         // null key
			tblPipe(t, c, tblPtr("a"), nil, 7)          // null value: dropped
			tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())), tc.want)
			if n := tblDropped(t, d, dsl.DropNullKey); n != tc.nullKeys {
				t.Errorf("null keys dropped %d, want %d", n, tc.nullKeys)
			}
			if n := tblDropped(t, d, dsl.DropNoMatch); n != tc.noMatch {
				t.Errorf("no-match dropped %d, want %d", n, tc.noMatch)
			}
			if n := tblDropped(t, d, dsl.DropNullValue); n != tc.nullValues {
				t.Errorf("null values dropped %d, want %d", n, tc.nullValues)
			}
		})
	}
}

func TestStreamTableJoinRepartitionsAStreamWhoseKeyChanged(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String())
	orders := dsl.FromTopics(b, []string{"orders"}, record.String(), record.String())
	// order id -> "user:item", re-keyed by user
	byUser := dsl.SelectKey(orders, func(_, v string) string { return strings.SplitN(v, ":", 2)[0] })
	joined := dsl.JoinTable(byUser, users, func(o, u string) string { return u + " bought " + strings.SplitN(o, ":", 2)[1] })
	dsl.To(joined, "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	topic := byUser.NodeName() + "-repartition"
	if !strings.Contains(desc, topic) {
		t.Errorf("no repartition topic %s in\n%s", topic, desc)
	}
	if !strings.Contains(desc, "topic "+topic) {
		t.Errorf("repartition topic %s not listed as generated in\n%s", topic, desc)
	}
	d := tblDriver(t, b)
	u := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
	o := testdriver.CreateInputTopic(d, "orders", record.String(), record.String())
	tblPipe(t, u, tblPtr("u1"), tblPtr("Ann"), 1)
	tblPipe(t, u, tblPtr("u2"), tblPtr("Bob"), 2)
	tblPipe(t, o, tblPtr("o1"), tblPtr("u2:tea"), 3)
	tblPipe(t, o, tblPtr("o2"), tblPtr("u1:jam"), 4)
	tblPipe(t, o, tblPtr("o3"), tblPtr("u3:oil"), 5)
	tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())),
		[]string{"u2=Bob bought tea@3", "u1=Ann bought jam@4"})
}

func TestStreamTableJoinNamedRepartitionTopic(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String())
	orders := dsl.FromTopics(b, []string{"orders"}, record.String(), record.String())
	byUser := dsl.SelectKey(orders, func(_, v string) string { return v })
	dsl.To(dsl.LeftJoinTable(byUser, users, func(o string, u *string) string { return o }, dsl.Named("enrich")), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "enrich-repartition") {
		t.Errorf("no repartition topic enrich-repartition in\n%s", desc)
	}
}

func TestStreamTableJoinBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"declared partitions differ", func(b *dsl.Builder) {
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String(), dsl.Partitions(2))
			tb := dsl.TableFrom(b, "t", record.String(), record.String(), dsl.Partitions(3))
			dsl.JoinTable(s, tb, func(a, b string) string { return a + b })
		}, dsl.ErrNotCoPartitioned, "JoinTable"},
		{"repartition count differs from the table's", func(b *dsl.Builder) {
			s := dsl.SelectKey(dsl.FromTopics(b, []string{"s"}, record.String(), record.String()), func(k, _ string) string { return k })
			tb := dsl.TableFrom(b, "t", record.String(), record.String(), dsl.Partitions(3))
			dsl.LeftJoinTable(s, tb, func(a string, b *string) string { return a }, dsl.Partitions(4))
		}, dsl.ErrNotCoPartitioned, "LeftJoinTable"},
		{"nil joiner", func(b *dsl.Builder) {
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String())
			tb := dsl.TableFrom(b, "t", record.String(), record.String())
			dsl.JoinTable[string, string, string, string](s, tb, nil)
		}, dsl.ErrNilFunction, "JoinTable"},
		{"repartition of a value type without serde", func(b *dsl.Builder) {
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String())
			pts := dsl.SelectKey(dsl.MapValues(s, func(string) tblPoint { return tblPoint{} }), func(k string, _ tblPoint) string { return k })
			tb := dsl.TableFrom(b, "t", record.String(), record.String())
			dsl.JoinTable(pts, tb, func(p tblPoint, u string) string { return u })
		}, dsl.ErrMissingSerde, "JoinTable"},
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
