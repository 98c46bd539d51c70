package dsl_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// buildFails builds b and checks the error wraps want and mentions says.
func buildFails(t *testing.T, b *dsl.Builder, want error, says string) *processor.BuildError {
	t.Helper()
	topo, err := b.Build()
	if err == nil {
		t.Fatalf("Build succeeded: %v", topo.Describe())
	}
	if !errors.Is(err, want) {
		t.Fatalf("Build: %v\nwant %v", err, want)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("Build: %v\ndoes not say %s", err, says)
	}
	var be *processor.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build: %T, want *processor.BuildError", err)
	}
	return be
}

func TestMissingSerdesAreReportedByTheOperatorThatNeedsThem(t *testing.T) {
	points := func(b *dsl.Builder) dsl.Stream[string, point] {
		return dsl.MapValues(strStream(b, "in"), func(v string) point { return point{} })
	}
	cases := map[string]struct {
		build func(b *dsl.Builder)
		says  string
	}{
		"To": {func(b *dsl.Builder) { dsl.To(points(b), "out") },
			`To "out" needs a serde for its values (dsl_test.point)`},
		"ToFunc": {func(b *dsl.Builder) { dsl.ToFunc(points(b), func(string, point) string { return "out" }) },
			"ToFunc needs a serde for its values (dsl_test.point)"},
		"Repartition": {func(b *dsl.Builder) { dsl.Repartition(points(b), dsl.Named("r")) },
			"Repartition (repartition) needs a serde for its values (dsl_test.point)"},
		"Count after a key change": {func(b *dsl.Builder) {
			dsl.Count(dsl.GroupBy(points(b), func(k string, p point) string { return k }))
		}, "Count (repartition) needs a serde for its values (dsl_test.point)"},
		"Count keyed by a struct": {func(b *dsl.Builder) {
			dsl.Count(dsl.GroupBy(strStream(b, "in"), func(k, v string) point { return point{} }), dsl.As("c"))
		}, "Count (repartition) needs a serde for its keys (dsl_test.point)"},
		"Aggregate": {func(b *dsl.Builder) {
			dsl.Aggregate(dsl.GroupByKey(strStream(b, "in")), func() point { return point{} },
				func(k, v string, p point) point { return p }, dsl.As("a"))
		}, `Aggregate "a" (store) needs a serde for its aggregates (dsl_test.point)`},
		"Reduce": {func(b *dsl.Builder) {
			dsl.Reduce(dsl.GroupByKey(points(b)), func(a, v point) point { return a }, dsl.As("r"))
		}, `Reduce "r" (store) needs a serde for its aggregates (dsl_test.point)`},
		"FromTopics": {func(b *dsl.Builder) {
			dsl.To(dsl.FromTopics[string, point](b, []string{"in"}, record.String(), nil, dsl.Named("src")), "out",
				dsl.ValueSerde(record.JSON[point]()))
		}, `source "src" needs a serde for its values (dsl_test.point)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b)
			buildFails(t, b, dsl.ErrMissingSerde, c.says)
		})
	}
}

func TestARegisteredSerdeServesEveryOperator(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.RegisterSerde(b, record.JSON[point]())
	p := dsl.MapValues(strStream(b, "in"), func(v string) point { return point{X: len(v)} })
	dsl.To(p, "out")
	dsl.Reduce(dsl.GroupBy(p, func(k string, v point) point { return v }), func(a, v point) point { return a })
	mustBuild(t, b)
}

func TestSerdeOptionsOfTheWrongTypeAreReported(t *testing.T) {
	cases := map[string]struct {
		build func(b *dsl.Builder)
		says  string
	}{
		"To key": {func(b *dsl.Builder) { dsl.To(strStream(b, "in"), "out", dsl.KeySerde(record.Int64())) },
			`To "out": the keys serde is a`},
		"To value": {func(b *dsl.Builder) { dsl.To(strStream(b, "in"), "out", dsl.ValueSerde(record.Int32())) },
			`To "out": the values serde is a`},
		"Filter value": {func(b *dsl.Builder) {
			dsl.To(dsl.Filter(strStream(b, "in"), func(k, v string) bool { return true }, dsl.ValueSerde(record.Int64())), "out")
		}, "Filter: the values serde is a"},
		"Process key": {func(b *dsl.Builder) {
			dsl.To(dsl.Process(strStream(b, "in"), processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
				return nil
			}), dsl.KeySerde(record.Float64())), "out")
		}, "Process: the keys serde is a"},
		"Repartition key": {func(b *dsl.Builder) { dsl.Repartition(strStream(b, "in"), dsl.KeySerde(record.Int64())) },
			"Repartition (repartition): the keys serde is a"},
		"Aggregate value": {func(b *dsl.Builder) {
			dsl.Aggregate(dsl.GroupByKey(strStream(b, "in")), func() int64 { return 0 },
				func(k, v string, a int64) int64 { return a }, dsl.ValueSerde(record.String()))
		}, "the aggregates serde is a"},
		"partitioner": {func(b *dsl.Builder) {
			dsl.To(strStream(b, "in"), "out", dsl.WithPartitioner(func(string, record.Record[int64, string], int32) (int32, bool) { return 0, true }))
		}, `To "out": the partitioner is a`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b)
			buildFails(t, b, dsl.ErrSerdeType, c.says)
		})
	}
}

func TestNilFunctionsAreReportedByOperator(t *testing.T) {
	type S = dsl.Stream[string, string]
	cases := map[string]func(s S){
		"Filter":           func(s S) { dsl.Filter(s, nil) },
		"FilterNot":        func(s S) { dsl.FilterNot(s, nil) },
		"MapValues":        func(s S) { dsl.MapValues[string, string, string](s, nil) },
		"MapValuesWithKey": func(s S) { dsl.MapValuesWithKey[string, string, string](s, nil) },
		"Map":              func(s S) { dsl.Map[string, string, string, string](s, nil) },
		"SelectKey":        func(s S) { dsl.SelectKey[string, string, string](s, nil) },
		"FlatMap":          func(s S) { dsl.FlatMap[string, string, string, string](s, nil) },
		"FlatMapValues":    func(s S) { dsl.FlatMapValues[string, string, string](s, nil) },
		"Peek":             func(s S) { dsl.Peek(s, nil) },
		"Foreach":          func(s S) { dsl.Foreach(s, nil) },
		"ToFunc":           func(s S) { dsl.ToFunc(s, nil) },
		"Process":          func(s S) { dsl.Process[string, string, string, string](s, nil) },
		"ProcessValues":    func(s S) { dsl.ProcessValues[string, string, string](s, nil) },
		"GroupBy":          func(s S) { dsl.Count(dsl.GroupBy[string, string, string](s, nil)) },
		"Reduce":           func(s S) { dsl.Reduce(dsl.GroupByKey(s), nil) },
		"Aggregate":        func(s S) { dsl.Aggregate[string, string, int64](dsl.GroupByKey(s), nil, nil) },
	}
	for op, declare := range cases {
		t.Run(op, func(t *testing.T) {
			b := dsl.NewBuilder()
			s := strStream(b, "in")
			dsl.Foreach(s, func(k, v string) {}) // the source has a child either way
			declare(s)
			be := buildFails(t, b, dsl.ErrNilFunction, "dsl: nil function: "+op)
			if len(be.Problems) != 1 {
				t.Errorf("%d problems, want 1: %v", len(be.Problems), be)
			}
		})
	}
}

func TestDuplicateNodeNamesAreReported(t *testing.T) {
	b := dsl.NewBuilder()
	s := strStream(b, "in")
	dsl.To(dsl.Filter(s, func(k, v string) bool { return true }, dsl.Named("x")), "out")
	dsl.To(dsl.MapValues(s, strings.ToUpper, dsl.Named("x")), "out2")
	buildFails(t, b, processor.ErrDuplicateName, `"x"`)
}

func TestDuplicateStoreNamesAreReported(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.Count(dsl.GroupByKey(strStream(b, "in")), dsl.As("c"))
	dsl.Count(dsl.GroupByKey(strStream(b, "in2")), dsl.As("c"))
	buildFails(t, b, processor.ErrDuplicateStore, `"c"`)
}

func TestMergeOfHandlesFromDifferentBuildersIsReported(t *testing.T) {
	b, other := dsl.NewBuilder(), dsl.NewBuilder()
	dsl.To(dsl.Merge(strStream(b, "in"), strStream(other, "in2")), "out")
	buildFails(t, b, dsl.ErrInvalidOperator, "Merge: the handles come from different builders")
}

func TestMergeWithTheZeroStreamIsReported(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.Merge(strStream(b, "in"), dsl.Stream[string, string]{}), "out")
	buildFails(t, b, dsl.ErrInvalidOperator, "Merge")
}

func TestToAnEmptyTopicIsReported(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(strStream(b, "in"), "")
	buildFails(t, b, dsl.ErrInvalidOperator, "To: empty topic")
}

func TestOperatorsOnTheZeroStreamDeclareNothing(t *testing.T) {
	var s dsl.Stream[string, string]
	out := dsl.MapValues(dsl.Filter(s, func(k, v string) bool { return true }), strings.ToUpper)
	dsl.To(out, "out")
	dsl.Count(dsl.GroupByKey(out))
	dsl.Count(dsl.GroupBy(out, func(k, v string) string { return v }))
	if out.NodeName() != "" {
		t.Errorf("zero stream got node %q", out.NodeName())
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	b := dsl.NewBuilder()
	s := strStream(b, "in")
	dsl.To(dsl.MapValues(s, func(v string) point { return point{} }), "out") // missing serde
	dsl.To(s, "out2", dsl.KeySerde(record.Int64()))                          // wrong serde type
	dsl.Filter(s, nil)                                                       // nil function
	dsl.Split(s, "s-")                                                       // no branches
	dsl.To(dsl.Peek(s, func(k, v string) {}, dsl.Named("dup")), "out3")      // duplicate node
	dsl.To(dsl.Peek(s, func(k, v string) {}, dsl.Named("dup")), "out4")      //
	dsl.To(dsl.Merge(s, strStream(dsl.NewBuilder(), "elsewhere")), "out5")   // other builder
	_, err := b.Build()
	for _, want := range []error{dsl.ErrMissingSerde, dsl.ErrSerdeType, dsl.ErrNilFunction, dsl.ErrInvalidOperator,
		processor.ErrDuplicateName} {
		if !errors.Is(err, want) {
			t.Errorf("Build: %v\ndoes not report %v", err, want)
		}
	}
	var be *processor.BuildError
	if !errors.As(err, &be) || len(be.Problems) < 6 {
		t.Fatalf("Build: %v, want at least 6 problems", err)
	}
	if _, err := b.Describe(); err == nil {
		t.Error("Describe of a broken topology succeeded")
	}
}

func TestANilBuilderFailsToBuild(t *testing.T) {
	var b *dsl.Builder
	_ = dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	if _, err := b.Build(); !errors.Is(err, processor.ErrEmptyTopology) {
		t.Errorf("Build: %v", err)
	}
}

// typeInference is never run: it compiles only if the operators infer
// their type arguments from their arguments.
func typeInference(b *dsl.Builder) {
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.Int64())
	var counts dsl.Table[string, int64] = dsl.Count(dsl.GroupByKey(s))
	var strs dsl.Stream[string, string] = dsl.MapValues(s, func(n int64) string { return strconv.FormatInt(n, 10) })
	var ints dsl.Stream[string, int] = dsl.MapValues(dsl.MapValues(strs, strings.TrimSpace), func(v string) int { return len(v) })
	var itoa dsl.Stream[string, string] = dsl.MapValues(ints, strconv.Itoa)
	var fields dsl.Stream[string, string] = dsl.FlatMapValues(itoa, strings.Fields)
	var rekeyed dsl.Stream[int, string] = dsl.SelectKey(fields, func(k, v string) int { return len(k) })
	var mapped dsl.Stream[string, int] = dsl.Map(rekeyed, func(k int, v string) (string, int) { return v, k })
	var pairs dsl.Stream[int64, bool] = dsl.FlatMap(mapped, func(k string, v int) []dsl.KeyValue[int64, bool] {
		return []dsl.KeyValue[int64, bool]{dsl.Pair(int64(v), k == "")}
	})
	var byBool dsl.GroupedStream[bool, bool] = dsl.GroupBy(pairs, func(k int64, v bool) bool { return v })
	var anyTrue dsl.Table[bool, bool] = dsl.Reduce(byBool, func(a, v bool) bool { return a || v })
	var sums dsl.Table[string, int] = dsl.Aggregate(dsl.GroupByKey(mapped), func() int { return 0 },
		func(k string, v, agg int) int { return agg + v })
	dsl.To(dsl.Filter(dsl.ToStream(counts), func(k string, n int64) bool { return n > 1 }), "out")
	dsl.To(dsl.Merge(strs, itoa, fields), "merged")
	for _, br := range dsl.Split(strs, "s-", dsl.When("a", func(k, v string) bool { return true })) {
		dsl.Foreach(br, func(k, v string) {})
	}
	_, _ = anyTrue, sums
}

var _ = typeInference

func TestANegativeRepartitionPartitionCountIsReported(t *testing.T) {
	b := dsl.NewBuilder()
	dsl.To(dsl.Repartition(strStream(b, "in"), dsl.Named("neg"), dsl.Partitions(-2)), "out")
	buildFails(t, b, processor.ErrInternalTopic, `"neg-repartition" has -2 partitions`)
}

func TestMergeOfAStreamWithItselfIsReported(t *testing.T) {
	b := dsl.NewBuilder()
	s := strStream(b, "in")
	dsl.To(dsl.Merge(s, s), "out")
	buildFails(t, b, processor.ErrInvalidNode, "twice")
}

// A zero handle (from an operator that failed, or never assigned) passed
// next to a real one is reported as such, not as a handle of another
// builder.
func TestZeroHandleIsReportedAsZero(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	dsl.Merge(s, dsl.Stream[string, string]{})
	dsl.JoinTable(s, dsl.Table[string, string]{}, func(v, tv string) string { return v })
	err := tblBuildErr(t, b, dsl.ErrInvalidOperator)
	if strings.Contains(err.Error(), "different builders") || strings.Count(err.Error(), "zero handle") != 2 {
		t.Errorf("Build error does not name the zero handles:\n%v", err)
	}
}
