package main

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/window"
)

// Topics of the pipeline.
const (
	PulseTopic = "pulse-events"     // key: patient id, value: Beat as JSON
	TempTopic  = "body-temp-events" // key: patient id, value: Temperature as JSON
	AlertTopic = "alerts"           // key: patient id, value: Alert as JSON
)

// Thresholds of an alert.
const (
	HighPulse = 100   // beats per minute, exclusive
	Fever     = 100.4 // °F, exclusive
)

// Beat is one heartbeat; its event time is in the payload.
type Beat struct {
	Patient string `json:"patient"`
	Time    string `json:"time"` // RFC 3339
}

// Temperature is one body-temperature reading.
type Temperature struct {
	Patient string  `json:"patient"`
	Time    string  `json:"time"` // RFC 3339
	Degrees float64 `json:"degrees"`
	Unit    string  `json:"unit"` // "F"
}

// Alert is what the pipeline emits: a minute with a high pulse and a fever
// reading within a minute of it.
type Alert struct {
	Patient     string  `json:"patient"`
	MinuteStart string  `json:"minute_start"`
	BPM         int64   `json:"bpm"`
	Degrees     float64 `json:"degrees"`
}

// eventTime reads the RFC 3339 time in a payload; an unparsable time gives
// -1, so the task skips the record and counts it (invalid timestamp).
func eventTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UnixMilli() < 0 {
		return -1
	}
	return t.UnixMilli()
}

// Windowing of the pipeline.
var (
	minute   = mustTumbling(time.Minute, 10*time.Second)
	joinSpan = mustJoin(time.Minute, 10*time.Second)
)

func mustTumbling(size, grace time.Duration) window.TimeWindows {
	w, err := window.Tumbling(size, grace)
	if err != nil {
		panic(err)
	}
	return w
}

func mustJoin(within, grace time.Duration) window.JoinWindows {
	w, err := window.JoinWithin(within, grace)
	if err != nil {
		panic(err)
	}
	return w
}

// NewTopology builds the patient-monitoring pipeline, in the DSL, as the
// Kafka Streams original reads:
//
//	pulse-events (event time from the payload)
//	  groupByKey . windowedBy(60 s tumbling, 10 s grace) . count
//	  . suppress(untilWindowCloses(unbounded, shut down when full))
//	  . toStream . filter(bpm > 100) . map(to the patient id)
//	  . join(body-temp-events, within 1 min) . filter(fever) --> alerts
//
// The window is defined once: the count's store and the suppression's
// close time come from it. The rekeying map is a key change, so the join
// repartitions the pulse side, as Kafka Streams does. inMemory keeps the
// state in memory instead of RocksDB (both changelogged).
func NewTopology(inMemory bool) (*processor.Topology, error) {
	b := dsl.NewBuilder()
	dsl.RegisterSerde(b, record.JSON[minuteBPM]())
	dsl.RegisterSerde(b, record.JSON[Alert]())
	var backend []dsl.Option
	if inMemory {
		backend = append(backend, dsl.InMemory())
	}
	with := func(opts ...dsl.Option) []dsl.Option { return append(opts, backend...) }

	pulse := dsl.FromTopics(b, []string{PulseTopic}, record.String(), record.JSON[Beat](),
		dsl.WithValueTimestamp(func(_ string, v Beat) (int64, error) { return eventTime(v.Time), nil }))
	temperature := dsl.FromTopics(b, []string{TempTopic}, record.String(), record.JSON[Temperature](),
		dsl.WithValueTimestamp(func(_ string, v Temperature) (int64, error) { return eventTime(v.Time), nil }))

	perMinute := dsl.CountWindows(dsl.WindowedBy(dsl.GroupByKey(pulse), minute), with(dsl.As("pulse-counts"))...)
	final := dsl.Suppress(perMinute, dsl.UntilWindowCloses(window.Unbounded().ShutDownWhenFull()), dsl.As("bpm-buffer"))
	high := dsl.Filter(dsl.ToStream(final), func(_ dsl.Windowed[string], bpm int64) bool { return bpm > HighPulse })
	byPatient := dsl.Map(high, func(w dsl.Windowed[string], bpm int64) (string, minuteBPM) {
		return w.Key, minuteBPM{Start: w.Start, BPM: bpm}
	}, dsl.Named("by-patient"))

	alerts := dsl.Join(byPatient, temperature, func(m minuteBPM, t Temperature) Alert {
		return Alert{MinuteStart: time.UnixMilli(m.Start).UTC().Format(time.TimeOnly), BPM: m.BPM, Degrees: t.Degrees}
	}, joinSpan, with(dsl.As("pulse-temp"), dsl.Named("pulse-temp"))...)
	fever := dsl.Filter(dsl.MapValuesWithKey(alerts, func(patient string, a Alert) Alert { a.Patient = patient; return a }),
		func(_ string, a Alert) bool { return a.Degrees > Fever })
	dsl.To(dsl.Peek(fever, logAlert), AlertTopic)
	return b.Build()
}

// logAlert logs each alert on the standard logger of the example.
func logAlert(patient string, a Alert) {
	alertLog.Info("alert", zap.String("patient", patient), zap.Int64("bpm", a.BPM), zap.Float64("degrees", a.Degrees))
}

// alertLog is where alerts are logged; main sets it.
var alertLog = zap.NewNop()

// minuteBPM is a minute's beat count, with the minute's start.
type minuteBPM struct {
	Start int64 `json:"start"`
	BPM   int64 `json:"bpm"`
}

// String formats an alert for the console.
func (a Alert) String() string {
	return fmt.Sprintf("patient %s: %d bpm in the minute from %s, temperature %.1f°F", a.Patient, a.BPM, a.MinuteStart, a.Degrees)
}
