package processor_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

// host and collector are the least a Graph needs.
type host struct{}

func (host) StreamTime() int64    { return record.UnknownTime }
func (host) WallClockTime() int64 { return 0 }
func (host) Schedule(any, time.Duration, punctuate.Type, punctuate.Func) (punctuate.Cancellable, error) {
	return nil, errors.New("no schedules here")
}
func (host) RequestCommit() {}
func (host) Dropped(string) {}

type collector struct{}

func (collector) Send(string, int32, []byte, []byte, record.Headers, int64) error { return nil }
func (collector) PartitionCount(string) (int32, error)                            { return 1, nil }

func graphConfig() processor.GraphConfig {
	return processor.GraphConfig{Host: host{}, Collector: collector{}}
}

func TestZeroBuilderIsAnEmptyBuilderThatBuilds(t *testing.T) {
	var b processor.Builder
	noPanic(t, "declaring on a zero Builder", func() {
		processor.AddSource(&b, "in", record.String(), record.String(), "in")
		processor.AddProcessor(&b, "p", passSupplier[string, string](), "in")
		processor.AddSink(&b, "out", "out", record.String(), record.String(), "p")
		b.AddStore(kvStore("s"), "p")
	})
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("zero Builder: %v", err)
	}
	if got := topo.SourceTopics(); len(got) != 1 || got[0] != "in" {
		t.Errorf("source topics = %v", got)
	}
	var b2 processor.Builder
	b2.ConnectStores("p", "s")
	if _, err := b2.Build(); !errors.Is(err, processor.ErrEmptyTopology) {
		t.Errorf("zero Builder with only a connection: %v, want ErrEmptyTopology", err)
	}
}

func TestNilBuilderDeclaresNothingAndBuildReportsErrEmptyTopology(t *testing.T) {
	var b *processor.Builder
	noPanic(t, "declaring on a nil Builder", func() {
		processor.AddSource(b, "in", record.String(), record.String(), "in").WithTimestampExtractor(record.LogAndSkipOnInvalidTimestamp())
		processor.AddProcessor(b, "p", passSupplier[string, string](), "in").WithStores("s")
		processor.AddSink(b, "out", "out", record.String(), record.String(), "p").WithPartitioner(nil)
		processor.AddSinkFunc(b, "out2", func(record.Record[string, string]) string { return "t" }, record.String(), record.String(), "p")
		b.AddStore(kvStore("s"), "p").ConnectStores("p", "s")
	})
	var err error
	noPanic(t, "Build", func() { _, err = b.Build() })
	if !errors.Is(err, processor.ErrEmptyTopology) {
		t.Errorf("nil Builder Build = %v, want ErrEmptyTopology", err)
	}
}

func TestZeroNodeHandlesIgnoreTheirOptions(t *testing.T) {
	noPanic(t, "zero node handles", func() {
		var src processor.SourceNode[string, string]
		src.WithTimestampExtractor(record.FailOnInvalidTimestamp()).WithValueTimestamp(nil)
		var p processor.ProcessorNode
		p.WithStores("s")
		var sink processor.SinkNode[string, string]
		sink.WithPartitioner(func(string, record.Record[string, string], int32) (int32, bool) { return 0, true })
		var nilP *processor.ProcessorNode
		nilP.WithStores("s")
	})
}

func TestFuncWithANilFunctionIsABuildError(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", processor.Func[string, string, string, string](nil), "in")
	wantProblem(t, buildErr(t, b), processor.ErrInvalidNode, `"p"`, "nil supplier")
}

func TestAddStoreWithABuilderOverANilSupplierIsABuildError(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "in")
	noPanic(t, "AddStore", func() {
		b.AddStore(store.NewKeyValueBuilder[string, string](nil, record.String(), record.String()), "p")
	})
	var be *processor.BuildError
	noPanic(t, "Build", func() { be = buildErr(t, b) })
	wantProblem(t, be, processor.ErrInvalidStore, "supplier")
}

// panicky is a store builder whose methods panic where asked.
type panicky struct {
	name, where string
	built       store.StateStore
}

func (p panicky) Name() string {
	if p.where == "name" {
		panic("name")
	}
	return p.name
}
func (p panicky) Validate() error {
	if p.where == "validate" {
		panic("validate")
	}
	return nil
}
func (p panicky) Build() (store.StateStore, error) {
	if p.where == "build" {
		panic("build")
	}
	return p.built, nil
}
func (panicky) Types() (reflect.Type, reflect.Type) { return nil, nil }

func TestBuildReportsAPanickingStoreValidateAsAProblem(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", passSupplier[string, string](), "in")
	b.AddStore(panicky{name: "s", where: "validate"}, "p")
	var be *processor.BuildError
	noPanic(t, "Build", func() { be = buildErr(t, b) })
	wantProblem(t, be, processor.ErrInvalidStore, "validate")
}

func TestNilTopologyHasNothingAndNewGraphFails(t *testing.T) {
	var topo *processor.Topology
	noPanic(t, "nil Topology", func() {
		if s := topo.Subtopologies(); len(s) != 0 {
			t.Errorf("Subtopologies = %v", s)
		}
		if s := topo.SourceTopics(); len(s) != 0 {
			t.Errorf("SourceTopics = %v", s)
		}
		if _, ok := topo.SubtopologyOf("x"); ok {
			t.Error("SubtopologyOf found a topic")
		}
		if _, ok := topo.StoreBuilder("x"); ok {
			t.Error("StoreBuilder found a store")
		}
		_ = topo.Describe().String()
		var d *processor.Description
		_ = d.String()
		if _, err := topo.NewGraph(0, graphConfig()); err == nil {
			t.Error("NewGraph on a nil topology succeeded")
		}
		var zero processor.Topology
		if _, err := zero.NewGraph(0, graphConfig()); err == nil {
			t.Error("NewGraph on a zero topology succeeded")
		}
	})
}

