package streams_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
)

// eventually polls check every 20 ms until it returns nil or timeout
// passes, and fails with its last error.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInteractiveQueriesReadEveryKindOfStoreByName(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 2, "products": 1})
	app := start(t, allStores(t), streams.Config{ApplicationID: "iq-kinds", BootstrapServers: c.Bootstrap(),
		CommitInterval: 100 * time.Millisecond, ApplicationServer: "127.0.0.1:7001"}).app
	base := int64(1_700_000_040_000) // a minute boundary: one window
	produce(t, c.Bootstrap(), "products", []kv{{"p1", "widget", base}})
	produce(t, c.Bootstrap(), "in", []kv{{"a", "x", base + 1000}, {"a", "y", base + 2000}, {"b", "z", base + 1500}})

	eventually(t, 30*time.Second, func() error {
		kvs, err := streams.KeyValueStore[string, int64](app, kvStore)
		if err != nil {
			return err
		}
		var got []string
		it, err := kvs.All()
		if err != nil {
			return err
		}
		defer it.Close()
		for it.Next() {
			got = append(got, fmt.Sprintf("%s=%d", it.Key(), it.Value()))
		}
		slices.Sort(got)
		if want := []string{"a=2", "b=1"}; !reflect.DeepEqual(got, want) {
			return fmt.Errorf("key-value store holds %v, want %v", got, want)
		}
		return it.Err()
	})
	for _, check := range []func() error{
		func() error { // timestamped key-value: values with their timestamps, or values alone
			ts, err := streams.TimestampedKeyValueStore[string, string](app, tsKVStore)
			if err != nil {
				return err
			}
			if v, ok, err := ts.Get("a"); err != nil || !ok || v != (store.ValueAndTimestamp[string]{Value: "y", Timestamp: base + 2000}) {
				return fmt.Errorf("timestamped a = %+v, %v, %v", v, ok, err)
			}
			vs, err := streams.KeyValueStore[string, string](app, tsKVStore)
			if err != nil {
				return err
			}
			if v, ok, err := vs.Get("b"); err != nil || !ok || v != "z" {
				return fmt.Errorf("values of the timestamped store: b = %q, %v, %v", v, ok, err)
			}
			return nil
		},
		func() error { // window: by key over a time range
			ws, err := streams.WindowStore[string, int64](app, windowStore)
			if err != nil {
				return err
			}
			it, err := ws.FetchRange("a", base-time.Hour.Milliseconds(), base+time.Hour.Milliseconds())
			if err != nil {
				return err
			}
			defer it.Close()
			var got []string
			for it.Next() {
				got = append(got, fmt.Sprintf("%d=%d", it.Key(), it.Value()))
			}
			if want := []string{fmt.Sprintf("%d=2", base)}; !reflect.DeepEqual(got, want) {
				return fmt.Errorf("windows of a: %v, want %v", got, want)
			}
			return it.Err()
		},
		func() error { // timestamped window
			ws, err := streams.TimestampedWindowStore[string, int64](app, tsWindowStore)
			if err != nil {
				return err
			}
			if v, ok, err := ws.Fetch("a", base); err != nil || !ok || v != (store.ValueAndTimestamp[int64]{Value: 2, Timestamp: base + 2000}) {
				return fmt.Errorf("timestamped window of a = %+v, %v, %v", v, ok, err)
			}
			return nil
		},
		func() error { // session
			ss, err := streams.SessionStore[string, int64](app, sessionStore)
			if err != nil {
				return err
			}
			if v, ok, err := ss.FetchSession("a", base+2000, base+2000); err != nil || !ok || v != 2 {
				return fmt.Errorf("session of a at %d = %d, %v, %v", base+2000, v, ok, err)
			}
			return nil
		},
		func() error { // global
			gs, err := streams.KeyValueStore[string, string](app, globalStore)
			if err != nil {
				return err
			}
			if v, ok, err := gs.Get("p1"); err != nil || !ok || v != "widget" {
				return fmt.Errorf("global p1 = %q, %v, %v", v, ok, err)
			}
			return nil
		},
		func() error { // one partition: the key's, as MetadataForKey tells it
			md, err := streams.MetadataForKey(app, kvStore, "a", record.String())
			if err != nil {
				return err
			}
			if md.Active != app.HostInfo() {
				return fmt.Errorf("a is on %s, want this instance %s", md.Active, app.HostInfo())
			}
			one, err := streams.KeyValueStore[string, int64](app, kvStore, streams.StorePartition(md.Partition))
			if err != nil {
				return err
			}
			if n, ok, err := one.Get("a"); err != nil || !ok || n != 2 {
				return fmt.Errorf("partition %d: a = %d, %v, %v", md.Partition, n, ok, err)
			}
			if n, ok, err := one.Get("b"); err != nil || ok != (md.Partition == mustPartition(t, app, "b")) {
				return fmt.Errorf("partition %d: b = %d, %v, %v", md.Partition, n, ok, err)
			}
			return nil
		},
	} {
		eventually(t, 10*time.Second, check)
	}
}

