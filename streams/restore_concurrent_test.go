package streams_test

import (
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
)

// lastValueStore is the store of lastValueTopology.
const lastValueStore = "last"

// lastValue keeps each key's last value in its store; an empty value
// deletes the key (the changelog gets a tombstone).
type lastValue struct {
	kv store.KeyValueStore[string, string]
}

func (p *lastValue) Init(ctx processor.Context[string, string]) (err error) {
	p.kv, err = processor.KeyValueStore[string, string](ctx, lastValueStore)
	return err
}
func (p *lastValue) Close() error { return nil }
func (p *lastValue) Process(r record.Record[string, string]) error {
	if r.Value() == "" {
		_, _, err := p.kv.Delete(r.Key())
		return err
	}
	return p.kv.Put(r.Key(), r.Value())
}

// lastValueTopology reads topic "in" into an uncached store, so every
// input is one changelog record.
func lastValueTopology(t *testing.T, supplier store.KeyValueBytesSupplier) *processor.Topology {
	t.Helper()
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "last", func() processor.Processor[string, string, string, string] { return &lastValue{} }, "in").
		WithStores(lastValueStore)
	b.AddStore(store.NewKeyValueBuilder(supplier, record.String(), record.String()))
	topo, err := b.Build()
	must(t, err)
	return topo
}

// lastValues is the input's last value per key, keys whose last value is
// empty (deleted) left out.
func lastValues(in []kv) map[string]string {
	out := map[string]string{}
	for _, r := range in {
		if r.value == "" {
			delete(out, r.key)
		} else {
			out[r.key] = r.value
		}
	}
	return out
}

// storeContents reads every entry of the App's store of lastValueTopology.
func storeContents(t *testing.T, app *streams.App) map[string]string {
	t.Helper()
	kv, err := streams.KeyValueStore[string, string](app, lastValueStore)
	must(t, err)
	it, err := kv.All()
	must(t, err)
	defer it.Close()
	out := map[string]string{}
	for it.Next() {
		out[it.Key()] = it.Value()
	}
	must(t, it.Err())
	return out
}