func buildWith(t *testing.T, sup processor.Supplier[string, string, string, string], sb store.Builder) *processor.Topology {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", sup, "in")
	if sb != nil {
		b.AddStore(sb, "p")
	}
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestAPanickingSupplierIsAnErrorFromNewGraph(t *testing.T) {
	topo := buildWith(t, func() processor.Processor[string, string, string, string] { panic("no processor for you") }, nil)
	var err error
	noPanic(t, "NewGraph", func() { _, err = topo.NewGraph(0, graphConfig()) })
	if !errors.Is(err, handler.ErrPanic) || !strings.Contains(err.Error(), "no processor for you") {
		t.Errorf("NewGraph = %v, want an error wrapping handler.ErrPanic with the panic", err)
	}
}

func TestAStoreBuilderThatPanicsOrBuildsNilIsAnErrorFromNewGraph(t *testing.T) {
	for _, c := range []struct {
		name string
		sb   panicky
		want string
	}{
		{"panicking Build", panicky{name: "s", where: "build"}, "build"},
		{"nil store", panicky{name: "s"}, "nil store"},
	} {
		topo := buildWith(t, passSupplier[string, string](), c.sb)
		var err error
		noPanic(t, c.name, func() { _, err = topo.NewGraph(0, graphConfig()) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewGraph = %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
}

func TestTypedStoreLookupsWithANilContextReturnErrStoreNotConnected(t *testing.T) {
	noPanic(t, "lookups", func() {
		if _, err := processor.KeyValueStore[string, string](nil, "s"); !errors.Is(err, processor.ErrStoreNotConnected) {
			t.Errorf("KeyValueStore = %v", err)
		}
		if _, err := processor.WindowStore[string, string](nil, "s"); !errors.Is(err, processor.ErrStoreNotConnected) {
			t.Errorf("WindowStore = %v", err)
		}
		if _, err := processor.SessionStore[string, string](nil, "s"); !errors.Is(err, processor.ErrStoreNotConnected) {
			t.Errorf("SessionStore = %v", err)
		}
	})
}

func TestGraphPunctuateWithANilCallbackIsAnError(t *testing.T) {
	g, err := buildWith(t, passSupplier[string, string](), nil).NewGraph(0, graphConfig())
	if err != nil {
		t.Fatal(err)
	}
	noPanic(t, "Punctuate", func() {
		if err := g.Punctuate(nil, nil, 5); err == nil {
			t.Error("Punctuate(nil fn) returned no error")
		}
	})
	var zero processor.Graph
	noPanic(t, "zero Graph", func() {
		_ = zero.Stores()
		_, _ = zero.Store("s")
		if _, err := zero.NewHead("in"); err == nil {
			t.Error("NewHead on a zero Graph succeeded")
		}
		if err := zero.InitProcessors(); err != nil {
			t.Errorf("InitProcessors of nothing = %v", err)
		}
		_ = zero.CloseProcessors()
		zero.Cancel()
		_ = zero.CurrentNode()
	})
}

func TestHeadDecodeOfANilRecordIsAnError(t *testing.T) {
	g, err := buildWith(t, passSupplier[string, string](), nil).NewGraph(0, graphConfig())
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.NewHead("in")
	if err != nil {
		t.Fatal(err)
	}
	noPanic(t, "Decode", func() {
		if _, err := h.Decode(nil, 0); err == nil {
			t.Error("Decode(nil) returned no error")
		}
	})
}

func TestBuildErrorWithANilProblemStillFormats(t *testing.T) {
	noPanic(t, "Error", func() {
		be := &processor.BuildError{Problems: []error{nil, processor.ErrCycle}}
		if !strings.Contains(be.Error(), "<nil>") {
			t.Errorf("Error = %q", be.Error())
		}
		var nilBE *processor.BuildError
		_ = nilBE.Error()
	})
}

func TestGlobalStoreRecordWhoseDeserializerPanicsIsSkippedAsUndeserializable(t *testing.T) {
	b := processor.NewBuilder()
	panicky := record.SerdeFuncs(func(string) ([]byte, error) { return nil, nil }, func([]byte) (string, error) { panic("bad bytes") })
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("g"), record.String(), record.String()), "g-topic", record.String(), panicky)
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	g := topo.GlobalStores()[0]
	st, err := g.Builder.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(store.InitContext{TaskID: "global", Logger: zap.NewNop()}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var skip string
	noPanic(t, "Update", func() {
		skip, err = g.Update(st, &record.ConsumerRecord{Topic: "g-topic", Key: []byte("k"), Value: []byte("v")})
	})
	if skip != processor.GlobalSkipDeserialization || !errors.Is(err, handler.ErrPanic) {
		t.Fatalf("Update = %q, %v; want a skip as undeserializable, wrapping ErrPanic", skip, err)
	}
	var nilTopo *processor.Topology
	noPanic(t, "GlobalStores on a nil topology", func() { _ = nilTopo.GlobalStores() })
	noPanic(t, "AddGlobalStore on a nil builder", func() {
		processor.AddGlobalStore(nil, store.NewKeyValueBuilder(store.InMemoryKeyValue("g"), record.String(), record.String()), "t", record.String(), record.String())
	})
	noPanic(t, "Update of a zero GlobalStore", func() { _, err = processor.GlobalStore{}.Update(st, nil) })
	if err == nil {
		t.Error("Update of a zero GlobalStore succeeded")
	}
}
