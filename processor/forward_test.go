package processor_test

import (
	"slices"
	"testing"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// valueCollector records the values sinks write, in order, per topic.
type valueCollector struct{ values map[string][]string }

func (c *valueCollector) Send(topic string, _ int32, _, value []byte, _ record.Headers, _ int64) error {
	c.values[topic] = append(c.values[topic], string(value))
	return nil
}

func (c *valueCollector) PartitionCount(string) (int32, error) { return 1, nil }

// TestNestedForwardFromTheSameNodeKeepsEachLevelsRecord forwards from a node
// while its own Forward is still on the stack (as a cache flush caused by a
// child forwards from an upstream node): the node's first child forwards
// again through its parent's context. The inner Forward must not disturb the
// outer one, so the second child gets the inner record, then the outer
// record, unchanged.
func TestNestedForwardFromTheSameNodeKeepsEachLevelsRecord(t *testing.T) {
	var parent processor.Context[string, string]
	nested := false
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "parent", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		parent = ctx
		return ctx.Forward(r)
	}), "src")
	processor.AddProcessor(b, "first", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		if !nested {
			nested = true
			inner, err := record.New("k", "inner", r.Timestamp()+1)
			if err != nil {
				return err
			}
			if err := parent.Forward(inner); err != nil {
				return err
			}
		}
		return ctx.Forward(r)
	}), "parent")
	processor.AddProcessor(b, "second", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	}), "parent")
	processor.AddSink(b, "first-out", "first", record.String(), record.String(), "first")
	processor.AddSink(b, "second-out", "second", record.String(), record.String(), "second")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	col := &valueCollector{values: map[string][]string{}}
	g, err := topo.NewGraph(0, processor.GraphConfig{Host: host{}, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.InitProcessors(); err != nil {
		t.Fatal(err)
	}
	head, err := g.NewHead("in")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"outer", "later"} {
		if _, err := head.Decode(&record.ConsumerRecord{Topic: "in", Key: []byte("k"), Value: []byte(v), Timestamp: 5}, -1); err != nil {
			t.Fatal(err)
		}
		if err := head.Forward(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := col.values["first"], []string{"inner", "outer", "later"}; !slices.Equal(got, want) {
		t.Errorf("first child's sink wrote %q, want %q", got, want)
	}
	if got, want := col.values["second"], []string{"inner", "outer", "later"}; !slices.Equal(got, want) {
		t.Errorf("second child's sink wrote %q, want %q", got, want)
	}
}
