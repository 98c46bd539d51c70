package processor_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// repartitioned declares in -> rekey -> [internal "by-key"] -> count -> out.
func repartitioned(b *processor.Builder) {
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "rekey", processor.Func(func(ctx processor.Context[string, string], r record.Record[string, string]) error {
		return ctx.Forward(r.WithKey(r.Value()))
	}), "src")
	processor.AddSink(b, "to-by-key", "by-key", record.String(), record.String(), "rekey")
	b.AddInternalTopic(processor.InternalTopic{Name: "by-key", Purge: true, Config: map[string]string{"cleanup.policy": "delete"}})
	processor.AddSource(b, "from-by-key", record.String(), record.String(), "by-key")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "from-by-key")
}

func TestForApplicationNamesInternalTopicsAfterTheApplication(t *testing.T) {
	b := processor.NewBuilder()
	repartitioned(b)
	declared, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	run := declared.ForApplication("app")
	if got := run.SourceTopics(); !slices.Equal(got, []string{"in", "app-by-key"}) {
		t.Errorf("source topics as run = %v", got)
	}
	subs := run.Subtopologies()
	if len(subs) != 2 || !slices.Equal(subs[0].SinkTopics, []string{"app-by-key"}) || !slices.Equal(subs[1].SourceTopics, []string{"app-by-key"}) {
		t.Errorf("the internal topic must split the sub-topologies and carry the application id: %+v", subs)
	}
	if id, ok := run.SubtopologyOf("app-by-key"); !ok || id != 1 {
		t.Errorf("SubtopologyOf(app-by-key) = %d, %v", id, ok)
	}
	its := run.InternalTopics()
	if len(its) != 1 || its[0].Name != "app-by-key" || its[0].Declared != "by-key" || !its[0].Purge || its[0].Config["cleanup.policy"] != "delete" {
		t.Errorf("InternalTopics() = %+v", its)
	}
	// The declared topology is untouched, the same id gives the same
	// topology, another id starts from the declared names.
	if got := declared.SourceTopics(); !slices.Equal(got, []string{"in", "by-key"}) {
		t.Errorf("declared topology changed: %v", got)
	}
	if run.ForApplication("app") != run {
		t.Error("ForApplication with the same id made a new topology")
	}
	if got := run.ForApplication("other").SourceTopics(); !slices.Equal(got, []string{"in", "other-by-key"}) {
		t.Errorf("renamed for another application: %v", got)
	}
	if !strings.Contains(run.Describe().String(), "Sink: to-by-key (topic: app-by-key)") ||
		!strings.Contains(declared.Describe().String(), "Sink: to-by-key (topic: <application-id>-by-key)") {
		t.Errorf("Describe does not name the internal topic as run:\n%s\n%s", run.Describe(), declared.Describe())
	}
}

func TestSinkWritesTheInternalTopicAsNamedForTheApplication(t *testing.T) {
	b := processor.NewBuilder()
	repartitioned(b)
	declared, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	topo := declared.ForApplication("app")
	col := &recordingCollector{}
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
	if _, err := head.Decode(&record.ConsumerRecord{Topic: "in", Key: []byte("k"), Value: []byte("v"), Timestamp: 5}, -1); err != nil {
		t.Fatal(err)
	}
	if err := head.Forward(); err != nil {
		t.Fatal(err)
	}
	if len(col.topics) != 1 || col.topics[0] != "app-by-key" {
		t.Fatalf("sink wrote to %v, want [app-by-key]", col.topics)
	}
	if _, err := topo.NewGraph(1, processor.GraphConfig{Host: host{}, Collector: col}); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRejectsInternalTopicsDeclaredWrongly(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "out", "written-only", record.String(), record.String(), "src")
	b.AddInternalTopic(processor.InternalTopic{Name: "written-only"})
	b.AddInternalTopic(processor.InternalTopic{Name: "orphan", Partitions: -1})
	b.AddInternalTopic(processor.InternalTopic{Name: "written-only"})
	b.AddInternalTopic(processor.InternalTopic{})
	_, err := b.Build()
	var be *processor.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build() = %v, want a BuildError", err)
	}
	msg := err.Error()
	for _, want := range []string{`no source reads "written-only"`, `no source reads "orphan"`, `no sink writes "orphan"`,
		`"orphan" has -1 partitions`, `"written-only" declared twice`, "empty name"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Build error lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, processor.ErrInternalTopic) {
		t.Error("problems do not wrap ErrInternalTopic")
	}
}

type recordingCollector struct{ topics []string }

func (c *recordingCollector) Send(topic string, _ int32, _, _ []byte, _ record.Headers, _ int64) error {
	c.topics = append(c.topics, topic)
	return nil
}

func (c *recordingCollector) PartitionCount(string) (int32, error) { return 1, nil }
