package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// claimRecord encodes a claim as the topic holds it.
func claimRecord(t *testing.T, endpoint, run string, seq int64, stores map[string][]int32, tasks ...string) []byte {
	t.Helper()
	if tasks == nil {
		tasks = []string{}
	}
	b, err := json.Marshal(claim{Version: claimVersion, Endpoint: endpoint, Run: run, Seq: seq, Tasks: tasks, Stores: stores})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func owner(t *testing.T, v *metaView, storeName string, p int32) string {
	t.Helper()
	h, ok := v.owner(storeName, p)
	if !ok {
		return "none"
	}
	return h.String()
}

func oneStoreTopology(t *testing.T) *processor.Topology {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error { return nil }),
		"in").WithStores("counts")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func hosts(mds []InstanceMetadata) []string {
	var out []string
	for _, md := range mds {
		out = append(out, md.Host.String()+" "+idList(md.Tasks))
	}
	return out
}

// A killed instance's claim (no tombstone) loses each partition to the
// claim written after it by the partition's new owner, and the instance
// drops out of AllMetadata once it lost them all.
func TestLaterClaimOfAPartitionWinsAndAKilledInstanceDropsOut(t *testing.T) {
	v := newMetaView("b:2", "run-b", zap.NewNop())
	v.apply(0, []byte("a:1"), claimRecord(t, "a:1", "run-a", 1, map[string][]int32{"counts": {0, 1}}, "0_0", "0_1"))
	v.apply(1, []byte("b:2"), claimRecord(t, "b:2", "run-b0", 1, map[string][]int32{"counts": {2, 3}}, "0_2", "0_3"))
	for p, want := range []string{"a:1", "a:1", "b:2", "b:2"} {
		if got := owner(t, v, "counts", int32(p)); got != want {
			t.Errorf("partition %d: owner %s, want %s", p, got, want)
		}
	}
	// a is killed; b, in a new run, takes everything.
	v.announce(claim{Version: claimVersion, Endpoint: "b:2", Run: "run-b", Seq: 1, Tasks: []string{"0_0", "0_1", "0_2", "0_3"},
		Stores: map[string][]int32{"counts": {0, 1, 2, 3}}})
	for p := range int32(4) {
		if got := owner(t, v, "counts", p); got != "b:2" {
			t.Errorf("after the take-over, partition %d: owner %s, want b:2", p, got)
		}
	}
	if got, want := hosts(v.instances(oneStoreTopology(t))), []string{"b:2 0_0, 0_1, 0_2, 0_3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("instances %q, want %q (the killed instance lost every task)", got, want)
	}
	// Its claim read back from the topic keeps it.
	v.apply(2, []byte("b:2"), claimRecord(t, "b:2", "run-b", 1, map[string][]int32{"counts": {0, 1, 2, 3}}, "0_0", "0_1", "0_2", "0_3"))
	if got := owner(t, v, "counts", 0); got != "b:2" {
		t.Errorf("partition 0: owner %s, want b:2", got)
	}
	// a restarts and the group splits the partitions again: a's new claim
	// (later on the topic) wins its partitions back, b's re-announcement
	// drops them.
	v.apply(3, []byte("a:1"), claimRecord(t, "a:1", "run-a2", 1, map[string][]int32{"counts": {0, 1}}, "0_0", "0_1"))
	if got := owner(t, v, "counts", 1); got != "a:1" {
		t.Errorf("after a's return, partition 1: owner %s, want a:1", got)
	}
	v.announce(claim{Version: claimVersion, Endpoint: "b:2", Run: "run-b", Seq: 2, Tasks: []string{"0_2", "0_3"},
		Stores: map[string][]int32{"counts": {2, 3}}})
	if got, want := hosts(v.instances(oneStoreTopology(t))), []string{"a:1 0_0, 0_1", "b:2 0_2, 0_3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("instances %q, want %q", got, want)
	}
}

