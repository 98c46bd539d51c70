package main

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"time"
)

// Event is one generated input record.
type Event struct {
	Topic   string
	Patient string
	Value   []byte
	At      int64 // event time (ms); the payload says the same, or garbage
}

// Start is the generated shift's start.
var Start = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// Generate returns a reproducible ward: three patients over four minutes.
//   - bed-1 has a fever from 08:01 and 110 bpm in minutes 08:01 and 08:02
//     (the first three beats of 08:01 arrive too late to count);
//   - bed-2 has 120 bpm in 08:01 but no fever;
//   - bed-3 has a fever and a normal pulse.
//
// Temperatures are read at half past each minute. Events arrive up to a few
// seconds out of order, two beats carry an unparsable time, and a final beat
// at 08:06 lets every window close.
func Generate(seed uint64) []Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	base := Start.UnixMilli()
	var evs []Event
	beats := func(patient string, minute, bpm int) {
		step := int64(60_000 / bpm)
		for i := 0; i < bpm; i++ {
			at := base + int64(minute)*60_000 + 100 + int64(i)*step
			evs = append(evs, beat(patient, at))
		}
	}
	for m, bpm := range []int{80, 110, 110, 80} {
		beats("bed-1", m, bpm)
	}
	for m, bpm := range []int{75, 120, 75, 75} {
		beats("bed-2", m, bpm)
	}
	for m := 0; m < 4; m++ {
		beats("bed-3", m, 70)
	}
	temps := map[string][]float64{"bed-1": {98.6, 101.2, 101.2, 101.2}, "bed-2": {98.4, 98.4, 98.4, 98.4}, "bed-3": {101.0, 101.0, 101.0, 101.0}}
	for p, ts := range temps {
		for m, deg := range ts {
			at := base + int64(m)*60_000 + 30_000
			evs = append(evs, temperature(p, at, deg))
		}
	}
	// Arrival order: by event time, with a few seconds of jitter.
	arrival := make([]int64, len(evs))
	for i, e := range evs {
		arrival[i] = e.At + rng.Int64N(3_000)
	}
	// The first three beats of bed-1's 08:01 arrive after 08:02:15: late.
	late := 0
	for i, e := range evs {
		if e.Topic == PulseTopic && e.Patient == "bed-1" && e.At >= base+60_000 && e.At < base+120_000 && late < 3 {
			arrival[i] = base + 135_000
			late++
		}
	}
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return arrival[idx[a]] < arrival[idx[b]] })
	out := make([]Event, 0, len(evs)+3)
	for _, i := range idx {
		out = append(out, evs[i])
	}
	// Two beats whose time cannot be read, and the closing beat.
	bad, _ := json.Marshal(Beat{Patient: "bed-2", Time: "not a time"})
	out = append(out[:40], append([]Event{{Topic: PulseTopic, Patient: "bed-2", Value: bad, At: -1}}, out[40:]...)...)
	out = append(out[:200], append([]Event{{Topic: PulseTopic, Patient: "bed-3", Value: bad, At: -1}}, out[200:]...)...)
	out = append(out, beat("bed-3", base+6*60_000))
	return out
}

func beat(patient string, at int64) Event {
	v, _ := json.Marshal(Beat{Patient: patient, Time: time.UnixMilli(at).UTC().Format(time.RFC3339Nano)})
	return Event{Topic: PulseTopic, Patient: patient, Value: v, At: at}
}

func temperature(patient string, at int64, deg float64) Event {
	v, _ := json.Marshal(Temperature{Patient: patient, Time: time.UnixMilli(at).UTC().Format(time.RFC3339Nano), Degrees: deg, Unit: "F"})
	return Event{Topic: TempTopic, Patient: patient, Value: v, At: at}
}

// ExpectedAlerts are the alerts the generated ward must raise: bed-1's two
// fast minutes (107 counted beats in 08:01, 110 in 08:02), each joined with
// the fever readings within a minute of the minute's last beat.
var ExpectedAlerts = []Alert{
	{Patient: "bed-1", MinuteStart: "08:01:00", BPM: 107, Degrees: 101.2},
	{Patient: "bed-1", MinuteStart: "08:01:00", BPM: 107, Degrees: 101.2},
	{Patient: "bed-1", MinuteStart: "08:02:00", BPM: 110, Degrees: 101.2},
	{Patient: "bed-1", MinuteStart: "08:02:00", BPM: 110, Degrees: 101.2},
}
