package streams_test

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store/rocksdb"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/window"
)

// finalCounts counts per key in 10 s tumbling windows (no grace) and emits
// only final results: "<key>@<window start>" -> count.
func finalCounts(t testing.TB) *processor.Topology {
	w, err := window.Tumbling(10*time.Second, 0)
	must(t, err)
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddProcessor(b, "count", window.Count[string, string](w, "counts"), "in").WithStores("counts")
	b.AddStore(window.TimeWindowStore(rocksdb.Window, "counts", w, record.String(), record.Int64()))
	processor.AddProcessor(b, "final", window.UntilWindowCloses[string, int64](0, "finals-buffer", record.String(), record.Int64(),
		window.BufferConfig{}), "count").WithStores("finals-buffer")
	b.AddStore(window.WindowedSuppressionStore(rocksdb.KeyValue, "finals-buffer", record.String(), record.Int64()))
	processor.AddProcessor(b, "label", processor.Func(func(ctx processor.Context[string, int64], r record.Record[window.Windowed[string], int64]) error {
		return ctx.Forward(record.WithKey(r, fmt.Sprintf("%s@%d", r.Key().Key, r.Key().Start)))
	}), "final")
	processor.AddSink(b, "out", "finals", record.String(), record.Int64(), "label")
	topo, err := b.Build()
	must(t, err)
	return topo
}

func finals(out []consumed) []string {
	var s []string
	for _, r := range out {
		s = append(s, fmt.Sprintf("%s=%d", r.key, int64(binary.BigEndian.Uint64(r.value))))
	}
	sort.Strings(s)
	return s
}

func restartMidWindow(t *testing.T, guarantee streams.Guarantee, crash bool) {
	c := cluster(t, map[string]int32{"in": 2, "finals": 1})
	dir := t.TempDir()
	cfg := streams.Config{ApplicationID: "finals", BootstrapServers: c.Bootstrap(), StateDir: dir,
		ProcessingGuarantee: guarantee, CommitInterval: 100 * time.Millisecond}
	first := start(t, finalCounts(t), cfg)
	var before []kv
	// Timestamps start at 100 ms: librdkafka sends a timestamp of 0 as "now".
	for i := 0; i < 30; i++ { // window [0s,10s): 10 each for a, b, c
		before = append(before, kv{string(rune('a' + i%3)), "x", int64(100 + i*100)})
	}
	produce(t, c.Bootstrap(), "in", before)
	waitState(t, first.app, streams.Running, 30*time.Second)
	time.Sleep(1500 * time.Millisecond) // processed and committed, window still open
	if crash {
		must(t, streams.Crash(first.app))
	} else {
		must(t, first.stop(t))
	}
	second := start(t, finalCounts(t), cfg)
	var after []kv
	for i := 0; i < 15; i++ { // the same window: 5 more each
		after = append(after, kv{string(rune('a' + i%3)), "x", int64(5000 + i*100)})
	}
	// Close the window on both partitions: a record at 12 s for every key.
	for _, k := range []string{"a", "b", "c"} {
		after = append(after, kv{k, "x", 12_000})
	}
	produce(t, c.Bootstrap(), "in", after)
	out := consumeUntil(t, c.Bootstrap(), "finals", guarantee == streams.ExactlyOnceV2, 60*time.Second,
		func(o []consumed) bool { return len(o) >= 3 }, second)
	time.Sleep(500 * time.Millisecond)
	out = consumeUntil(t, c.Bootstrap(), "finals", guarantee == streams.ExactlyOnceV2, 5*time.Second,
		func(o []consumed) bool { return len(o) >= len(out) })
	if got, want := strings.Join(finals(out), " "), "a@0=15 b@0=15 c@0=15"; got != want {
		t.Errorf("final results %q, want %q (one per window, nothing lost or repeated)", got, want)
	}
}

func TestSuppressedFinalsSurviveACleanRestartMidWindow(t *testing.T) {
	restartMidWindow(t, streams.AtLeastOnce, false)
}

func TestSuppressedFinalsSurviveAHardStopMidWindowUnderExactlyOnce(t *testing.T) {
	restartMidWindow(t, streams.ExactlyOnceV2, true)
}
