package dsl_test

import (
	"strings"
	"testing"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/testdriver"
)

func TestTableFromForwardsUpdatesAndTombstonesAndDropsNullKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dsl.Option
	}{
		{"cached", nil},
		{"uncached", []dsl.Option{dsl.WithoutCaching()}},
		{"in-memory", []dsl.Option{dsl.InMemory(), dsl.As("users")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			users := dsl.TableFrom(b, "users", record.String(), record.String(), tc.opts...)
			tblChangesTo(b, users, "changes", record.String())
			dsl.To(dsl.ToStream(users), "stream")
			d := tblDriver(t, b)
			in := testdriver.CreateInputTopic(d, "users", record.String(), record.String())
			tblPipe(t, in, tblPtr("a"), tblPtr("1"), 1)
			tblPipe(t, in, tblPtr("b"), tblPtr("2"), 2)
			tblPipe(t, in, tblPtr("a"), tblPtr("3"), 3)
			tblPipe(t, in, tblPtr("a"), nil, 4) // delete
			tblPipe(t, in, tblPtr("c"), nil, 5) // delete of an absent key: nothing
			tblPipe(t, in, nil, tblPtr("x"), 6) // null key: dropped
			tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())),
				[]string{"a=<none>->1@1", "b=<none>->2@2", "a=1->3@3", "a=3-><none>@4"})
			tblEqual(t, "stream", tblRead(t, testdriver.CreateOutputTopic(d, "stream", record.String(), record.String())),
				[]string{"a=1@1", "b=2@2", "a=3@3", "a=<null>@4"})
			if n := tblDropped(t, d, dsl.DropNullKey); n != 1 {
				t.Errorf("dropped null keys = %d, want 1", n)
			}
			kv, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[string]](d, users.StoreName())
			if err != nil {
				t.Fatal(err)
			}
			if v, ok, _ := kv.Get("b"); !ok || v.Value != "2" || v.Timestamp != 2 {
				t.Errorf("store b = %v, %v; want 2@2", v, ok)
			}
			if _, ok, _ := kv.Get("a"); ok {
				t.Error("store still holds deleted key a")
			}
		})
	}
}

func TestTableFromNamesStoreAfterTopicAsKafkaStreams(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String())
	if got, want := users.StoreName(), "users-STATE-STORE-0000000000"; got != want {
		t.Errorf("store %q, want %q", got, want)
	}
	if got, want := users.NodeName(), "KTABLE-SOURCE-0000000002"; got != want {
		t.Errorf("node %q, want %q", got, want)
	}
	named := dsl.TableFrom(b, "orders", record.String(), record.String(), dsl.Named("orders"), dsl.As("orders-store"))
	if named.StoreName() != "orders-store" || named.NodeName() != "orders-table-source" {
		t.Errorf("named table: store %q node %q", named.StoreName(), named.NodeName())
	}
	if u := b.Unnamed(); len(u) != 1 || u[0] != "store users-STATE-STORE-0000000000" {
		t.Errorf("Unnamed = %q", u)
	}
}

func TestTableFromAddsNoChangelogTopic(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.TableFrom(b, "users", record.String(), record.String(), dsl.As("users"))
	dsl.To(dsl.ToStream(users), "out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	sb, ok := topo.StoreBuilder("users")
	if !ok {
		t.Fatal("no store users")
	}
	if l, ok := sb.(interface{ LoggingEnabled() bool }); ok && l.LoggingEnabled() {
		t.Error("the source table's store writes a changelog of its own; the topic is its changelog")
	}
}

func TestToTableMaterializesAStreamWithTombstones(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	tbl := dsl.ToTable(s, dsl.As("latest"))
	tblChangesTo(b, tbl, "changes", record.String())
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	tblPipe(t, in, tblPtr("a"), tblPtr("1"), 1)
	tblPipe(t, in, tblPtr("a"), tblPtr("2"), 2)
	tblPipe(t, in, nil, tblPtr("x"), 3)
	tblPipe(t, in, tblPtr("a"), nil, 4)
	tblEqual(t, "changes", tblRead(t, testdriver.CreateOutputTopic(d, "changes", record.String(), record.String())),
		[]string{"a=<none>->1@1", "a=1->2@2", "a=2-><none>@4"})
	if n := tblDropped(t, d, dsl.DropNullKey); n != 1 {
		t.Errorf("dropped null keys = %d, want 1", n)
	}
	topo, _ := b.Build()
	if sb, ok := topo.StoreBuilder("latest"); !ok {
		t.Error("no store latest")
	} else if l, ok := sb.(interface{ LoggingEnabled() bool }); ok && !l.LoggingEnabled() {
		t.Error("ToTable's store is not changelogged")
	}
}

func TestToTableRepartitionsAfterAKeyChange(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	rekeyed := dsl.SelectKey(s, func(_, v string) string { return strings.Split(v, ":")[0] })
	tbl := dsl.ToTable(rekeyed, dsl.Named("by-user"), dsl.As("by-user-store"))
	dsl.To(dsl.ToStream(tbl), "out")
	desc, err := b.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "by-user-repartition") {
		t.Errorf("no repartition topic by-user-repartition in\n%s", desc)
	}
	d := tblDriver(t, b)
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	for i, v := range []string{"u1:a", "u2:b", "u1:c"} {
		tblPipe(t, in, tblPtr("k"), tblPtr(v), int64(i+1))
	}
	m, err := testdriver.ReadKeyValuesToMap(testdriver.CreateOutputTopic(d, "out", record.String(), record.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["u1"] != "u1:c" || m["u2"] != "u2:b" {
		t.Errorf("table %v", m)
	}
}