// This instance's claim is current from its announcement on: records of
// its endpoint written before it (an earlier run's claim, its tombstone,
// an older assignment of this run) do not replace it when the reader
// reaches them.
func TestOwnClaimIsNotReplacedByOlderRecordsOfItsEndpoint(t *testing.T) {
	v := newMetaView("me:1", "run-2", zap.NewNop())
	v.announce(claim{Version: claimVersion, Endpoint: "me:1", Run: "run-2", Seq: 2, Tasks: []string{"0_1"},
		Stores: map[string][]int32{"counts": {1}}})
	v.apply(0, []byte("me:1"), claimRecord(t, "me:1", "run-1", 7, map[string][]int32{"counts": {0}}, "0_0"))
	v.apply(1, []byte("me:1"), nil)
	v.apply(2, []byte("me:1"), claimRecord(t, "me:1", "run-2", 1, map[string][]int32{"counts": {3}}, "0_3"))
	if got := owner(t, v, "counts", 1); got != "me:1" {
		t.Errorf("partition 1: owner %s, want me:1 (its own claim)", got)
	}
	for _, p := range []int32{0, 3} {
		if got := owner(t, v, "counts", p); got != "none" {
			t.Errorf("partition %d: owner %s, want none (only older claims of this endpoint named it)", p, got)
		}
	}
	v.apply(3, []byte("me:1"), claimRecord(t, "me:1", "run-2", 2, map[string][]int32{"counts": {1}}, "0_1"))
	// Read back: now a record written after it by another process at the
	// same endpoint (a configuration mistake) is taken, as the log's last
	// word.
	v.apply(4, []byte("me:1"), claimRecord(t, "me:1", "run-other", 1, map[string][]int32{"counts": {2}}, "0_2"))
	if got := owner(t, v, "counts", 2); got != "me:1" {
		t.Errorf("partition 2: owner %s, want me:1 (the later record at this endpoint)", got)
	}
	if !v.warned {
		t.Error("two processes announcing one endpoint were not reported")
	}
}

func TestTombstoneAndUnreadableRecordsForgetTheInstance(t *testing.T) {
	v := newMetaView("me:1", "run", zap.NewNop())
	v.apply(0, []byte("a:1"), claimRecord(t, "a:1", "r", 1, map[string][]int32{"counts": {0}}, "0_0"))
	v.apply(1, []byte("c:3"), claimRecord(t, "c:3", "r", 1, nil)) // idle
	v.apply(2, []byte("d:4"), claimRecord(t, "d:4", "r", 1, map[string][]int32{"counts": {1}}, "0_1"))
	if got, want := hosts(v.instances(oneStoreTopology(t))), []string{"a:1 0_0", "c:3 ", "d:4 0_1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("instances %q, want %q (idle instances are listed)", got, want)
	}
	v.apply(3, []byte("a:1"), nil)
	v.apply(4, []byte("d:4"), []byte("{not json"))
	if got := owner(t, v, "counts", 0); got != "none" {
		t.Errorf("partition 0 after a's tombstone: owner %s, want none", got)
	}
	if got := owner(t, v, "counts", 1); got != "none" {
		t.Errorf("partition 1 after d's unreadable record: owner %s, want none", got)
	}
}

// newQueryApp is an App that never runs, in the state given, for the
// query paths that need no task.
func newQueryApp(t *testing.T, server string, states ...State) *App {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "p", processor.Func(func(processor.Context[string, string], record.Record[string, string]) error { return nil }),
		"in").WithStores("counts")
	b.AddStore(store.NewKeyValueBuilder(store.InMemoryKeyValue("counts"), record.String(), record.Int64()))
	processor.AddGlobalStore(b, store.NewKeyValueBuilder(store.InMemoryKeyValue("products"), record.String(), record.String()),
		"products", record.String(), record.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(topo, Config{ApplicationID: "iq-internal", BootstrapServers: "127.0.0.1:1", StateDir: t.TempDir(),
		ApplicationServer: server})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if !a.setState(s) {
			t.Fatalf("cannot move the App to %s", s)
		}
	}
	a.iq.subParts = map[int]int32{0: 4}
	return a
}

func wantQueryErr(t *testing.T, err error, sentinel error, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", text)
	}
	if !errors.Is(err, sentinel) || !errors.Is(err, ErrStoreNotAvailable) {
		t.Errorf("error %q does not wrap %v and ErrStoreNotAvailable", err, sentinel)
	}
	if err.Error() != text {
		t.Errorf("error\n  %s\nwant\n  %s", err, text)
	}
}

