package window_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
	"github.com/millrace/millrace/window"
)

type loggedWrite struct {
	store      string
	key, value []byte
	ts         int64
}

// changelogCapture is a ChangelogWriter keeping what stores log.
type changelogCapture struct{ writes []loggedWrite }

func (c *changelogCapture) Log(s string, key, value []byte, ts int64) error {
	var v []byte
	if value != nil {
		v = append([]byte{}, value...)
	}
	c.writes = append(c.writes, loggedWrite{s, append([]byte{}, key...), v, ts})
	return nil
}

// textCollector keeps what sinks send as "key=value@ts".
type textCollector struct{ out []string }

func (c *textCollector) Send(_ string, _ int32, key, value []byte, _ record.Headers, ts int64) error {
	c.out = append(c.out, fmt.Sprintf("%s=%s@%d", key, value, ts))
	return nil
}
func (c *textCollector) PartitionCount(string) (int32, error) { return 1, nil }

// TestJoinBuffersRestoreFromTheirChangelogs runs a left join on in-memory
// buffers (the changelog is the only durable copy), restores a new task
// from what the first one logged, and checks the restored buffers join
// with new records exactly as the lost ones would have: the index is
// rebuilt from the restored store. It also checks what the buffers log:
// each record once, at its own timestamp, at the commit, and nothing for a
// record that expired before the commit.
func TestJoinBuffersRestoreFromTheirChangelogs(t *testing.T) {
	w := mw(window.JoinWithin(10*time.Millisecond, 0))
	names := window.JoinStoreNames{Left: "left-buf", Right: "right-buf", Unmatched: "unmatched"}
	left, right := window.Join[string, string, string, string](window.LeftJoin, w, names, func(_ string, l, r *string) string {
		rs := "null"
		if r != nil {
			rs = *r
		}
		return *l + "+" + rs
	}, record.String(), record.String(), record.String())
	bld := processor.NewBuilder()
	processor.AddSource(bld, "l", record.String(), record.String(), "left")
	processor.AddSource(bld, "r", record.String(), record.String(), "right")
	processor.AddProcessor(bld, "join-left", left, "l").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddProcessor(bld, "join-right", right, "r").WithStores(names.Left, names.Right, names.Unmatched)
	processor.AddSink(bld, "out", "joined", record.String(), record.String(), "join-left", "join-right")
	for _, sb := range window.JoinStores(store.InMemoryWindow, store.InMemoryKeyValue, names, w, record.String(), record.String(), record.String()) {
		bld.AddStore(sb)
	}
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	start := func(log store.ChangelogWriter, restore []loggedWrite) (*task.Task, *textCollector) {
		col := &textCollector{}
		tk, err := task.New(task.Config{Topology: topo, Collector: col, StateDir: t.TempDir(), Changelog: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tk.Close() })
		if err := tk.InitializeStores(); err != nil {
			t.Fatal(err)
		}
		for _, lw := range restore {
			s, ok := tk.Store(lw.store)
			if !ok {
				t.Fatalf("no store %s", lw.store)
			}
			target, ok := store.RestoreTarget(s)
			if !ok {
				t.Fatalf("store %s has no restore target", lw.store)
			}
			if err := target.Put(lw.key, lw.value); err != nil {
				t.Fatal(err)
			}
		}
		if err := tk.CompleteRestoration(); err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{"left", "right"} {
			if err := tk.SetLag(topic, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		return tk, col
	}
	offsets := map[string]int64{}
	feed := func(tk *task.Task, topic, key, value string, ts int64) {
		t.Helper()
		if err := tk.AddRecords(topic, 0, []record.ConsumerRecord{{Topic: topic, Key: []byte(key), Value: []byte(value),
			Timestamp: ts, Offset: offsets[topic]}}); err != nil {
			t.Fatal(err)
		}
		offsets[topic]++
		for {
			ok, err := tk.Process()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
		}
	}

	log := &changelogCapture{}
	tk, col := start(log, nil)
	feed(tk, "left", "old", "O", 10) // unmatched; expired from the buffer by the commit
	feed(tk, "left", "k", "L1", 100)
	feed(tk, "left", "m", "M1", 101)
	feed(tk, "right", "r", "R0", 102)
	if _, err := tk.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(col.out, " "); got != "old=O+null@10" {
		t.Errorf("first task's output: %s", got)
	}
	var buffered []string
	for _, lw := range log.writes {
		if lw.store != names.Unmatched {
			buffered = append(buffered, fmt.Sprintf("%s@%d", lw.store, lw.ts))
		}
	}
	if got, want := strings.Join(buffered, " "), "left-buf@100 left-buf@101 right-buf@102"; got != want {
		t.Errorf("buffers logged %s, want %s", got, want)
	}
	if err := tk.Close(); err != nil {
		t.Fatal(err)
	}

	offsets = map[string]int64{}
	tk2, col2 := start(nil, log.writes)
	feed(tk2, "right", "k", "R1", 105) // pairs with L1 from the restored left buffer
	feed(tk2, "left", "r", "L2", 103)  // pairs with R0 from the restored right buffer
	feed(tk2, "right", "z", "Z", 200)  // closes M1's window: unmatched, once
	if got, want := strings.Join(col2.out, " "), "k=L1+R1@105 r=L2+R0@103 m=M1+null@101"; got != want {
		t.Errorf("restored task's output:\n got  %s\n want %s", got, want)
	}
}
