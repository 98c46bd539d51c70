//go:build cgo

package dsl_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/window"
)

func TestWindowAndSessionStoresAreQueryableByNameOnTheBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"taps": 2, "tap-counts": 2, "tap-sessions": 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	b := dsl.NewBuilder()
	g := dsl.GroupByKey(dsl.FromTopics(b, []string{"taps"}, record.String(), record.String()))
	tw := mustW(window.Tumbling(time.Minute, 0))
	se := mustW(window.Sessions(time.Minute, 0))
	dsl.To(dsl.ToStream(dsl.CountWindows(dsl.WindowedBy(g, tw), dsl.As("tap-windows"))), "tap-counts")
	dsl.To(dsl.ToStream(dsl.CountSessions(dsl.SessionWindowedBy(g, se), dsl.As("tap-sessions-store"))), "tap-sessions")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	apps := brokerApps(t, cl, "dsl-windows", topo, 1)
	base := time.UnixMilli(1_700_000_040_000) // a minute boundary
	var recs []bkv
	for i := 0; i < 10; i++ {
		recs = append(recs, bkv{key: []byte(fmt.Sprintf("user-%d", i%2)), value: []byte("tap"), ts: base.Add(time.Duration(i) * time.Second)})
	}
	produce(t, cl, "taps", recs)
	n := 0
	readUntil(t, cl, "tap-sessions", 60*time.Second, func(_, _ []byte) bool { n++; return n >= 2 })
	start := base.UnixMilli() / 60_000 * 60_000
	deadline := time.Now().Add(30 * time.Second)
	var wc, sc int64
	for time.Now().Before(deadline) {
		ws, err1 := streams.WindowStore[string, int64](apps[0], "tap-windows")
		ss, err2 := streams.SessionStore[string, int64](apps[0], "tap-sessions-store")
		if err1 == nil && err2 == nil {
			wc, _, _ = ws.Fetch("user-0", start)
			sc = 0
			if it, err := ss.Fetch("user-0"); err == nil {
				for it.Next() {
					sc += it.Value()
				}
				it.Close()
			}
			if wc == 5 && sc == 5 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if wc != 5 || sc != 5 {
		t.Errorf("user-0: window count %d, session count %d; want 5 and 5", wc, sc)
	}
	if _, err := streams.WindowStore[string, int64](apps[0], "tap-sessions-store"); err == nil {
		t.Error("a session store was queried as a window store")
	}
}
