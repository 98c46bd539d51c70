package streams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

func newErr(t *testing.T, topo *processor.Topology, cfg streams.Config) error {
	t.Helper()
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "cfg"
	}
	if cfg.BootstrapServers == "" {
		cfg.BootstrapServers = "127.0.0.1:9092"
	}
	app, err := streams.New(topo, cfg)
	if err == nil {
		must(t, app.Close())
		return nil
	}
	if !errors.Is(err, streams.ErrConfig) {
		t.Fatalf("New: %v, want an error wrapping ErrConfig", err)
	}
	return err
}

func TestNewRejectsMalformedBootstrapServers(t *testing.T) {
	for _, bad := range []string{"::::", "localhost", "host:port", "host:0", "host:70000", ":9092", "a:1,,b:2", "a b:9092"} {
		err := newErr(t, int64Source(t), streams.Config{BootstrapServers: bad})
		if err == nil || !strings.Contains(err.Error(), "BootstrapServers") {
			t.Errorf("BootstrapServers %q: New = %v, want an error naming BootstrapServers", bad, err)
		}
	}
	for _, good := range []string{"localhost:9092", "a:1,b:2", " a:1 , b:2 ", "[::1]:9092", "SASL_SSL://broker-1.example.com:9093", "10.0.0.1:9092"} {
		if err := newErr(t, int64Source(t), streams.Config{BootstrapServers: good}); err != nil {
			t.Errorf("BootstrapServers %q: New = %v, want no error", good, err)
		}
	}
}

func TestNewRejectsUnknownOrInvalidClientPropertiesNamingTheField(t *testing.T) {
	cases := []struct {
		cfg   streams.Config
		field string
		prop  string
	}{
		{streams.Config{ConsumerConfig: map[string]any{"fetch.wait.max.msec": 10}}, "ConsumerConfig", "fetch.wait.max.msec"},
		{streams.Config{ConsumerConfig: map[string]any{"fetch.wait.max.ms": "soon"}}, "ConsumerConfig", "fetch.wait.max.ms"},
		{streams.Config{ProducerConfig: map[string]any{"linger.msec": 10}}, "ProducerConfig", "linger.msec"},
		{streams.Config{AdminConfig: map[string]any{"no.such.thing": true}}, "AdminConfig", "no.such.thing"},
		{streams.Config{ProcessingGuarantee: streams.ExactlyOnceV2, ProducerConfig: map[string]any{"delivery.timeout.ms": 600_000}},
			"ProducerConfig", "transaction.timeout.ms"},
	}
	for _, c := range cases {
		err := newErr(t, int64Source(t), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.prop) {
			t.Errorf("%v: New = %v, want an error naming %s and %q", c.cfg, err, c.field, c.prop)
		}
	}
}

func TestNewRejectsPropertiesMillraceManagesNamingTheConfigField(t *testing.T) {
	err := newErr(t, int64Source(t), streams.Config{ConsumerConfig: map[string]any{"session.timeout.ms": 1000, "group.id": "x"},
		ProducerConfig: map[string]any{"transactional.id": "t"}})
	for _, frag := range []string{`"session.timeout.ms"`, "Config.SessionTimeout", `"group.id"`, "Config.ApplicationID", `"transactional.id"`} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("New error lacks %s: %v", frag, err)
		}
	}
}

func loggedStoreTopology(t *testing.T, storeName string) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error {
		return nil
	}), "in").WithStores(storeName)
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue(storeName), record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

func TestNewRejectsApplicationIDTooLongForItsChangelogTopics(t *testing.T) {
	topo := loggedStoreTopology(t, "counts")
	// "<id>-counts-changelog" must fit Kafka's 249 characters.
	ok := strings.Repeat("a", 249-len("-counts-changelog"))
	if err := newErr(t, topo, streams.Config{ApplicationID: ok}); err != nil {
		t.Fatalf("id of %d characters: %v", len(ok), err)
	}
	err := newErr(t, topo, streams.Config{ApplicationID: ok + "a"})
	if err == nil || !strings.Contains(err.Error(), `store "counts"`) || !strings.Contains(err.Error(), "250 characters") {
		t.Fatalf("id of %d characters: New = %v, want an error naming the store and the topic length", len(ok)+1, err)
	}
}

