package dsl_test

import (
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// A cached table compacts an insert and a delete within one commit into
// nothing. A join reading the other side's cache in between would build a
// result from the inserted value that no change ever retracts; joins read
// each other as forwarded, so the result never appears.
func TestTableJoinNeverKeepsAResultOfAWriteTheCacheCompactedAway(t *testing.T) {
	for _, c := range []struct {
		name        string
		leftCached  bool
		rightCached bool
	}{{"left uncached, right cached", false, true}, {"both cached", true, true}, {"left cached, right uncached", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			opts := func(cached bool, name string) []dsl.Option {
				o := []dsl.Option{dsl.As(name), dsl.InMemory()}
				if !cached {
					o = append(o, dsl.WithoutCaching())
				}
				return o
			}
			left := dsl.TableFrom(b, "left", record.String(), record.String(), opts(c.leftCached, "l")...)
			right := dsl.TableFrom(b, "right", record.String(), record.String(), opts(c.rightCached, "r")...)
			for _, join := range []struct {
				topic string
				table dsl.Table[string, string]
			}{
				{"inner-out", dsl.JoinTables(left, right, func(l, r string) string { return l + "+" + r })},
				{"left-out", dsl.LeftJoinTables(left, right, func(l string, r *string) string {
					if r == nil {
						return l + "+nil"
					}
					return l + "+" + *r
				})},
			} {
				dsl.To(dsl.ToStream(join.table), join.topic)
			}
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "x"})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			l := testdriver.CreateInputTopic(d, "left", record.String(), record.String())
			r := testdriver.CreateInputTopic(d, "right", record.String(), record.String())
			if err := d.Batch(func() error {
				if err := r.Pipe("k", "r1", 1); err != nil {
					return err
				}
				if err := l.Pipe("k", "l1", 2); err != nil {
					return err
				}
				return d.PipeRaw("right", []byte("k"), nil, 3) // deletes r1 within the same commit
			}); err != nil {
				t.Fatal(err)
			}
			last := func(topic string) (string, bool) {
				recs, err := testdriver.CreateOutputTopic(d, topic, record.String(), record.String()).ReadRecords()
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) == 0 {
					return "", false
				}
				rec := recs[len(recs)-1]
				if rec.ValueIsNull() {
					return "<deleted>", true
				}
				return rec.Value(), true
			}
			if v, ok := last("inner-out"); ok && v != "<deleted>" {
				t.Errorf("inner join ends with %q: a result of r1, which the right table never forwarded", v)
			}
			if v, ok := last("left-out"); !ok || v != "l1+nil" {
				t.Errorf("left join ends with %q (%v), want l1+nil", v, ok)
			}
		})
	}
}
