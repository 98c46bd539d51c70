package processor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

type pass[K, V any] struct{ ctx processor.Context[K, V] }

func (p *pass[K, V]) Init(ctx processor.Context[K, V]) error { p.ctx = ctx; return nil }
func (p *pass[K, V]) Process(r record.Record[K, V]) error    { return p.ctx.Forward(r) }
func (p *pass[K, V]) Close() error                           { return nil }

func passSupplier[K, V any]() processor.Supplier[K, V, K, V] {
	return func() processor.Processor[K, V, K, V] { return &pass[K, V]{} }
}

// lengths turns string values into their int64 length.
func lengths() processor.Supplier[string, string, string, int64] {
	return processor.Func(func(ctx processor.Context[string, int64], r record.Record[string, string]) error {
		return ctx.Forward(record.WithValue(r, int64(len(r.Value()))))
	})
}

func kvStore(name string) store.Builder {
	return store.NewKeyValueBuilder(store.InMemoryKeyValue(name), record.String(), record.Int64())
}

func buildErr(t *testing.T, b *processor.Builder) *processor.BuildError {
	t.Helper()
	topo, err := b.Build()
	if err == nil {
		t.Fatalf("Build succeeded, want an error; topology:\n%s", topo.Describe())
	}
	var be *processor.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build error is %T, want *BuildError: %v", err, err)
	}
	return be
}

func wantProblem(t *testing.T, be *processor.BuildError, sentinel error, fragments ...string) {
	t.Helper()
	for _, p := range be.Problems {
		if !errors.Is(p, sentinel) {
			continue
		}
		ok := true
		for _, f := range fragments {
			if !strings.Contains(p.Error(), f) {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem wrapping %v containing %q in:\n%v", sentinel, fragments, be)
}

func TestBuildRejectsUnknownParent(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "nope")
	wantProblem(t, buildErr(t, b), processor.ErrUnknownParent, `"p"`, `"nope"`)
}

func TestBuildRejectsSelfParent(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "src", "p")
	wantProblem(t, buildErr(t, b), processor.ErrSelfParent, `"p"`)
}

func TestBuildRejectsSinkUsedAsParent(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "sink", "out", record.String(), record.String(), "src")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "sink")
	wantProblem(t, buildErr(t, b), processor.ErrSinkAsParent, `"p"`, `"sink"`)
}

func TestBuildRejectsDuplicateName(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "x", record.String(), record.String(), "in")
	processor.AddProcessor(b, "x", passSupplier[string, string](), "x")
	wantProblem(t, buildErr(t, b), processor.ErrDuplicateName, `"x"`)
}

func TestBuildRejectsCycle(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "a", passSupplier[string, string](), "src", "c")
	processor.AddProcessor(b, "b", passSupplier[string, string](), "a")
	processor.AddProcessor(b, "c", passSupplier[string, string](), "b")
	wantProblem(t, buildErr(t, b), processor.ErrCycle, `"a" -> "b" -> "c" -> "a"`)
}

func TestBuildRejectsTopicReadByTwoSources(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "s1", record.String(), record.String(), "in")
	processor.AddSource(b, "s2", record.String(), record.String(), "other", "in")
	wantProblem(t, buildErr(t, b), processor.ErrDuplicateTopic, `"in"`, `"s1"`, `"s2"`)
}

func TestBuildRejectsStoreNotRegistered(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "src").WithStores("missing")
	wantProblem(t, buildErr(t, b), processor.ErrUnknownStore, `"p"`, `"missing"`)
}

func TestBuildRejectsStoreNotConnected(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "src")
	b.AddStore(kvStore("lonely"))
	wantProblem(t, buildErr(t, b), processor.ErrUnconnectedStore, `"lonely"`)
}

