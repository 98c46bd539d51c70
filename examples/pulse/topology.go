package main

import (
	"fmt"
	"time"

	"go.uber.org/zap"

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

// NewTopology builds the patient-monitoring pipeline:
//
//	pulse-events --(event time from payload)--> count beats per patient per
//	minute (60 s tumbling, 10 s grace) --> suppress until the minute closes
//	--> keep minutes above 100 bpm, keyed by patient --\
//	                                                     join within 1 min --> fever? --> alerts
//	body-temp-events --(event time from payload)------/
//
// backend chooses where windowed state lives (rocksdb.Window or
// store.InMemoryWindow); kv likewise for the suppression and join buffers.
func NewTopology(windows window.WindowBackend, kv window.KeyValueBackend) (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "pulse", record.String(), record.JSON[Beat](), PulseTopic).
		WithValueTimestamp(func(_ string, v Beat, _ *record.ConsumerRecord, _ int64) (int64, error) {
			return eventTime(v.Time), nil
		})
	processor.AddSource(b, "temperature", record.String(), record.JSON[Temperature](), TempTopic).
		WithValueTimestamp(func(_ string, v Temperature, _ *record.ConsumerRecord, _ int64) (int64, error) {
			return eventTime(v.Time), nil
		})

	processor.AddProcessor(b, "beats-per-minute", window.Count[string, Beat](minute, "pulse-counts"), "pulse").
		WithStores("pulse-counts")
	b.AddStore(window.TimeWindowStore(windows, "pulse-counts", minute, record.String(), record.Int64()))

	processor.AddProcessor(b, "final-bpm", window.UntilWindowCloses[string, int64](10*time.Second, "bpm-buffer",
		record.String(), record.Int64(), window.BufferConfig{}), "beats-per-minute").WithStores("bpm-buffer")
	b.AddStore(window.WindowedSuppressionStore(kv, "bpm-buffer", record.String(), record.Int64()))

	processor.AddProcessor(b, "high-pulse", processor.Func(highPulse), "final-bpm")

	names := window.JoinStoreNames{Left: "pulse-join", Right: "temp-join"}
	left, right := window.Join[string, minuteBPM, Temperature, Alert](window.InnerJoin, joinSpan, names,
		func(patient string, m *minuteBPM, t *Temperature) Alert {
			return Alert{Patient: patient, MinuteStart: time.UnixMilli(m.Start).UTC().Format(time.TimeOnly), BPM: m.BPM, Degrees: t.Degrees}
		}, record.String(), record.JSON[minuteBPM](), record.JSON[Temperature]())
	processor.AddProcessor(b, "join-pulse", left, "high-pulse").WithStores(names.Left, names.Right)
	processor.AddProcessor(b, "join-temperature", right, "temperature").WithStores(names.Left, names.Right)
	for _, sb := range window.JoinStores(windows, kv, names, joinSpan, record.String(), record.JSON[minuteBPM](), record.JSON[Temperature]()) {
		b.AddStore(sb)
	}

	processor.AddProcessor(b, "fever", processor.Func(func(ctx processor.Context[string, Alert], r record.Record[string, Alert]) error {
		if r.Value().Degrees <= Fever {
			return nil
		}
		ctx.Logger().Info("alert", zap.String("patient", r.Key()), zap.Int64("bpm", r.Value().BPM),
			zap.Float64("degrees", r.Value().Degrees))
		return ctx.Forward(r)
	}), "join-pulse", "join-temperature")
	processor.AddSink(b, "alerts", AlertTopic, record.String(), record.JSON[Alert](), "fever")
	return b.Build()
}

// minuteBPM is a minute's beat count, with the minute's start.
type minuteBPM struct {
	Start int64 `json:"start"`
	BPM   int64 `json:"bpm"`
}

// highPulse keeps final per-minute counts above HighPulse, rekeyed from the
// windowed key to the patient id.
func highPulse(ctx processor.Context[string, minuteBPM], r record.Record[window.Windowed[string], int64]) error {
	if r.ValueIsNull() || r.Value() <= HighPulse {
		return nil
	}
	return ctx.Forward(record.WithValue(window.Unwindow(r), minuteBPM{Start: r.Key().Start, BPM: r.Value()}))
}

// String formats an alert for the console.
func (a Alert) String() string {
	return fmt.Sprintf("patient %s: %d bpm in the minute from %s, temperature %.1f°F", a.Patient, a.BPM, a.MinuteStart, a.Degrees)
}
