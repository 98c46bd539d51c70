package testdriver_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/punctuate"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

// boundedPipe runs fn and ends the test binary if it has not returned after
// 10 s (a punctuator firing forever never returns); the panic comes from the
// timer's goroutine so it ends the process at once.
func boundedPipe(t *testing.T, what string, fn func() error) error {
	t.Helper()
	name := t.Name()
	timer := time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("%s: %s did not return within 10s", name, what))
	})
	defer timer.Stop()
	return fn()
}

func TestStreamTimePunctuatorNearMaxInt64FiresOnceAndStops(t *testing.T) {
	var fired []int64
	p := &ticker{onInit: func(ctx processor.Context[string, string]) error {
		_, err := ctx.Schedule(time.Second, punctuate.StreamTime, func(ts int64) error {
			fired = append(fired, ts)
			if len(fired) > 10 { // fail fast rather than fire forever
				return errors.New("stream-time punctuator fires again and again")
			}
			return nil
		})
		return err
	}}
	d, in, _ := tickerDriver(t, p)
	for _, ts := range []int64{0, math.MaxInt64 - 5000, math.MaxInt64 - 1, math.MaxInt64} {
		if err := boundedPipe(t, fmt.Sprintf("Pipe at %d", ts), func() error { return in.Pipe("k", "v", ts) }); err != nil {
			t.Fatalf("Pipe at %d: %v", ts, err)
		}
	}
	// 0 and the grid points 9223372036854771000 <= MaxInt64-5000+...: fires
	// at MaxInt64-5000 (grid 9223372036854770000 passed) and MaxInt64-1
	// (grid 9223372036854775000); the next point, 9223372036854776000, is
	// past MaxInt64, so the record at MaxInt64 fires nothing.
	if got, want := fmt.Sprint(fired), "[0 9223372036854770807 9223372036854775806]"; got != want {
		t.Errorf("fired at %s, want %s", got, want)
	}
	if err := boundedPipe(t, "Close", d.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestVirtualWallClockStopsAtTheLastInt64Millisecond(t *testing.T) {
	d := newDriver(t, passThrough(), testdriver.Config{StartTime: time.UnixMilli(math.MaxInt64 - 1000)})
	must(t, d.AdvanceWallClock(time.Hour))
	if got := d.WallClockTime().UnixMilli(); got != math.MaxInt64 {
		t.Errorf("wall clock after advancing past the end: %d ms, want MaxInt64 (not wrapped)", got)
	}
	must(t, d.AdvanceWallClock(time.Duration(math.MaxInt64)))
	if got := d.WallClockTime().UnixMilli(); got != math.MaxInt64 {
		t.Errorf("wall clock after a second advance: %d ms, want MaxInt64", got)
	}
	far := newDriver(t, passThrough(), testdriver.Config{StartTime: time.Unix(1<<60, 0)})
	if got := far.WallClockTime().UnixMilli(); got != math.MaxInt64 {
		t.Errorf("a StartTime past the range starts the clock at %d ms, want MaxInt64", got)
	}
}

func TestPipeKeyValuesPastMaxInt64IsAnErrorNotAWrappedTimestamp(t *testing.T) {
	// Log-and-skip would drop a wrapped (negative) timestamp quietly.
	d := newDriver(t, passThrough(), testdriver.Config{DefaultTimestampExtractor: record.LogAndSkipOnInvalidTimestamp()})
	in := testdriver.CreateInputTopic(d, "in", record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, "out", record.String(), record.String())
	err := in.PipeKeyValues(math.MaxInt64-1, 1,
		testdriver.KV[string, string]{Key: "a", Value: "1"}, testdriver.KV[string, string]{Key: "b", Value: "2"},
		testdriver.KV[string, string]{Key: "c", Value: "3"})
	if err == nil || !strings.Contains(err.Error(), "past the int64 range") {
		t.Errorf("err = %v, want one saying the third timestamp is past the int64 range", err)
	}
	rs, rerr := out.ReadRecords()
	must(t, rerr)
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s@%d", r.Key(), r.Timestamp()))
	}
	if want := "a@9223372036854775806 b@9223372036854775807"; strings.Join(got, " ") != want {
		t.Errorf("piped %v, want %s", got, want)
	}
}

// passThrough is in -> out.
func passThrough() *processor.Builder {
	b := processor.NewBuilder()
	processor.AddSource(b, "src", record.String(), record.String(), "in")
	processor.AddSink(b, "sink", "out", record.String(), record.String(), "src")
	return b
}