func mustPartition(t *testing.T, app *streams.App, key string) int32 {
	t.Helper()
	md, err := streams.MetadataForKey(app, kvStore, key, record.String())
	must(t, err)
	return md.Partition
}

// MetadataForKey computes the partition the App's producer (and Java's)
// puts a key in: keys are produced with murmur2_random and read back to
// see where they landed. The App runs exactly-once: its claims are written
// outside its transactions.
func TestMetadataForKeyReportsThePartitionTheProducerPutTheKeyIn(t *testing.T) {
	const partitions = 7
	c := cluster(t, map[string]int32{"in": partitions, "products": 1})
	app := start(t, allStores(t), streams.Config{ApplicationID: "iq-partitions", BootstrapServers: c.Bootstrap(),
		ApplicationServer: "127.0.0.1:7002", ProcessingGuarantee: streams.ExactlyOnceV2}).app
	var recs []kv
	for i := range 200 {
		recs = append(recs, kv{key: fmt.Sprintf("key-%d-%s", i, strings.Repeat("x", i%9)), value: "v", ts: int64(i + 1)})
	}
	produce(t, c.Bootstrap(), "in", recs)
	landed := map[string]int32{}
	for _, m := range consumeUntil(t, c.Bootstrap(), "in", false, 30*time.Second, func(o []consumed) bool { return len(o) >= len(recs) }) {
		landed[string(m.key)] = m.partition
	}
	if len(landed) != len(recs) {
		t.Fatalf("read back %d keys, produced %d", len(landed), len(recs))
	}
	used := map[int32]bool{}
	eventually(t, 30*time.Second, func() error {
		for k, p := range landed {
			md, err := streams.MetadataForKey(app, kvStore, k, record.String())
			if err != nil {
				return err
			}
			if md.Partition != p {
				return fmt.Errorf("MetadataForKey(%q) says partition %d; the producer put it in %d", k, md.Partition, p)
			}
			if md.Active != app.HostInfo() || len(md.Standbys) != 0 {
				return fmt.Errorf("MetadataForKey(%q) = %+v, want this instance and no standbys", k, md)
			}
			used[p] = true
		}
		return nil
	})
	if len(used) != partitions {
		t.Errorf("the keys used %d of %d partitions; the test proves little", len(used), partitions)
	}
	md, err := streams.MetadataForKeyWithPartitioner(app, kvStore, "anything", func(_ string, n int32) int32 { return n - 1 })
	if err != nil || md.Partition != partitions-1 {
		t.Errorf("with a partitioner: %+v, %v; want partition %d", md, err, partitions-1)
	}
}

// owners returns which App runs each task of sub-topology 0.
func owners(apps map[string]*streams.App) map[int32]string {
	out := map[int32]string{}
	for name, a := range apps {
		for _, id := range a.LocalTasks() {
			if id.Subtopology == 0 {
				out[id.Partition] = name
			}
		}
	}
	return out
}