func TestBuildRejectsTypeMismatchNamingBothNodesAndTypes(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddProcessor(b, "len", lengths(), "src")
	// "len" forwards (string, int64); "upper" takes (string, string).
	processor.AddProcessor(b, "upper", passSupplier[string, string](), "len")
	wantProblem(t, buildErr(t, b), processor.ErrTypeMismatch, `"len"`, `"upper"`, "(string, int64)", "(string, string)")
}

func TestBuildRejectsSinkOfWrongType(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "sink", "out", record.String(), record.Int64(), "src")
	wantProblem(t, buildErr(t, b), processor.ErrTypeMismatch, `"src"`, `"sink"`, "(string, string)", "(string, int64)")
}

func TestBuildReportsEveryProblemAtOnce(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "s1", record.String(), record.String(), "in")
	processor.AddSource(b, "s2", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "ghost").WithStores("nostore")
	processor.AddProcessor(b, "len", lengths(), "s1")
	processor.AddProcessor(b, "q", passSupplier[string, string](), "len", "q")
	processor.AddSink(b, "sink", "out", record.String(), record.String(), "s1")
	processor.AddProcessor(b, "after-sink", passSupplier[string, string](), "sink")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "s1")
	b.AddStore(kvStore("unused"))
	be := buildErr(t, b)
	for _, s := range []error{processor.ErrDuplicateTopic, processor.ErrUnknownParent, processor.ErrUnknownStore,
		processor.ErrTypeMismatch, processor.ErrSelfParent, processor.ErrSinkAsParent, processor.ErrDuplicateName,
		processor.ErrUnconnectedStore} {
		wantProblem(t, be, s)
		if !errors.Is(be, s) {
			t.Errorf("errors.Is(BuildError, %v) = false", s)
		}
	}
	if got := len(be.Problems); got != 8 {
		t.Errorf("got %d problems, want 8:\n%v", got, be)
	}
}

func TestBuildRejectsInvalidDeclarations(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource[string, string](b, "nosers", nil, nil, "a")
	processor.AddSource(b, "notopics", record.String(), record.String())
	processor.AddProcessor[string, string, string, string](b, "nilsup", nil, "nosers")
	processor.AddSink(b, "notopic", "", record.String(), record.String(), "nosers")
	processor.AddProcessor(b, "orphan", passSupplier[string, string]())
	be := buildErr(t, b)
	wantProblem(t, be, processor.ErrInvalidNode, `"nosers"`, "nil deserializer")
	wantProblem(t, be, processor.ErrInvalidNode, `"notopics"`, "no topics")
	wantProblem(t, be, processor.ErrInvalidNode, `"nilsup"`, "nil supplier")
	wantProblem(t, be, processor.ErrInvalidNode, `"notopic"`, "empty topic")
	wantProblem(t, be, processor.ErrNoParent, `"orphan"`)
}

func TestBuildRejectsTopologyWithoutSources(t *testing.T) {
	wantProblem(t, buildErr(t, processor.NewBuilder()), processor.ErrEmptyTopology)
}

func TestSubtopologiesAreConnectedComponentsIncludingSharedStores(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "a-src", record.String(), record.String(), "a")
	processor.AddProcessor(b, "a-proc", passSupplier[string, string](), "a-src").WithStores("shared")
	processor.AddSource(b, "b-src", record.String(), record.String(), "b")
	processor.AddProcessor(b, "b-proc", passSupplier[string, string](), "b-src").WithStores("shared")
	processor.AddSource(b, "c-src", record.String(), record.String(), "c1", "c2")
	processor.AddSink(b, "c-sink", "c-out", record.String(), record.String(), "c-src")
	b.AddStore(kvStore("shared"))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	subs := topo.Subtopologies()
	if len(subs) != 2 {
		t.Fatalf("got %d sub-topologies, want 2: %+v", len(subs), subs)
	}
	if got := strings.Join(subs[0].SourceTopics, ","); got != "a,b" {
		t.Errorf("sub-topology 0 reads %q, want a,b (joined by the shared store)", got)
	}
	if got := strings.Join(subs[0].Stores, ","); got != "shared" {
		t.Errorf("sub-topology 0 stores %q", got)
	}
	if got := strings.Join(subs[1].SourceTopics, ","); got != "c1,c2" {
		t.Errorf("sub-topology 1 reads %q", got)
	}
	if got := strings.Join(subs[1].SinkTopics, ","); got != "c-out" {
		t.Errorf("sub-topology 1 writes %q", got)
	}
	if id, ok := topo.SubtopologyOf("c2"); !ok || id != 1 {
		t.Errorf("SubtopologyOf(c2) = %d, %v", id, ok)
	}
}