// waitContents waits until the App's store holds want.
func waitContents(t *testing.T, app *streams.App, want map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if app.State() == streams.Running {
			got := storeContents(t, app)
			if maps.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("store holds %d keys, want %d: the first App did not process its input within %v", len(got), len(want), timeout)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("App in state %s after %v", app.State(), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restoreClock records when the restorer reported each store's start and
// end.
type restoreClock struct {
	mu     sync.Mutex
	starts map[processor.TaskID]time.Time
	ends   map[processor.TaskID]time.Time
	ended  []streams.RestoreEnd
	batch  []streams.RestoreBatch
}

func newRestoreClock() *restoreClock {
	return &restoreClock{starts: map[processor.TaskID]time.Time{}, ends: map[processor.TaskID]time.Time{}}
}

func (c *restoreClock) OnRestoreStart(e streams.RestoreStart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts[e.Task] = time.Now()
}

func (c *restoreClock) OnRestoreBatch(e streams.RestoreBatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batch = append(c.batch, e)
}

func (c *restoreClock) OnRestoreEnd(e streams.RestoreEnd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends[e.Task] = time.Now()
	c.ended = append(c.ended, e)
}

// span is from the first store's start to the last one's end.
func (c *restoreClock) span() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first, last time.Time
	for _, s := range c.starts {
		if first.IsZero() || s.Before(first) {
			first = s
		}
	}
	for _, e := range c.ends {
		if e.After(last) {
			last = e
		}
	}
	return last.Sub(first)
}

// TestRestoringEightTasksTakesAboutAsLongAsRestoringOne proves restoring
// many tasks takes about as long as restoring one small one: 8 tasks whose
// changelogs hold a few records each are restored, from the first store's
// start to the last one's end, in well under a second. With librdkafka's
// fetch defaults every store took 1.5 s (3 runs: 1.51-1.52 s from the
// first start to the last end), the restore consumer waiting out
// fetch.queue.backoff.ms and fetch.wait.max.ms.
func TestRestoringEightTasksTakesAboutAsLongAsRestoringOne(t *testing.T) {
	c := cluster(t, map[string]int32{"in": 8})
	var input []kv
	for i := 0; i < 80; i++ {
		input = append(input, kv{key: fmt.Sprintf("k%02d", i%40), value: strconv.Itoa(i), ts: int64(1000 + i)})
	}
	produce(t, c.Bootstrap(), "in", input)
	want := lastValues(input)
	cfg := streams.Config{ApplicationID: "restore8", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond}
	first := start(t, lastValueTopology(t, store.InMemoryKeyValue(lastValueStore)), cfg)
	waitContents(t, first.app, want, 60*time.Second)
	must(t, first.stop(t))

	clock := newRestoreClock()
	cfg.Hooks = []streams.Hook{clock}
	cfg.StateDir = t.TempDir() // nothing local: every task restores
	second := start(t, lastValueTopology(t, store.InMemoryKeyValue(lastValueStore)), cfg)
	waitState(t, second.app, streams.Running, 60*time.Second)
	waitContents(t, second.app, want, 10*time.Second)
	clock.mu.Lock()
	starts := len(clock.starts)
	var sum, longest time.Duration
	for _, e := range clock.ended {
		sum += e.Took
		longest = max(longest, e.Took)
	}
	ends := len(clock.ended)
	clock.mu.Unlock()
	if starts != 8 || ends != 8 {
		t.Fatalf("%d restorations started and %d ended, want 8 of each (every task restores)", starts, ends)
	}
	// From the first store's start to the last one's end. In-memory
	// stores open at once, so the rebalance creates the 8 tasks within
	// milliseconds of each other and the span is the restorer's.
	took := clock.span()
	t.Logf("8 tasks restored in %v; the stores' restorations took %v in all, the longest %v", took, sum, longest)
	if took >= time.Second {
		t.Errorf("8 tasks restored in %v (the stores' restorations took %v in all, the longest %v), want under 1 s",
			took, sum, longest)
	}
}

// TestRestoredStoreHoldsEachKeysLastValue proves restoration in batches is
// exact: a store restored from its changelog (records spanning several
// write batches per store, tombstones among them) holds each key's last
// value, and no deleted key, under both guarantees and both backends.
func TestRestoredStoreHoldsEachKeysLastValue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		guarantee streams.Guarantee
		supplier  func() store.KeyValueBytesSupplier
	}{
		{"at-least-once/rocksdb", streams.AtLeastOnce, func() store.KeyValueBytesSupplier { return rocksdb.KeyValue(lastValueStore) }},
		{"exactly-once/rocksdb", streams.ExactlyOnceV2, func() store.KeyValueBytesSupplier { return rocksdb.KeyValue(lastValueStore) }},
		{"at-least-once/memory", streams.AtLeastOnce, func() store.KeyValueBytesSupplier { return store.InMemoryKeyValue(lastValueStore) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, map[string]int32{"in": 2})
			// 5000 records on 300 keys, every 7th a tombstone: about
			// 2500 changelog records per partition, three write batches.
			var input []kv
			for i := 0; i < 5000; i++ {
				v := strconv.Itoa(i)
				if i%7 == 3 {
					v = ""
				}
				input = append(input, kv{key: fmt.Sprintf("k%03d", (i*37)%300), value: v, ts: int64(1000 + i)})
			}
			produce(t, c.Bootstrap(), "in", input)
			want := lastValues(input)
			if len(want) == 300 || len(want) == 0 {
				t.Fatalf("%d keys alive after the input: the test needs some deleted", len(want))
			}
			cfg := streams.Config{ApplicationID: "exact", BootstrapServers: c.Bootstrap(), CommitInterval: 100 * time.Millisecond,
				ProcessingGuarantee: tc.guarantee}
			first := start(t, lastValueTopology(t, tc.supplier()), cfg)
			waitContents(t, first.app, want, 60*time.Second)
			must(t, first.stop(t))

			clock := newRestoreClock()
			cfg.Hooks = []streams.Hook{clock}
			cfg.StateDir = t.TempDir()
			second := start(t, lastValueTopology(t, tc.supplier()), cfg)
			waitState(t, second.app, streams.Running, 60*time.Second)
			got := storeContents(t, second.app)
			if !maps.Equal(got, want) {
				wrong := 0
				for k, v := range want {
					if got[k] != v {
						wrong++
					}
				}
				t.Errorf("restored store holds %d keys, want %d; %d keys differ or are missing", len(got), len(want), wrong)
			}
			clock.mu.Lock()
			defer clock.mu.Unlock()
			var restored, batched int64
			for _, e := range clock.ended {
				restored += e.Restored
			}
			for _, b := range clock.batch {
				batched += int64(b.Records)
			}
			if len(clock.ended) != 2 || restored < int64(len(input)) || batched != restored {
				t.Errorf("restore ends %+v: %d records restored, %d in batches; want 2 stores, at least the %d inputs "+
					"(the changelog holds each), every one reported in a batch", clock.ended, restored, batched, len(input))
			}
		})
	}
}
