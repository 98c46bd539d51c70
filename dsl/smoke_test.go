package dsl_test

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func TestWordCountCountsAcrossARepartition(t *testing.T) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{"lines"}, record.String(), record.String())
	words := dsl.FlatMapValues(lines, func(l string) []string { return strings.Fields(l) })
	counts := dsl.Count(dsl.GroupBy(words, func(_, w string) string { return w }), dsl.As("counts"))
	dsl.To(dsl.ToStream(counts), "counts-out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	desc, _ := b.Describe()
	t.Log(desc)
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "wc"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, "lines", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "counts-out", record.String(), record.Int64())
	for _, l := range []string{"a b a", "b a"} {
		if err := in.Pipe("", l, 1); err != nil {
			t.Fatal(err)
		}
	}
	m, err := testdriver.ReadKeyValuesToMap(out)
	if err != nil {
		t.Fatal(err)
	}
	if m["a"] != 3 || m["b"] != 2 {
		t.Fatalf("counts %v", m)
	}
}
