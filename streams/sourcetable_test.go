package streams_test

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// tableRec is one record of a table topic: a nil value is a tombstone.
type tableRec struct {
	key   string
	value []byte
}

func i64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// produceTable writes keyed records (nil value: tombstone) and waits for
// every acknowledgement.
func produceTable(t testing.TB, bootstrap, topic string, recs []tableRec) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
		"go.logs.channel.enable": false, "log_level": 3})
	must(t, err)
	defer p.Close()
	done := make(chan kafka.Event, len(recs))
	for i, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key: []byte(r.key), Value: r.value, Timestamp: time.UnixMilli(int64(i + 1))}
		must(t, p.Produce(m, done))
	}
	for range recs {
		select {
		case e := <-done:
			if m, ok := e.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				t.Fatal(m.TopicPartition.Error)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("producing timed out")
		}
	}
}

// convertTable is the SourceChangelog conversion of the table topic: the
// key as is, an int64 value as is, a tombstone deletes; a null key or a
// value that is not an int64 is skipped.
func convertTable(raw *record.ConsumerRecord) ([]byte, []byte, string, error) {
	if raw.Key == nil {
		return nil, nil, "null-key", nil
	}
	if raw.Value == nil {
		return raw.Key, nil, "", nil
	}
	if _, err := record.Int64().Deserialize(raw.Value); err != nil {
		return nil, nil, "deserialization-error", err
	}
	return raw.Key, raw.Value, "", nil
}

// tableTopology materializes topic "tbl" into store "table" (restored
// from "tbl", not from a changelog) and writes to "changes", per record,
// "<old>-><new>": the value the store held before the record (or "none")
// and the record's value (or "delete").
func tableTopology(t testing.TB) *processor.Topology {
	b := processor.NewBuilder()
	processor.AddSource(b, "tbl", record.String(), record.Int64(), "tbl")
	processor.AddProcessor(b, "materialize", func() processor.Processor[string, int64, string, string] { return &materializer{} }, "tbl").
		WithStores("table")
	processor.AddSink(b, "changes", "changes", record.String(), record.String(), "materialize")
	b.AddStore(store.NewKeyValueBuilder(rocksdb.KeyValue("table"), record.String(), record.Int64()).WithCaching().
		WithSourceChangelog(store.SourceChangelog{Topic: "tbl", Convert: convertTable}))
	topo, err := b.Build()
	must(t, err)
	return topo
}

type materializer struct {
	ctx processor.Context[string, string]
	s   store.KeyValueStore[string, int64]
}

func (m *materializer) Init(ctx processor.Context[string, string]) (err error) {
	m.ctx = ctx
	m.s, err = processor.KeyValueStore[string, int64](ctx, "table")
	return err
}

func (m *materializer) Process(r record.Record[string, int64]) error {
	old := "none"
	if v, ok, err := m.s.Get(r.Key()); err != nil {
		return err
	} else if ok {
		old = fmt.Sprint(v)
	}
	now := "delete"
	if r.ValueIsNull() {
		if _, _, err := m.s.Delete(r.Key()); err != nil {
			return err
		}
	} else {
		if err := m.s.Put(r.Key(), r.Value()); err != nil {
			return err
		}
		now = fmt.Sprint(r.Value())
	}
	return m.ctx.Forward(record.WithValue(r, old+"->"+now))
}

func (m *materializer) Close() error { return nil }

// restoredInto sums the records restorations wrote into a store, over
// its tasks.
func restoredInto(app *streams.App, storeName string) int64 {
	var n int64
	for _, tm := range app.Metrics().Tasks {
		for _, s := range tm.Stores {
			if s.Name == storeName {
				n += s.Restored
			}
		}
	}
	return n
}

// restoreSkipped returns the records restorations of a store skipped for
// reason.
func restoreSkipped(app *streams.App, storeName, reason string) int64 {
	for _, s := range app.Metrics().RestoreSkipped {
		if s.Store == storeName && s.Reason == reason {
			return s.Count
		}
	}
	return 0
}

// changesOf returns the values of the changes read, sorted.
func changesOf(out []consumed) []string {
	var s []string
	for _, c := range out {
		s = append(s, string(c.key)+":"+string(c.value))
	}
	sort.Strings(s)
	return s
}