func TestNewRejectsStoreNamesThatAreNotTopicNames(t *testing.T) {
	err := newErr(t, loggedStoreTopology(t, "my counts"), streams.Config{})
	if err == nil || !strings.Contains(err.Error(), `store "my counts"`) {
		t.Fatalf("New = %v, want an error naming the store", err)
	}
}

func TestNewReportsEveryProblemAtOnceWithoutAskingLibrdkafkaAboutBrokenConfigs(t *testing.T) {
	err := newErr(t, int64Source(t), streams.Config{ApplicationID: "bad id!", BootstrapServers: "::::", TaskTimeout: -time.Second,
		CloseTimeout: -time.Second, ConsumerConfig: map[string]any{"group.id": "x"}})
	for _, frag := range []string{"ApplicationID", "BootstrapServers", "TaskTimeout", "CloseTimeout", `"group.id"`} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("New error lacks %s: %v", frag, err)
		}
	}
}

func TestZeroCommitIntervalMeansTheDefaultNotAsOftenAsPossible(t *testing.T) {
	for _, c := range []struct {
		g    streams.Guarantee
		want time.Duration
	}{{streams.AtLeastOnce, 30 * time.Second}, {streams.ExactlyOnceV2, 100 * time.Millisecond}} {
		app, err := streams.New(int64Source(t), streams.Config{ApplicationID: "ci", BootstrapServers: "127.0.0.1:9092", ProcessingGuarantee: c.g})
		must(t, err)
		if got := app.Config().CommitInterval; got != c.want {
			t.Errorf("%s: CommitInterval 0 became %v, want %v", c.g, got, c.want)
		}
		must(t, app.Close())
	}
}

func TestAppNotMadeByNewFailsInsteadOfPanicking(t *testing.T) {
	var zero streams.App
	if err := zero.Run(context.Background()); err == nil {
		t.Error("Run on a zero App succeeded")
	}
	if err := zero.Close(); err == nil {
		t.Error("Close on a zero App succeeded")
	}
	if err := zero.Shutdown(context.Background()); err == nil {
		t.Error("Shutdown on a zero App succeeded")
	}
	if _, err := streams.KeyValueStore[string, string](nil, "s"); !errors.Is(err, streams.ErrStoreNotAvailable) {
		t.Errorf("KeyValueStore on a nil App: %v", err)
	}
}

func TestPanickingStateListenerCrashesNothing(t *testing.T) {
	app, err := streams.New(int64Source(t), streams.Config{ApplicationID: "listener", BootstrapServers: "127.0.0.1:9092",
		StateListener: func(from, to streams.State) { panic("listener bug") }})
	must(t, err)
	must(t, app.Close()) // Created -> PendingShutdown -> NotRunning, both notified
	if app.State() != streams.NotRunning {
		t.Errorf("state %s after Close", app.State())
	}
}

func TestNewRejectsANegativeRepartitionPurgeInterval(t *testing.T) {
	err := newErr(t, int64Source(t), streams.Config{RepartitionPurgeInterval: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "RepartitionPurgeInterval") {
		t.Fatalf("New = %v, want an error naming RepartitionPurgeInterval", err)
	}
}

func TestNewRejectsASourceChangelogTopicTheStoresSubtopologyDoesNotRead(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.Int64(), "in")
	processor.AddProcessor(b, "materialize", func() processor.Processor[string, int64, string, string] { return &materializer{} }, "in").
		WithStores("table")
	processor.AddSink(b, "changes", "changes", record.String(), record.String(), "materialize")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("table"), record.String(), record.Int64()).
		WithSourceChangelog(store.SourceChangelog{Topic: "tbl", Convert: convertTable}))
	topo, err := b.Build()
	must(t, err)
	err = newErr(t, topo, streams.Config{})
	if err == nil || !strings.Contains(err.Error(), `store "table"`) || !strings.Contains(err.Error(), `"tbl"`) {
		t.Fatalf("New = %v, want an error naming store table and topic tbl", err)
	}
}

func TestNewRejectsInternalTopicNamesThatAreNotTopicNames(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "to", "by page-repartition", record.String(), record.String(), "src")
	b.AddInternalTopic(processor.InternalTopic{Name: "by page-repartition"})
	processor.AddSource(b, "from", record.String(), record.String(), "by page-repartition")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "from")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	err = newErr(t, topo, streams.Config{ApplicationID: "app"})
	if err == nil || !strings.Contains(err.Error(), `internal topic "app-by page-repartition"`) {
		t.Fatalf("New = %v, want an error naming the internal topic", err)
	}
}