// Two instances learn from each other's claims where every partition is;
// once one is killed (its claim stays on the topic), the survivor's claims
// win every partition back and the killed instance leaves AllMetadata.
func TestMetadataFollowsTasksAcrossInstancesAndOutlivesAKilledOne(t *testing.T) {
	const partitions = 4
	c := cluster(t, map[string]int32{"in": partitions, "products": 1})
	cfg := streams.Config{ApplicationID: "iq-two", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	cfgA, cfgB := cfg, cfg
	cfgA.ApplicationServer, cfgB.ApplicationServer = "127.0.0.1:7101", "127.0.0.1:7102"
	a := start(t, allStores(t), cfgA).app
	b := start(t, allStores(t), cfgB).app
	byName := map[string]*streams.App{cfgA.ApplicationServer: a, cfgB.ApplicationServer: b}
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	// Both hold tasks, and both instances' metadata says who holds what.
	eventually(t, 60*time.Second, func() error {
		own := owners(byName)
		if len(own) != partitions {
			return fmt.Errorf("running tasks: %v", own)
		}
		holders := map[string]bool{}
		for _, o := range own {
			holders[o] = true
		}
		if len(holders) != 2 {
			return fmt.Errorf("one instance holds every task: %v", own)
		}
		for _, from := range []*streams.App{a, b} {
			for _, k := range keys {
				md, err := streams.MetadataForKey(from, kvStore, k, record.String())
				if err != nil {
					return err
				}
				if want := own[md.Partition]; md.Active.String() != want {
					return fmt.Errorf("%s says %s (partition %d) is on %s; it runs on %s", from.HostInfo(), k, md.Partition, md.Active, want)
				}
			}
			all, err := from.AllMetadata()
			if err != nil {
				return err
			}
			if len(all) != 2 || len(all[0].Tasks)+len(all[1].Tasks) != partitions {
				return fmt.Errorf("%s lists instances %+v; want both, with %d tasks between them", from.HostInfo(), all, partitions)
			}
		}
		return nil
	})
	all, err := a.AllMetadata()
	must(t, err)
	for _, md := range all {
		if !slices.Contains(md.Stores, kvStore) || !slices.Contains(md.Stores, globalStore) {
			t.Errorf("%s lists stores %v; want its own and the global ones", md.Host, md.Stores)
		}
		local := byName[md.Host.String()].LocalTasks()
		if !reflect.DeepEqual(md.Tasks, local) {
			t.Errorf("AllMetadata says %s holds %v; it runs %v", md.Host, md.Tasks, local)
		}
	}
	forStore, err := b.MetadataForStore(globalStore)
	if err != nil || len(forStore) != 2 {
		t.Errorf("MetadataForStore(global) = %+v, %v; want both instances", forStore, err)
	}

	// A partition asked of the instance that does not hold it names the one
	// that does.
	own := owners(byName)
	for p, holder := range own {
		other := a
		if holder == cfgA.ApplicationServer {
			other = b
		}
		_, err := streams.KeyValueStore[string, int64](other, kvStore, streams.StorePartition(p))
		if !errors.Is(err, streams.ErrStoreNotLocal) || !strings.HasSuffix(err.Error(), "is not on this instance: it is on "+holder) {
			t.Errorf("partition %d asked of %s: %v", p, other.HostInfo(), err)
		}
	}

	must(t, streams.Crash(a)) // no tombstone: its claim stays on the topic
	eventually(t, 60*time.Second, func() error {
		if got := b.LocalTasks(); len(got) != partitions {
			return fmt.Errorf("the survivor runs %v", got)
		}
		all, err := b.AllMetadata()
		if err != nil {
			return err
		}
		if len(all) != 1 || all[0].Host != b.HostInfo() || len(all[0].Tasks) != partitions {
			return fmt.Errorf("AllMetadata after the kill: %+v", all)
		}
		for _, k := range keys {
			md, err := streams.MetadataForKey(b, kvStore, k, record.String())
			if err != nil {
				return err
			}
			if md.Active != b.HostInfo() {
				return fmt.Errorf("%s is on %s after the kill; want the survivor %s", k, md.Active, b.HostInfo())
			}
		}
		return nil
	})
	_, err = a.AllMetadata()
	if !errors.Is(err, streams.ErrAppNotRunning) {
		t.Errorf("AllMetadata of a stopped App: %v", err)
	}
}
