package main

import (
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/window"
)

// Topics of the example.
const (
	ClicksTopic   = "clicks"        // key: user, value: page; the record time is the click's
	SessionsTopic = "user-sessions" // key: session-windowed user, value: clicks in the session (int64)
	PagesTopic    = "page-views"    // key: time-windowed page, value: final views in the window (int64)
)

// Windowing of the example, each defined once.
var (
	// A session ends after 5 minutes without a click; clicks up to 10
	// minutes late still join (and may merge) sessions.
	sessions = must(window.Sessions(5*time.Minute, 10*time.Minute))
	// Page views over 10 minutes, every 5 minutes; a window closes 10
	// minutes after its end (clicks of several users reach a page's task
	// through a repartition, out of order).
	views = must(window.Hopping(10*time.Minute, 5*time.Minute, 10*time.Minute))
)

func must[W any](w W, err error) W {
	if err != nil {
		panic(err)
	}
	return w
}

// NewTopology counts clicks per user session (a later click that bridges
// two sessions merges them, and the merged-away session is retracted with
// a tombstone) and page views per hopping window, emitting each window's
// count once, when it closes, without a suppression buffer (EmitFinal).
// Both results go to topics with Kafka Streams' windowed key layouts.
func NewTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	clicks := dsl.FromTopics(b, []string{ClicksTopic}, record.String(), record.String())

	perSession := dsl.CountSessions(dsl.SessionWindowedBy(dsl.GroupByKey(clicks), sessions), dsl.As("user-sessions"))
	dsl.To(dsl.ToStream(perSession), SessionsTopic)

	byPage := dsl.GroupBy(clicks, func(_, page string) string { return page }, dsl.Named("clicks-by-page"))
	perWindow := dsl.CountWindows(dsl.WindowedBy(byPage, views), dsl.As("page-views"), dsl.EmitFinal())
	dsl.To(dsl.ToStream(perWindow), PagesTopic)
	return b.Build()
}

// Serdes of the output topics' keys, for readers.
var (
	SessionKeys = window.SessionWindowedSerde(record.String())
	PageKeys    = window.TimeWindowedSerde(record.String(), int64(10*time.Minute/time.Millisecond))
)
