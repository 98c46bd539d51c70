package main

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/streams"
	"github.com/millrace/millrace/testdriver"
)

func TestWordCountTopologyCountsEveryWord(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, LinesTopic, record.String(), record.String())
	for i, line := range []string{"a b a", "B c"} {
		if err := in.Pipe(strconv.Itoa(i), line, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := testdriver.KeyValueStore[string, store.ValueAndTimestamp[int64]](d, CountStore)
	if err != nil {
		t.Fatal(err)
	}
	for w, want := range map[string]int64{"a": 2, "b": 2, "c": 1} {
		if n, _, err := counts.Get(w); err != nil || n.Value != want {
			t.Errorf("%s = %d (%v), want %d", w, n.Value, err, want)
		}
	}
}

// lines are the test's input: word i occurs i+1 times, spread over lines.
func lines(words int) ([]record.Record[string, string], map[string]int64) {
	want := map[string]int64{}
	var recs []record.Record[string, string]
	var line []byte
	for i := range words {
		for range i + 1 {
			w := fmt.Sprintf("w%02d", i)
			want[w]++
			line = append(append(line, w...), ' ')
			if len(line) > 60 {
				r, _ := record.New(strconv.Itoa(len(recs)), string(line), int64(len(recs)+1))
				recs = append(recs, r)
				line = nil
			}
		}
	}
	r, _ := record.New(strconv.Itoa(len(recs)), string(line), int64(len(recs)+1))
	return append(recs, r), want
}

// askAll asks every word through in and checks the counts, once they are
// complete; it returns the answers.
func askAll(t *testing.T, client *http.Client, in *Instance, want map[string]int64) map[string]Count {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	got := map[string]Count{}
	for w, n := range want {
		for {
			c, err := Ask(client, in.Addr, w, deadline)
			if err != nil {
				t.Fatalf("asking %s for %q: %v", in.Addr, w, err)
			}
			if c.Word != w {
				t.Fatalf("asked %s for %q, got the count of %q", in.Addr, w, c.Word)
			}
			if c.Count > n {
				t.Fatalf("%s counts %q %d times, want %d", in.Addr, w, c.Count, n)
			}
			if c.Count == n {
				got[w] = c
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s counts %q %d times after 60s, want %d", in.Addr, w, c.Count, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got
}

// holder returns the address of the instance whose App runs the task of
// the store holding word.
func holder(t *testing.T, word string, ins ...*Instance) string {
	t.Helper()
	md, err := streams.MetadataForKey(ins[0].App, CountStore, word, record.String())
	if err != nil {
		t.Fatal(err)
	}
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	sub := -1
	for _, st := range topo.Subtopologies() {
		if slices.Contains(st.Stores, CountStore) {
			sub = st.ID
		}
	}
	for _, in := range ins {
		for _, id := range in.App.LocalTasks() {
			if id.Partition == md.Partition && id.Subtopology == sub {
				return in.Addr
			}
		}
	}
	return "none"
}

// Two instances answer for every word, each from its store or by
// forwarding to the other; once one closes, the other holds every word
// and answers alone, with the counts restored from the changelogs.
func TestEveryInstanceAnswersForEveryWordAndTheSurvivorAfterAClose(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.CreateTopic(LinesTopic, 4); err != nil {
		t.Fatal(err)
	}
	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	var ins []*Instance
	for range 2 {
		in, err := StartInstance(cl.Bootstrap(), t.TempDir(), logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := in.Close(); err != nil {
				t.Errorf("closing %s: %v", in.Addr, err)
			}
		})
		ins = append(ins, in)
	}
	recs, want := lines(24)
	if err := kafkatest.Produce(cl, LinesTopic, record.String(), record.String(), recs...); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}

	// Wait for the assignment to settle over both instances, then ask
	// every word of both.
	deadline := time.Now().Add(60 * time.Second)
	for len(ins[0].App.LocalTasks()) == 0 || len(ins[1].App.LocalTasks()) == 0 ||
		ins[0].App.State() != streams.Running || ins[1].App.State() != streams.Running {
		if time.Now().After(deadline) {
			t.Fatalf("the tasks did not spread over both instances: %v and %v", ins[0].App.LocalTasks(), ins[1].App.LocalTasks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	forwarded := 0
	for _, in := range ins {
		for w, c := range askAll(t, client, in, want) {
			if h := holder(t, w, ins...); c.ServedBy != h {
				t.Errorf("%q asked of %s was served by %s; it is held by %s", w, in.Addr, c.ServedBy, h)
			}
			switch {
			case c.ServedBy == in.Addr && c.Via != "":
				t.Errorf("%q was served by %s, which was asked, yet forwarded via %s", w, c.ServedBy, c.Via)
			case c.ServedBy != in.Addr && c.Via != in.Addr:
				t.Errorf("%q asked of %s was served by %s but not forwarded by it (via %q)", w, in.Addr, c.ServedBy, c.Via)
			case c.Via != "":
				forwarded++
			}
		}
	}
	if forwarded == 0 {
		t.Error("no query was forwarded: every word was held by the instance asked")
	}

	// One instance leaves; the survivor takes every task and answers for
	// every word itself, with the counts the other held restored.
	if err := ins[1].Close(); err != nil {
		t.Fatal(err)
	}
	survivor := ins[0]
	deadline = time.Now().Add(60 * time.Second)
	for n := len(survivor.App.LocalTasks()); n != 8; n = len(survivor.App.LocalTasks()) {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor runs %v, want every task of both sub-topologies", survivor.App.LocalTasks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := askAll(t, client, survivor, want)
	served := map[string]int64{}
	for w, c := range got {
		if c.ServedBy != survivor.Addr || c.Via != "" {
			t.Errorf("after the close, %q was served by %s via %q; want the survivor %s", w, c.ServedBy, c.Via, survivor.Addr)
		}
		served[w] = c.Count
		md, err := streams.MetadataForKey(survivor.App, CountStore, w, record.String())
		if err != nil || md.Active != survivor.App.HostInfo() {
			t.Errorf("MetadataForKey(%q) = %+v, %v; want the survivor", w, md, err)
		}
	}
	if !reflect.DeepEqual(served, want) {
		t.Errorf("counts after the close %v, want %v", served, want)
	}
	all, err := survivor.App.AllMetadata()
	if err != nil || len(all) != 1 || all[0].Host != survivor.App.HostInfo() {
		t.Errorf("AllMetadata after the close = %+v, %v; want the survivor alone", all, err)
	}
}

func TestRunOnEmbeddedBrokerAnswersFromEveryInstance(t *testing.T) {
	if err := run("", t.TempDir(), 2, false); err != nil {
		t.Fatal(err)
	}
}
