package dsl_test

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestGlobalTableEnrichesByAKeyFromTheValue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []dsl.Option
		join    func(s dsl.Stream[string, string], g dsl.GlobalTable[string, string]) dsl.Stream[string, string]
		want    []string
		noMatch int64
	}{
		{"inner", nil, func(s dsl.Stream[string, string], g dsl.GlobalTable[string, string]) dsl.Stream[string, string] {
			return dsl.JoinGlobal(s, g, func(_, v string) string { return strings.SplitN(v, "x", 2)[0] },
				func(v, name string) string { return v + "=" + name })
		}, []string{"o1=p1x2=tea@2", "<null>=p2x1=jam@3", "o4=p1x5=green tea@6"}, 1},
		{"left in memory", []dsl.Option{dsl.InMemory(), dsl.As("products")}, func(s dsl.Stream[string, string], g dsl.GlobalTable[string, string]) dsl.Stream[string, string] {
			return dsl.LeftJoinGlobal(s, g, func(_, v string) string { return strings.SplitN(v, "x", 2)[0] },
				func(v string, name *string) string { return v + "=" + tblOr(name) })
		}, []string{"o1=p1x2=tea@2", "<null>=p2x1=jam@3", "o3=p9x1=nil@4", "o4=p1x5=green tea@6"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			products := dsl.GlobalTableFrom(b, "products", record.String(), record.String(), tc.opts...)
			orders := dsl.FromTopics(b, []string{"orders"}, record.String(), record.String())
			dsl.To(tc.join(orders, products), "out")
			d := tblDriver(t, b)
			p := testdriver.CreateInputTopic(d, "products", record.String(), record.String())
			o := testdriver.CreateInputTopic(d, "orders", record.String(), record.String())
			tblPipe(t, p, tblPtr("p1"), tblPtr("tea"), 1)
			tblPipe(t, p, tblPtr("p2"), tblPtr("jam"), 1)
			tblPipe(t, o, tblPtr("o1"), tblPtr("p1x2"), 2)
			tblPipe(t, o, nil, tblPtr("p2x1"), 3) // a null key is joined (KIP-962)
			tblPipe(t, o, tblPtr("o3"), tblPtr("p9x1"), 4)
			tblPipe(t, p, tblPtr("p1"), tblPtr("green tea"), 5)
			tblPipe(t, o, tblPtr("o4"), tblPtr("p1x5"), 6)
			tblPipe(t, o, tblPtr("o5"), nil, 7) // null value: dropped
			tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())), tc.want)
			if n := tblDropped(t, d, dsl.DropNoMatch); n != tc.noMatch {
				t.Errorf("no-match dropped %d, want %d", n, tc.noMatch)
			}
			if n := tblDropped(t, d, dsl.DropNullValue); n != 1 {
				t.Errorf("null values dropped %d, want 1", n)
			}
		})
	}
}

func TestGlobalTableJoinNeedsNoCoPartitioningNorRepartition(t *testing.T) {
	b := dsl.NewBuilder()
	g := dsl.GlobalTableFrom(b, "products", record.String(), record.String())
	if g.StoreName() != "products-STATE-STORE-0000000000" {
		t.Errorf("store %q", g.StoreName())
	}
	s := dsl.FromTopics(b, []string{"orders"}, record.String(), record.String(), dsl.Partitions(7))
	rekeyed := dsl.SelectKey(s, func(_, v string) string { return v })
	dsl.To(dsl.JoinGlobal(rekeyed, g, func(k, _ string) string { return k }, func(v, n string) string { return n }), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(desc, "-repartition") {
		t.Errorf("a global join repartitioned:\n%s", desc)
	}
}

func TestGlobalTableBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"nil key mapper", func(b *dsl.Builder) {
			g := dsl.GlobalTableFrom(b, "g", record.String(), record.String())
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String())
			dsl.JoinGlobal(s, g, nil, func(v, g string) string { return v })
		}, dsl.ErrNilFunction, "JoinGlobal"},
		{"nil joiner", func(b *dsl.Builder) {
			g := dsl.GlobalTableFrom(b, "g", record.String(), record.String())
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String())
			dsl.LeftJoinGlobal[string, string, string, string, string](s, g, func(k, _ string) string { return k }, nil)
		}, dsl.ErrNilFunction, "LeftJoinGlobal"},
		{"value type without serde", func(b *dsl.Builder) {
			dsl.GlobalTableFrom[string, tblPoint](b, "g", record.String(), nil)
		}, dsl.ErrMissingSerde, "GlobalTableFrom"},
		{"other builder", func(b *dsl.Builder) {
			g := dsl.GlobalTableFrom(dsl.NewBuilder(), "g", record.String(), record.String())
			s := dsl.FromTopics(b, []string{"s"}, record.String(), record.String())
			dsl.JoinGlobal(s, g, func(k, _ string) string { return k }, func(v, g string) string { return v })
		}, dsl.ErrInvalidOperator, "JoinGlobal"},
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
