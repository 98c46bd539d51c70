package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixMilli()

func at(min, sec int) int64 { return t0 + int64(min)*60_000 + int64(sec)*1000 }

func TestSessionsMergeAndPageViewsAreEmittedOnceWhenTheirWindowsClose(t *testing.T) {
	topo, err := NewTopology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, ClicksTopic, record.String(), record.String())
	for _, c := range []struct {
		user, page string
		ts         int64
	}{
		{"ada", "/home", at(0, 0)},
		{"ada", "/docs", at(2, 0)},  // extends ada's session: within 5 min
		{"bob", "/home", at(3, 0)},  // bob's first session
		{"ada", "/home", at(12, 0)}, // a new session for ada
		{"ada", "/docs", at(7, 0)},  // out of order: bridges ada's two sessions (5 min from each)
		{"bob", "/docs", at(21, 0)}, // closes the page windows ending by 08:11 (grace 10 min)
		{"bob", "/home", at(30, 0)}, // and these those ending by 08:20
		{"bob", "/docs", at(30, 0)},
	} {
		if err := in.Pipe(c.user, c.page, c.ts); err != nil {
			t.Fatal(err)
		}
	}
	var gotSessions []string
	srecs, err := testdriver.CreateOutputTopic(d, SessionsTopic, SessionKeys, record.Int64()).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range srecs {
		w := r.Key()
		v := "deleted"
		if !r.ValueIsNull() {
			v = fmt.Sprint(r.Value())
		}
		gotSessions = append(gotSessions, fmt.Sprintf("%s %s-%s %s", w.Key, utcClock(w.Start), utcClock(w.End), v))
	}
	wantSessions := []string{
		"ada 08:00:00-08:00:00 1",
		// 08:02 extends it: the old session is retracted, the longer one counted
		"ada 08:00:00-08:00:00 deleted",
		"ada 08:00:00-08:02:00 2",
		"bob 08:03:00-08:03:00 1",
		"ada 08:12:00-08:12:00 1",
		// the out-of-order 08:07 merges 08:00-08:02 and 08:12 into one session
		"ada 08:00:00-08:02:00 deleted",
		"ada 08:12:00-08:12:00 deleted",
		"ada 08:00:00-08:12:00 4",
		"bob 08:21:00-08:21:00 1",
		"bob 08:30:00-08:30:00 1",
		"bob 08:30:00-08:30:00 2",
	}
	if !slices.Equal(gotSessions, wantSessions) {
		t.Errorf("sessions:\n%q\nwant\n%q", gotSessions, wantSessions)
	}

	var gotPages []string
	precs, err := testdriver.CreateOutputTopic(d, PagesTopic, PageKeys, record.Int64()).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range precs {
		gotPages = append(gotPages, fmt.Sprintf("%s %s-%s %d", r.Key().Key, utcClock(r.Key().Start), utcClock(r.Key().End), r.Value()))
	}
	// Each window once, when it closes (end + 10 min grace): at 08:21
	// those ending by 08:11, at 08:30 those ending by 08:20. The click at
	// 08:07 came out of order, within grace: it counts in 08:00-08:10 too.
	wantPages := []string{
		"/docs 07:55:00-08:05:00 1", "/home 07:55:00-08:05:00 2",
		"/docs 08:00:00-08:10:00 2", "/home 08:00:00-08:10:00 2",
		"/docs 08:05:00-08:15:00 1", "/home 08:05:00-08:15:00 1",
		"/home 08:10:00-08:20:00 1",
	}
	if !slices.Equal(gotPages, wantPages) {
		t.Errorf("page views:\n%q\nwant\n%q", gotPages, wantPages)
	}
}

func utcClock(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.TimeOnly) }

func TestRunOnEmbeddedBrokerPrintsSessionsAndPageViews(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	if err := run("", false); err != nil {
		t.Fatal(err)
	}
}