func TestDescribePrintsKafkaStreamsLayout(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "words", record.String(), record.String(), "text")
	processor.AddProcessor(b, "count", passSupplier[string, string](), "words").WithStores("counts")
	processor.AddProcessor(b, "audit", passSupplier[string, string](), "words")
	processor.AddSink(b, "out", "counted", record.String(), record.String(), "count")
	processor.AddSinkFunc(b, "routed", func(r record.Record[string, string]) string { return r.Key() },
		record.String(), record.String(), "audit")
	b.AddStore(kvStore("counts"))
	processor.AddSource(b, "other", record.String(), record.String(), "x", "y")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := `Topologies:
   Sub-topology: 0
    Source: words (topics: [text])
      --> audit, count
    Processor: audit (stores: [])
      --> routed
      <-- words
    Processor: count (stores: [counts])
      --> out
      <-- words
    Sink: out (topic: counted)
      <-- count
    Sink: routed (topic extractor: function)
      <-- audit

  Sub-topology: 1
    Source: other (topics: [x, y])
      --> none

  Stores:
    counts (key-value, sub-topology 0, changelog <application-id>-counts-changelog)
`
	if got := topo.Describe().String(); got != want {
		t.Errorf("Describe() =\n%s\nwant\n%s", got, want)
	}
}

func TestParseTaskIDRoundTrips(t *testing.T) {
	id := processor.TaskID{Subtopology: 3, Partition: 17}
	if id.String() != "3_17" {
		t.Fatalf("String() = %q", id.String())
	}
	got, err := processor.ParseTaskID("3_17")
	if err != nil || got != id {
		t.Fatalf("ParseTaskID = %v, %v", got, err)
	}
	for _, bad := range []string{"", "3", "a_1", "1_b", "-1_2", "1_-2"} {
		if _, err := processor.ParseTaskID(bad); err == nil {
			t.Errorf("ParseTaskID(%q) succeeded", bad)
		}
	}
}

func TestBuildRejectsGlobalStoreNamedLikeALocalOneInEitherOrder(t *testing.T) {
	for _, globalFirst := range []bool{false, true} {
		b := processor.NewBuilder()
		processor.AddSource(b, "src", record.String(), record.String(), "in")
		processor.AddProcessor(b, "p", passSupplier[string, string](), "src")
		addGlobal := func() {
			processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("s"), record.String(), record.Int64()),
				"global-in", record.String(), record.Int64())
		}
		if globalFirst {
			addGlobal()
			b.AddStore(kvStore("s"), "p")
		} else {
			b.AddStore(kvStore("s"), "p")
			addGlobal()
		}
		wantProblem(t, buildErr(t, b), processor.ErrDuplicateStore, `"s"`)
	}
}

func TestTopologyIsUnaffectedByBuilderChangesAfterBuild(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	p := processor.AddProcessor(b, "p", passSupplier[string, string](), "src")
	b.AddStore(kvStore("s"), "p")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	before := topo.Describe().String()
	b.AddStore(kvStore("late"), "p")
	p.WithStores("late")
	processor.AddSink(b, "late-sink", "late-out", record.String(), record.String(), "p")
	if after := topo.Describe().String(); after != before {
		t.Errorf("the built topology changed with its builder:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, ok := topo.StoreBuilder("late"); ok {
		t.Error("the built topology sees a store added after Build")
	}
}
