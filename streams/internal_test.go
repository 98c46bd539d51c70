package streams

import (
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// pass forwards every record unchanged.
func pass() processor.Supplier[string, string, string, string] {
	return processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r)
	})
}

// repartition adds source(from) -> processor -> sink(to).
func repartition(b *processor.Builder, name, from, to string) {
	processor.AddSource(b, name+"-src", record.String(), record.String(), from)
	processor.AddProcessor(b, name, pass(), name+"-src")
	processor.AddSink(b, name+"-sink", to, record.String(), record.String(), name)
}

// joined adds one sub-topology reading every topic (a processor with one
// source per topic as parents) and writing out.
func joined(b *processor.Builder, name, out string, topics ...string) {
	var parents []string
	for _, t := range topics {
		processor.AddSource(b, name+"-"+t, record.String(), record.String(), t)
		parents = append(parents, name+"-"+t)
	}
	processor.AddProcessor(b, name, pass(), parents...)
	processor.AddSink(b, name+"-sink", out, record.String(), record.String(), name)
}

func derive(t *testing.T, b *processor.Builder, external map[string]int32) (map[string]int32, error) {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	topo = topo.ForApplication("app")
	return deriveInternal(topo, func(topic string) (int32, bool) { n, ok := external[topic]; return n, ok })
}

func TestInternalTopicTakesTheLargestPartitionCountOfItsWritersInputs(t *testing.T) {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "rep"})
	joined(b, "w", "rep", "in", "in2") // in and in2 differ: the co-partitioning check reports it; the writer's max is 4
	repartition(b, "r", "rep", "out")
	got, err := derive(t, b, map[string]int32{"in": 4, "in2": 2})
	if err != nil {
		t.Fatal(err)
	}
	if got["app-rep"] != 4 {
		t.Fatalf("app-rep has %d partitions, want 4 (all: %v)", got["app-rep"], got)
	}
}

func TestInternalTopicsChainedResolveInDependencyOrder(t *testing.T) {
	b := processor.NewBuilder()
	// Declared downstream first, so one pass in declaration order cannot
	// resolve it.
	b.AddInternalTopic(processor.InternalTopic{Name: "rep2"})
	b.AddInternalTopic(processor.InternalTopic{Name: "rep1"})
	repartition(b, "c", "rep2", "out")
	repartition(b, "b", "rep1", "rep2")
	repartition(b, "a", "in", "rep1")
	got, err := derive(t, b, map[string]int32{"in": 6})
	if err != nil {
		t.Fatal(err)
	}
	if got["app-rep1"] != 6 || got["app-rep2"] != 6 {
		t.Fatalf("got %v, want app-rep1=6 app-rep2=6", got)
	}
}

func TestInternalTopicReadWithATableTopicTakesTheTablesPartitionCount(t *testing.T) {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "rep"})
	repartition(b, "a", "in", "rep")
	joined(b, "j", "out", "rep", "tbl")
	got, err := derive(t, b, map[string]int32{"in": 4, "tbl": 3})
	if err != nil {
		t.Fatal(err)
	}
	if got["app-rep"] != 3 {
		t.Fatalf("app-rep has %d partitions, want 3 (co-partitioned with tbl)", got["app-rep"])
	}
}

func TestInternalTopicsReadTogetherTakeTheLargestOfTheirDerivedCounts(t *testing.T) {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "left"})
	b.AddInternalTopic(processor.InternalTopic{Name: "right"})
	repartition(b, "l", "in", "left")
	repartition(b, "r", "in2", "right")
	joined(b, "j", "out", "left", "right")
	got, err := derive(t, b, map[string]int32{"in": 2, "in2": 5})
	if err != nil {
		t.Fatal(err)
	}
	if got["app-left"] != 5 || got["app-right"] != 5 {
		t.Fatalf("got %v, want both 5", got)
	}
}

func TestInternalTopicWithAFixedCountKeepsItAndSetsItsCoPartitionedPeers(t *testing.T) {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "left", Partitions: 7})
	b.AddInternalTopic(processor.InternalTopic{Name: "right"})
	repartition(b, "l", "in", "left")
	repartition(b, "r", "in2", "right")
	joined(b, "j", "out", "left", "right")
	got, err := derive(t, b, map[string]int32{"in": 2, "in2": 2})
	if err != nil {
		t.Fatal(err)
	}
	if got["app-left"] != 7 || got["app-right"] != 7 {
		t.Fatalf("got %v, want both 7", got)
	}
}

func TestInternalTopicsInACycleWithoutAFixedCountAreAnErrorNamingThem(t *testing.T) {
	b := processor.NewBuilder()
	b.AddInternalTopic(processor.InternalTopic{Name: "ping"})
	b.AddInternalTopic(processor.InternalTopic{Name: "pong"})
	repartition(b, "a", "ping", "pong")
	repartition(b, "b", "pong", "ping")
	repartition(b, "c", "in", "out")
	_, err := derive(t, b, map[string]int32{"in": 2})
	if !errors.Is(err, ErrInternalTopicPartitions) || !strings.Contains(err.Error(), "app-ping") || !strings.Contains(err.Error(), "app-pong") {
		t.Fatalf("err = %v, want ErrInternalTopicPartitions naming app-ping and app-pong", err)
	}
	// A fixed count on one of them breaks the cycle.
	b2 := processor.NewBuilder()
	b2.AddInternalTopic(processor.InternalTopic{Name: "ping", Partitions: 3})
	b2.AddInternalTopic(processor.InternalTopic{Name: "pong"})
	repartition(b2, "a", "ping", "pong")
	repartition(b2, "b", "pong", "ping")
	got, err := derive(t, b2, nil)
	if err != nil || got["app-pong"] != 3 {
		t.Fatalf("got %v, %v; want app-pong=3", got, err)
	}
}
