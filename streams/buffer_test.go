package streams_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// A partition of large values read under a byte bound of a few records is
// paused by that bound (the record bound would never pause it) and resumed
// over and over (librdkafka drops what it prefetched on every pause and
// fetches it again on resume): every record is processed once, in offset
// order, with its value intact.
func TestBufferBytesPauseAndResumeLoseAndReorderNothing(t *testing.T) {
	const n, valueBytes = 300, 16 << 10
	c := cluster(t, map[string]int32{"big-in": 1})
	var recs []kv
	for i := range n {
		recs = append(recs, kv{"k", fmt.Sprintf("%06d", i) + strings.Repeat("v", valueBytes), int64(1000 + i)})
	}
	produce(t, c.Bootstrap(), "big-in", recs)

	var mu sync.Mutex
	var got []string
	var bad error
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "big-in")
	processor.AddProcessor(b, "collect", processor.Func(func(_ processor.Context[string, string], r record.Record[string, string]) error {
		mu.Lock()
		defer mu.Unlock()
		if len(r.Value()) != 6+valueBytes && bad == nil {
			bad = fmt.Errorf("record %q... has %d bytes, want %d", r.Value()[:6], len(r.Value()), 6+valueBytes)
		}
		got = append(got, r.Value()[:6])
		return nil
	}), "in")
	topo, err := b.Build()
	must(t, err)
	// 64 KiB: four values. The record bound (default) would never pause.
	core, logs := observer.New(zapcore.DebugLevel)
	app := start(t, topo, streams.Config{ApplicationID: "buffer-bytes", BootstrapServers: c.Bootstrap(), InputBufferMaxBytes: 64 << 10,
		Logger: zap.New(core)})

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(got)
		mu.Unlock()
		if done >= n {
			break
		}
		if app.app.State() == streams.Error {
			t.Fatalf("App failed: %v", app.stop(t))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records processed after 60s: a paused partition was not resumed", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, app.stop(t))
	mu.Lock()
	defer mu.Unlock()
	must(t, bad)
	if p := logs.FilterMessageSnippet("above InputBufferMaxBytes: pausing").Len(); p == 0 {
		t.Error("the byte bound never paused the partition")
	} else {
		t.Logf("the byte bound paused the partition %d times", p)
	}
	if len(got) != n {
		t.Fatalf("%d records processed, want %d: some were processed twice", len(got), n)
	}
	for i, v := range got {
		if want := fmt.Sprintf("%06d", i); v != want {
			t.Fatalf("record %d processed is %s, want %s: lost or reordered", i, v, want)
		}
	}
}

// A negative InputBufferMaxBytes is a configuration error that names the
// field.
func TestConfigRejectsNegativeInputBufferMaxBytesNamingIt(t *testing.T) {
	_, err := streams.New(int64Source(t), streams.Config{ApplicationID: "buffer-config", BootstrapServers: "127.0.0.1:9092",
		InputBufferMaxBytes: -1, BufferedRecordsPerPartition: -1})
	if !errors.Is(err, streams.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, field := range []string{"InputBufferMaxBytes -1 is negative", "BufferedRecordsPerPartition -1 is negative"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not say %q:\n%v", field, err)
		}
	}
}
