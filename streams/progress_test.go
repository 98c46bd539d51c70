package streams_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/streams"
)

// fakeTime is a clock the test moves.
type fakeTime struct{ t time.Time }

func (f *fakeTime) now() time.Time                { return f.t }
func (f *fakeTime) add(d time.Duration) *fakeTime { f.t = f.t.Add(d); return f }

// restoreRound plays three stores restoring in one round: a of 600 k
// offsets and b of 400 k, 100 k each per 100 ms, then c of 200 k, which
// starts once b is done and before a is.
func restoreRound(p *streams.RestorePrinter, clock *fakeTime) {
	a, b, c := processor.TaskID{Partition: 0}, processor.TaskID{Partition: 1}, processor.TaskID{Partition: 2}
	p.OnRestoreStart(streams.RestoreStart{Task: a, Store: "s", StartOffset: 0, EndOffset: 600_000})
	p.OnRestoreStart(streams.RestoreStart{Task: b, Store: "s", StartOffset: 100, EndOffset: 400_100})
	for i := int64(1); i <= 6; i++ {
		clock.add(100 * time.Millisecond)
		p.OnRestoreBatch(streams.RestoreBatch{Task: a, Store: "s", BatchEndOffset: i*100_000 - 1, Records: 100_000})
		if i <= 4 {
			p.OnRestoreBatch(streams.RestoreBatch{Task: b, Store: "s", BatchEndOffset: 100 + i*100_000 - 1, Records: 100_000})
		}
	}
	p.OnRestoreEnd(streams.RestoreEnd{Task: b, Store: "s", Restored: 400_000})
	p.OnRestoreStart(streams.RestoreStart{Task: c, Store: "s", StartOffset: 0, EndOffset: 200_000})
	p.OnRestoreEnd(streams.RestoreEnd{Task: a, Store: "s", Restored: 600_000})
	clock.add(100 * time.Millisecond)
	p.OnRestoreBatch(streams.RestoreBatch{Task: c, Store: "s", BatchEndOffset: 199_999, Records: 200_000})
	p.OnRestoreEnd(streams.RestoreEnd{Task: c, Store: "s", Restored: 200_000})
}

func TestRestorePrinterWritesALineEveryIntervalAndAFinalOne(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeTime{t: time.Unix(1000, 0)}
	live := false
	p := streams.NewRestorePrinter(&out, streams.RestorePrinterOptions{Live: &live, Interval: 300 * time.Millisecond, Now: clock.now})
	restoreRound(p, clock)
	want := []string{
		"restoring: 0/1 stores, 0/600 k records, 0 rec/s",
		"restoring: 0/2 stores, 500 k/1.0 M records, 1.7 M rec/s", // 500 k written in 300 ms
		"restoring: 0/2 stores, 1.0 M/1.0 M records, 1.7 M rec/s", // 1 M in 600 ms
		"restored: 3/3 stores, 1.2 M records in 700ms, 1.7 M rec/s",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRestorePrinterOnATerminalRewritesOneLine(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeTime{t: time.Unix(1000, 0)}
	live := true
	p := streams.NewRestorePrinter(&out, streams.RestorePrinterOptions{Live: &live, Interval: 300 * time.Millisecond, Now: clock.now})
	restoreRound(p, clock)
	s := out.String()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") || strings.Count(s, "\r") != 4 {
		t.Fatalf("output %q: want 4 updates of one line (carriage returns), ended by one newline", s)
	}
	// The final line is longer than none of those before: nothing to
	// erase; a shorter line after a longer one is padded over it.
	parts := strings.Split(strings.TrimSuffix(s, "\n"), "\r")
	if last := parts[len(parts)-1]; strings.TrimRight(last, " ") != "restored: 3/3 stores, 1.2 M records in 700ms, 1.7 M rec/s" {
		t.Errorf("last update %q", last)
	}
	for i := 2; i < len(parts); i++ {
		if len(parts[i]) < len(strings.TrimRight(parts[i-1], " ")) {
			t.Errorf("update %q does not cover the one before, %q", parts[i], parts[i-1])
		}
	}
	// A second round starts afresh.
	out.Reset()
	clock.add(time.Minute)
	p.OnRestoreStart(streams.RestoreStart{Task: processor.TaskID{}, Store: "t", StartOffset: 0, EndOffset: 10})
	if got := out.String(); got != "\rrestoring: 0/1 stores, 0/10 records, 0 rec/s" {
		t.Errorf("second round's first update %q", got)
	}
}

func TestRestorePrinterDropsASuspendedStoreFromTheRound(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeTime{t: time.Unix(1000, 0)}
	live := false
	p := streams.NewRestorePrinter(&out, streams.RestorePrinterOptions{Live: &live, Interval: time.Hour, Now: clock.now})
	a, b := processor.TaskID{Partition: 0}, processor.TaskID{Partition: 1}
	p.OnRestoreStart(streams.RestoreStart{Task: a, Store: "s", EndOffset: 100})
	p.OnRestoreStart(streams.RestoreStart{Task: b, Store: "s", EndOffset: 100})
	clock.add(time.Second)
	p.OnRestoreEnd(streams.RestoreEnd{Task: a, Store: "s", Restored: 100})
	p.OnRestoreSuspended(streams.RestoreSuspended{Task: b, Store: "s", Restored: 0})
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); len(got) != 2 || got[1] != "restored: 1/1 stores, 100 records in 1s, 0 rec/s" {
		t.Errorf("lines %q, want the round to end with the one store that finished", got)
	}
}

func TestRestoreProgressStringReadsLikeThePrintersLines(t *testing.T) {
	for _, c := range []struct {
		p    streams.RestoreProgress
		want string
	}{
		{streams.RestoreProgress{}, "no restoration"},
		{streams.RestoreProgress{Active: true, Stores: 8, StoresDone: 3, Offsets: 1_000_000, OffsetsDone: 412_000, Records: 360_000,
			Took: 2 * time.Second}, "restoring: 3/8 stores, 412 k/1.0 M records, 180 k rec/s"},
		{streams.RestoreProgress{Stores: 8, StoresDone: 8, Offsets: 1_000_000, OffsetsDone: 1_000_000, Records: 1_000_000,
			Took: 5555 * time.Millisecond}, "restored: 8/8 stores, 1.0 M records in 5.6s, 180 k rec/s"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

func TestRestoreProgressNumbersRoundIntoTheNextUnit(t *testing.T) {
	for n, want := range map[int64]string{999: "999", 1000: "1.0 k", 9_999: "10 k", 412_345: "412 k", 999_999: "1.0 M",
		1_250_000: "1.2 M", 999_999_999: "1.0 G"} {
		p := streams.RestoreProgress{Stores: 1, StoresDone: 1, OffsetsDone: n, Took: time.Second}
		if got := p.String(); !strings.HasPrefix(got, "restored: 1/1 stores, "+want+" records") {
			t.Errorf("%d offsets: %q, want %s", n, got, want)
		}
	}
}
