package dsl_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

func TestFilterTableRetractsValuesThatStopPassing(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dsl.Option
	}{
		{"getter over parent", nil},
		{"materialized cached", []dsl.Option{dsl.As("big")}},
		{"materialized uncached", []dsl.Option{dsl.As("big"), dsl.WithoutCaching()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			nums := dsl.TableFrom(b, "nums", record.String(), record.Int64())
			big := dsl.FilterTable(nums, func(_ string, v int64) bool { return v > 10 }, tc.opts...)
			tblChangesTo(b, big, "changes", record.String())
			d := tblDriver(t, b)
			in := testdriver.CreateInputTopic(d, "nums", record.String(), record.Int64())
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](5), 1)  // fails, nothing before: nothing
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](20), 2) // starts passing: insert
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](30), 3) // update
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](7), 4)  // stops passing: retraction
			tblPipe(t, in, tblPtr("a"), nil, 5)               // delete of a failing value: nothing
			tblPipe(t, in, tblPtr("b"), tblPtr[int64](50), 6)
			tblPipe(t, in, tblPtr("b"), nil, 7) // delete of a passing value: retraction
			tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())),
				[]string{"a=<none>->20@2", "a=20->30@3", "a=30-><none>@4", "b=<none>->50@6", "b=50-><none>@7"})
			if big.StoreName() != "" {
				kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[int64]](d, "big")
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"a", "b"} {
					if v, ok, _ := kv.Get(k); ok {
						t.Errorf("filtered store holds %s=%v, want nothing", k, v)
					}
				}
			}
		})
	}
}

func TestFilterNotTableKeepsFailingValues(t *testing.T) {
	b := dsl.NewBuilder()
	nums := dsl.TableFrom(b, "nums", record.String(), record.Int64())
	small := dsl.FilterNotTable(nums, func(_ string, v int64) bool { return v > 10 })
	tblChangesTo(b, small, "changes", record.String())
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "nums", record.String(), record.Int64())
	tblPipe(t, in, tblPtr("a"), tblPtr[int64](5), 1)
	tblPipe(t, in, tblPtr("a"), tblPtr[int64](20), 2)
	tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())),
		[]string{"a=<none>->5@1", "a=5-><none>@2"})
}

// The filtered table's value getter (read by a stream-table join) hides
// values that fail the predicate, materialized or not.
func TestFilterTableGetterHidesFailingValues(t *testing.T) {
	for _, opts := range [][]dsl.Option{nil, {dsl.As("big")}} {
		t.Run(fmt.Sprint(len(opts)), func(t *testing.T) {
			b := dsl.NewBuilder()
			nums := dsl.TableFrom(b, "nums", record.String(), record.Int64())
			big := dsl.FilterTable(nums, func(_ string, v int64) bool { return v > 10 }, opts...)
			s := dsl.FromTopics(b, []string{"probe"}, record.String(), record.String())
			j := dsl.LeftJoinTable(s, big, func(v string, n *int64) string {
				if n == nil {
					return v + ":none"
				}
				return v + ":" + strconv.FormatInt(*n, 10)
			})
			dsl.To(j, "out")
			d := tblDriver(t, b)
			nin := testdriver.CreateInputTopic(d, "nums", record.String(), record.Int64())
			pin := testdriver.CreateInputTopic(d, "probe", record.String(), record.String())
			tblPipe(t, nin, tblPtr("a"), tblPtr[int64](20), 1)
			tblPipe(t, pin, tblPtr("a"), tblPtr("p1"), 2)
			tblPipe(t, nin, tblPtr("a"), tblPtr[int64](3), 3)
			tblPipe(t, pin, tblPtr("a"), tblPtr("p2"), 4)
			tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())),
				[]string{"a=p1:20@2", "a=p2:none@4"})
		})
	}
}

func TestMapTableValuesMapsNewAndOldValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dsl.Option
	}{{"getter over parent", nil}, {"materialized", []dsl.Option{dsl.As("labels")}}} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			nums := dsl.TableFrom(b, "nums", record.String(), record.Int64())
			labels := dsl.MapTableValues(nums, func(v int64) string { return "n" + strconv.FormatInt(v, 10) }, tc.opts...)
			withKey := dsl.MapTableValuesWithKey(nums, func(k string, v int64) string { return k + strconv.FormatInt(v, 10) })
			tblChangesTo(b, labels, "labels", record.String())
			tblChangesTo(b, withKey, "with-key", record.String())
			d := tblDriver(t, b)
			in := testdriver.CreateInputTopic(d, "nums", record.String(), record.Int64())
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](1), 1)
			tblPipe(t, in, tblPtr("a"), tblPtr[int64](2), 2)
			tblPipe(t, in, tblPtr("a"), nil, 3)
			tblEqual(t, "labels", tblRead(t, testdriver.CreateOutputTopic(d, "labels", record.String(), record.String())),
				[]string{"a=<none>->n1@1", "a=n1->n2@2", "a=n2-><none>@3"})
			tblEqual(t, "with-key", tblRead(t, testdriver.CreateOutputTopic(d, "with-key", record.String(), record.String())),
				[]string{"a=<none>->a1@1", "a=a1->a2@2", "a=a2-><none>@3"})
			if labels.StoreName() == "labels" {
				tblPipe(t, in, tblPtr("b"), tblPtr[int64](9), 4)
				kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[string]](d, "labels")
				if err != nil {
					t.Fatal(err)
				}
				if v, ok, _ := kv.Get("b"); !ok || v.Value != "n9" || v.Timestamp != 4 {
					t.Errorf("store b = %v %v, want n9@4", v, ok)
				}
			}
		})
	}
}

type tblPoint struct{ X, Y int }

func TestTableOperatorBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
		op    string
	}{
		{"nil filter", func(b *dsl.Builder) {
			dsl.FilterTable(dsl.TableFrom(b, "t", record.String(), record.String()), nil)
		}, dsl.ErrNilFunction, "FilterTable"},
		{"nil filterNot", func(b *dsl.Builder) {
			dsl.FilterNotTable(dsl.TableFrom(b, "t", record.String(), record.String()), nil)
		}, dsl.ErrNilFunction, "FilterNotTable"},
		{"nil mapper", func(b *dsl.Builder) {
			dsl.MapTableValues[string, string, string](dsl.TableFrom(b, "t", record.String(), record.String()), nil)
		}, dsl.ErrNilFunction, "MapTableValues"},
		{"table of a type without serde", func(b *dsl.Builder) {
			dsl.TableFrom[string, tblPoint](b, "t", record.String(), nil)
		}, dsl.ErrMissingSerde, "TableFrom"},
		{"materialized map to a type without serde", func(b *dsl.Builder) {
			tbl := dsl.TableFrom(b, "t", record.String(), record.String())
			dsl.MapTableValues(tbl, func(string) tblPoint { return tblPoint{} }, dsl.As("points"))
		}, dsl.ErrMissingSerde, "MapTableValues"},
		{"empty topic", func(b *dsl.Builder) {
			dsl.TableFrom(b, "", record.String(), record.String())
		}, dsl.ErrInvalidOperator, "TableFrom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			tc.build(b)
			err := tblBuildErr(t, b, tc.want)
			if !containsStr(err.Error(), tc.op) {
				t.Errorf("error does not name %s: %v", tc.op, err)
			}
		})
	}
}

func TestMapTableValuesToATypeWithoutSerdeNeedsNoneUnlessMaterialized(t *testing.T) {
	b := dsl.NewBuilder()
	tbl := dsl.TableFrom(b, "t", record.String(), record.String())
	pts := dsl.MapTableValues(tbl, func(s string) tblPoint { return tblPoint{X: len(s)} })
	dsl.To(dsl.ToStream(dsl.MapTableValues(pts, func(p tblPoint) string { return strconv.Itoa(p.X) })), "out")
	d := tblDriver(t, b)
	tblPipe(t, testdriver.CreateInputTopic(d, "t", record.String(), record.String()), tblPtr("a"), tblPtr("xyz"), 1)
	tblEqual(t, "out", tblRead(t, testdriver.CreateOutputTopic(d, "out", record.String(), record.String())), []string{"a=3@1"})
}