func TestTableStoreIsRestoredFromItsSourceTopicSkippingCorruptRecordsWithoutAChangelogTopic(t *testing.T) {
	c := cluster(t, map[string]int32{"tbl": 2, "changes": 2})
	produceTable(t, c.Bootstrap(), "tbl", []tableRec{{"a", i64(1)}, {"b", i64(2)}, {"c", i64(3)}, {"x", []byte("bad")},
		{"a", i64(4)}, {"b", nil}})
	cfg := streams.Config{ApplicationID: "srctbl", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
		DeserializationHandler: handler.LogAndContinue{}}
	first := start(t, tableTopology(t), cfg)
	consumeUntil(t, c.Bootstrap(), "changes", false, 60*time.Second, func(o []consumed) bool { return len(o) >= 5 }, first)
	must(t, first.stop(t))
	if n := topicPartitions(t, c.Bootstrap(), "srctbl-table-changelog"); n != 0 {
		t.Fatalf("srctbl-table-changelog exists (%d partitions): a source-table store needs none", n)
	}

	// A new state directory: everything comes from "tbl".
	second := start(t, tableTopology(t), cfg)
	waitState(t, second.app, streams.Running, 60*time.Second)
	s, err := streams.KeyValueStore[string, int64](second.app, "table")
	must(t, err)
	for k, want := range map[string]int64{"a": 4, "c": 3} {
		if v, ok, err := s.Get(k); err != nil || !ok || v != want {
			t.Errorf("restored %s = %d, %v, %v; want %d", k, v, ok, err, want)
		}
	}
	for _, k := range []string{"b", "x"} {
		if v, ok, err := s.Get(k); err != nil || ok {
			t.Errorf("restored %s = %d, %v, %v; want absent", k, v, ok, err)
		}
	}
	if n := restoredInto(second.app, "table"); n != 5 {
		t.Errorf("restored %v records, want 5 (6 in tbl, 1 corrupt)", n)
	}
	if n := restoreSkipped(second.app, "table", "deserialization-error"); n != 1 {
		t.Errorf("skipped %v corrupt records during restore, want 1", n)
	}
	if n := topicPartitions(t, c.Bootstrap(), "srctbl-table-changelog"); n != 0 {
		t.Fatalf("srctbl-table-changelog exists after the restore (%d partitions)", n)
	}
}

func TestTableStoreRestorationStopsAtTheCommittedOffset(t *testing.T) {
	for _, g := range []streams.Guarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		for _, keep := range []bool{false, true} {
			name := g.String() + "/wiped"
			if keep {
				name = g.String() + "/checkpointed"
			}
			t.Run(name, func(t *testing.T) {
				c := cluster(t, map[string]int32{"tbl": 2, "changes": 2})
				eos := g == streams.ExactlyOnceV2
				produceTable(t, c.Bootstrap(), "tbl", []tableRec{{"a", i64(1)}, {"b", i64(2)}})
				cfg := streams.Config{ApplicationID: "stop", BootstrapServers: c.Bootstrap(), ProcessingGuarantee: g,
					CommitInterval: 100 * time.Millisecond, StateDir: t.TempDir()}
				first := start(t, tableTopology(t), cfg)
				consumeUntil(t, c.Bootstrap(), "changes", eos, 60*time.Second, func(o []consumed) bool { return len(o) >= 2 }, first)
				must(t, first.stop(t)) // commits a and b

				// Not processed yet: after the committed offsets.
				produceTable(t, c.Bootstrap(), "tbl", []tableRec{{"a", i64(10)}, {"b", i64(20)}})
				if !keep {
					cfg.StateDir = t.TempDir()
				}
				second := start(t, tableTopology(t), cfg)
				out := consumeUntil(t, c.Bootstrap(), "changes", eos, 60*time.Second, func(o []consumed) bool { return len(o) >= 4 }, second)
				// Restoring to the log end would make the store hold 10 and
				// 20 before they are processed: "10->10", "20->20".
				want := []string{"a:1->10", "a:none->1", "b:2->20", "b:none->2"}
				if got := changesOf(out); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("changes %v, want %v", got, want)
				}
				wantRestored := int64(2)
				if keep {
					wantRestored = 0 // the checkpoint is the committed offset
				}
				if n := restoredInto(second.app, "table"); n != wantRestored {
					t.Errorf("restored %v records, want %v", n, wantRestored)
				}
			})
		}
	}
}
