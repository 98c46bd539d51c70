package punctuate_test

import (
	"testing"
	"time"

	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/punctuate"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

func TestCancelOfAZeroOrNilScheduleDoesNothing(t *testing.T) {
	noPanic(t, "Cancel", func() {
		var zero punctuate.Schedule
		zero.Cancel()
		if !zero.Canceled() {
			t.Error("zero Schedule not canceled after Cancel")
		}
		var nilS *punctuate.Schedule
		nilS.Cancel()
		var c punctuate.Cancellable = nilS
		c.Cancel()
	})
}

func TestCancelOfACopyLeavesTheQueuedScheduleInPlace(t *testing.T) {
	var q punctuate.Queue
	fired := 0
	s, err := q.Add(10, time.Millisecond, nil, func(int64) error { fired++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(10, time.Millisecond, nil, func(int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	cp := *s
	noPanic(t, "Cancel of a copy", func() { cp.Cancel() })
	if q.Len() != 2 {
		t.Fatalf("Len = %d after cancelling a copy, want 2", q.Len())
	}
	if _, err := q.MayPunctuate(10, nil); err != nil {
		t.Fatal(err)
	}
	if fired != 1 {
		t.Errorf("queued schedule fired %d times, want 1", fired)
	}
}

func TestMayPunctuateWithANilRunCallsTheCallbacks(t *testing.T) {
	var q punctuate.Queue
	var got []int64
	if _, err := q.Add(0, 5*time.Millisecond, nil, func(ts int64) error { got = append(got, ts); return nil }); err != nil {
		t.Fatal(err)
	}
	var fired bool
	var err error
	noPanic(t, "MayPunctuate", func() { fired, err = q.MayPunctuate(7, nil) })
	if !fired || err != nil || len(got) != 1 || got[0] != 7 {
		t.Errorf("MayPunctuate(7, nil) = %v, %v; callback got %v, want [7]", fired, err, got)
	}
}

func TestMayPunctuateReportsACallbackSetToNilAsAnError(t *testing.T) {
	var q punctuate.Queue
	s, err := q.Add(0, time.Millisecond, nil, func(int64) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	s.Fn = nil // Fn is an exported field
	noPanic(t, "MayPunctuate", func() {
		if _, err := q.MayPunctuate(0, nil); err == nil {
			t.Error("a nil callback fired without an error")
		}
	})
}
