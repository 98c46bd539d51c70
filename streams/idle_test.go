package streams_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// TestIdleAppFetchesAtABoundedRate proves the default consumer settings
// do not turn an idle App into a busy fetch loop: with nothing to read,
// the broker's long poll (fetch.wait.max.ms) paces the fetches, so an idle
// App sends a bounded number of fetch requests per second.
func TestIdleAppFetchesAtABoundedRate(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second), kfake.SeedTopics(4, "idle-in", "idle-out"))
	must(t, err)
	t.Cleanup(kc.Close)
	var fetches atomic.Int64
	kc.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		fetches.Add(1)
		return nil, nil, false // counted, then served as usual
	})

	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "idle-in")
	processor.AddSink(b, "sink", "idle-out", record.String(), record.String(), "src")
	topo, err := b.Build()
	must(t, err)
	app := start(t, topo, streams.Config{ApplicationID: "idle", BootstrapServers: kc.ListenAddrs()[0]})
	waitState(t, app.app, streams.Running, 30*time.Second)

	const window = 3 * time.Second
	before := fetches.Load()
	began := time.Now()
	for time.Since(began) < window {
		if app.app.State() != streams.Running {
			t.Fatalf("App left Running while idle: %v", app.app.State())
		}
		time.Sleep(50 * time.Millisecond) // sampling the state, not synchronising
	}
	perSecond := float64(fetches.Load()-before) / time.Since(began).Seconds()
	t.Logf("idle App: %.1f fetch requests/s", perSecond)
	// One broker, one fetch session, fetch.wait.max.ms 50 at least: 20/s;
	// a busy loop would be in the thousands.
	if perSecond > 40 {
		t.Fatalf("idle App sent %.1f fetch requests/s; want at most 40 (the broker's long poll should pace them)", perSecond)
	}
}
