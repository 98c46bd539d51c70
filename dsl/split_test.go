package dsl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func splitByPrefix(b *dsl.Builder, prefix string, withDefault bool) map[string]dsl.Stream[string, string] {
	branches := []dsl.Branch[string, string]{
		dsl.When("a", func(k, v string) bool { return strings.HasPrefix(v, "a") }),
		// also accepts "ab...": the first match wins, so those go to "a"
		dsl.When("ab", func(k, v string) bool { return strings.Contains(v, "b") }),
	}
	if withDefault {
		branches = append(branches, dsl.Otherwise[string, string]("rest"))
	}
	return dsl.Split(strStream(b, "in"), prefix, branches...)
}

func TestSplitSendsEachRecordToTheFirstMatchingBranchOnly(t *testing.T) {
	b := dsl.NewBuilder()
	br := splitByPrefix(b, "s-", true)
	if len(br) != 3 {
		t.Fatalf("Split returned %d branches, want 3", len(br))
	}
	for name, s := range br {
		dsl.To(s, "out-"+name)
	}
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "1", "abc", 1, hdr...)
	pipe(t, in, "2", "xbx", 2)
	pipe(t, in, "3", "zzz", 3)
	pipe(t, in, "4", "a", 4)
	same(t, "a", readStrings(t, d, "out-a"), []rec[string, string]{{Key: "1", Value: "abc", TS: 1, Headers: hdr}, kv("4", "a", 4)})
	same(t, "ab", readStrings(t, d, "out-ab"), []rec[string, string]{kv("2", "xbx", 2)})
	same(t, "rest", readStrings(t, d, "out-rest"), []rec[string, string]{kv("3", "zzz", 3)})
}

func TestSplitWithoutADefaultDropsWhatNoBranchTakes(t *testing.T) {
	b := dsl.NewBuilder()
	br := splitByPrefix(b, "s-", false)
	for name, s := range br {
		dsl.To(s, "out-"+name)
	}
	var all []string
	dsl.Foreach(dsl.Merge(br["a"], br["ab"]), func(k, v string) { all = append(all, k) })
	d := newDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	pipe(t, in, "1", "abc", 1)
	pipe(t, in, "2", "zzz", 2)
	pipe(t, in, "3", "b", 3)
	same(t, "a", readStrings(t, d, "out-a"), []rec[string, string]{kv("1", "abc", 1)})
	same(t, "ab", readStrings(t, d, "out-ab"), []rec[string, string]{kv("3", "b", 3)})
	same(t, "merged branches", all, []string{"1", "3"})
	if st, _ := d.Stats(0); st.DroppedBy(dsl.DropNoBranch) != 1 {
		t.Errorf("records no branch took: counted %d, want 1", st.DroppedBy(dsl.DropNoBranch))
	}
}

func TestSplitNamesBranchNodesAfterThePrefix(t *testing.T) {
	b := dsl.NewBuilder()
	br := splitByPrefix(b, "s-", true)
	for name, want := range map[string]string{"a": "s-a", "ab": "s-ab", "rest": "s-rest"} {
		if got := br[name].NodeName(); got != want {
			t.Errorf("branch %s node %q, want %q", name, got, want)
		}
		dsl.To(br[name], "out-"+name)
	}
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "Processor: s- (stores: [])\n      --> s-a, s-ab, s-rest") {
		t.Errorf("no split node s- feeding its branches in\n%s", desc)
	}
}

func TestSplitWithoutAPrefixGeneratesTheSplitNodesName(t *testing.T) {
	b := dsl.NewBuilder()
	br := splitByPrefix(b, "", true)
	for _, name := range []string{"a", "ab", "rest"} {
		n := br[name].NodeName()
		if !strings.HasPrefix(n, "KSTREAM-BRANCH-") || !strings.HasSuffix(n, "-"+name) {
			t.Errorf("branch %s node %q, want KSTREAM-BRANCH-<n>-%s", name, n, name)
		}
	}
	mustBuild(t, b)
}

func TestSplitBranchesKeepKeyChangedForTheNextGrouping(t *testing.T) {
	b := dsl.NewBuilder()
	rekeyed := dsl.SelectKey(strStream(b, "in"), func(k, v string) string { return v })
	br := dsl.Split(rekeyed, "s-", dsl.When("x", func(k, v string) bool { return v != "" }))
	dsl.To(dsl.ToStream(dsl.Count(dsl.GroupByKey(br["x"]), dsl.As("c"))), "out")
	topo := mustBuild(t, b)
	if n := len(topo.Subtopologies()); n != 2 {
		t.Errorf("a grouping of a branch of a re-keyed stream did not repartition: %d sub-topologies", n)
	}
}

func TestSplitProblems(t *testing.T) {
	pred := func(k, v string) bool { return true }
	cases := []struct {
		name     string
		branches []dsl.Branch[string, string]
		want     error
		says     string
	}{
		{"no branches", nil, dsl.ErrInvalidOperator, `Split "s-" has no branches`},
		{"default not last", []dsl.Branch[string, string]{dsl.Otherwise[string, string]("rest"), dsl.When("a", pred)},
			dsl.ErrInvalidOperator, `the default branch "rest" must be last`},
		{"unnamed branch", []dsl.Branch[string, string]{dsl.When("", pred)}, dsl.ErrInvalidOperator, "branch 0 has no name"},
		{"branch twice", []dsl.Branch[string, string]{dsl.When("a", pred), dsl.When("a", pred)}, dsl.ErrInvalidOperator, `branch "a" twice`},
		{"nil predicate last", []dsl.Branch[string, string]{dsl.When("a", pred), dsl.When[string, string]("b", nil)},
			dsl.ErrNilFunction, `Split "s-": branch "b"`},
		{"nil predicate first", []dsl.Branch[string, string]{dsl.When[string, string]("a", nil), dsl.When("b", pred)},
			dsl.ErrNilFunction, `Split "s-": branch "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			for _, s := range dsl.Split(strStream(b, "in"), "s-", c.branches...) {
				dsl.To(s, "out")
			}
			_, err := b.Build()
			if !errors.Is(err, c.want) {
				t.Fatalf("Build: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("Build: %v, does not say %s", err, c.says)
			}
		})
	}
}