func TestQueriesSayWhyAStoreIsNotQueryableHereYet(t *testing.T) {
	a := newQueryApp(t, "", Rebalancing)
	_, err := KeyValueStore[string, int64](a, "counts")
	wantQueryErr(t, err, ErrStoreNotReady, `streams: store "counts" is not queryable yet: the group is rebalancing; retry`)
	_, err = KeyValueStore[string, string](a, "products")
	wantQueryErr(t, err, ErrStoreNotReady, `streams: global store "products" is not restored yet; retry`)

	a.iq.assigned = map[processor.TaskID]bool{{Subtopology: 0, Partition: 1}: true, {Subtopology: 0, Partition: 3}: true}
	_, err = KeyValueStore[string, int64](a, "counts")
	wantQueryErr(t, err, ErrStoreNotReady, `streams: store "counts" is not queryable yet: its tasks on this instance (0_1, 0_3) are restoring; retry`)
	_, err = KeyValueStore[string, int64](a, "counts", StorePartition(1))
	wantQueryErr(t, err, ErrStoreNotReady, `streams: partition 1 of store "counts" is not queryable yet: its task 0_1 is restoring; retry`)

	if !a.setState(Running) {
		t.Fatal("cannot move the App to Running")
	}
	_, err = KeyValueStore[string, int64](a, "counts", StorePartition(2))
	wantQueryErr(t, err, ErrStoreNotLocal, `streams: partition 2 of store "counts" (task 0_2) is not on this instance: another instance holds it, or none does yet`)
	_, err = KeyValueStore[string, int64](a, "counts", StorePartition(4))
	wantQueryErr(t, err, ErrUnknownStore, `streams: store "counts" has partitions 0 to 3; there is no partition 4`)
	a.iq.assigned = nil
	_, err = KeyValueStore[string, int64](a, "counts")
	wantQueryErr(t, err, ErrStoreNotLocal, `streams: no task of this instance holds store "counts": its partitions are on other instances `+
		`(MetadataForStore and MetadataForKey say which)`)

	// With instance metadata, the error names the owner.
	a.iq.meta = &instanceMetadata{view: newMetaView("me:1", "run", zap.NewNop())}
	a.iq.meta.view.apply(0, []byte("other:2"), claimRecord(t, "other:2", "r", 1, map[string][]int32{"counts": {2}}, "0_2"))
	_, err = KeyValueStore[string, int64](a, "counts", StorePartition(2))
	wantQueryErr(t, err, ErrStoreNotLocal, `streams: partition 2 of store "counts" (task 0_2) is not on this instance: it is on other:2`)
}

func TestMetadataForKeySaysWhyItCannotAnswer(t *testing.T) {
	a := newQueryApp(t, "", Rebalancing)
	_, err := MetadataForKey(a, "counts", "k", record.String())
	if !errors.Is(err, ErrNoApplicationServer) || !strings.Contains(err.Error(), "this App has no Config.ApplicationServer") {
		t.Errorf("without an ApplicationServer: %v", err)
	}
	a = newQueryApp(t, "me:1", Rebalancing)
	a.iq.meta = &instanceMetadata{view: newMetaView("me:1", "run", zap.NewNop())}
	_, err = MetadataForKey(a, "counts", "k", record.String())
	want := `streams: where partition ` // the key's partition, then the reason
	if !errors.Is(err, ErrMetadataNotReady) || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), `of store "counts" is, is not known yet: this instance is still reading the instance-metadata topic; retry`) {
		t.Errorf("before the topic is read: %v", err)
	}
	a.iq.meta.view.setCaughtUp()
	p := defaultPartition([]byte("k"), 4)
	_, err = MetadataForKey(a, "counts", "k", record.String())
	if !errors.Is(err, ErrMetadataNotReady) || !strings.Contains(err.Error(), "no instance has announced partition") {
		t.Errorf("before any claim: %v", err)
	}
	a.iq.meta.view.apply(0, []byte("other:2"), claimRecord(t, "other:2", "r", 1, map[string][]int32{"counts": {p}}, fmt.Sprintf("0_%d", p)))
	md, err := MetadataForKey(a, "counts", "k", record.String())
	if err != nil || md.Active.String() != "other:2" || md.Partition != p {
		t.Errorf("MetadataForKey = %+v, %v; want other:2, partition %d", md, err, p)
	}
	md, err = MetadataForKey(a, "products", "k", record.String())
	if err != nil || md.Active.String() != "me:1" || md.Partition != -1 {
		t.Errorf("global store: MetadataForKey = %+v, %v; want this instance, partition -1", md, err)
	}
	_, err = MetadataForKey(a, "nope", "k", record.String())
	if !errors.Is(err, ErrUnknownStore) || !strings.Contains(err.Error(), `the topology has no store "nope"; its stores are "counts" (key-value store), "products" (global key-value store)`) {
		t.Errorf("unknown store: %v", err)
	}
	_, err = MetadataForKeyWithPartitioner(a, "counts", "k", func(string, int32) int32 { return 9 })
	if err == nil || !strings.Contains(err.Error(), "returned partition 9; the store has partitions 0 to 3") {
		t.Errorf("a partitioner out of range: %v", err)
	}
	_, err = MetadataForKey(a, "counts", "k", record.SerdeFuncs(func(string) ([]byte, error) { return nil, nil }, nil))
	if err == nil || !strings.Contains(err.Error(), "the key serializes to null") {
		t.Errorf("a null key: %v", err)
	}
}
