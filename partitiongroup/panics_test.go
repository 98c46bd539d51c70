package partitiongroup_test

import (
	"errors"
	"testing"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/partitiongroup"
	"github.com/millrace/millrace/record"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

// timestampHead decodes a record to its own timestamp, failing on value "bad".
type timestampHead struct{}

func (timestampHead) Decode(raw *record.ConsumerRecord, _ int64) (int64, error) {
	if string(raw.Value) == "bad" {
		return 0, &record.DeserializationError{Metadata: raw.Metadata(), Part: "value", Err: errors.New("bad")}
	}
	return raw.Timestamp, nil
}

func TestZeroPartitionGroupIsAnEmptyGroupWithTheDefaultConfig(t *testing.T) {
	var g partitiongroup.PartitionGroup
	noPanic(t, "zero group", func() {
		if st := g.StreamTime(); st != record.UnknownTime {
			t.Errorf("StreamTime = %d, want UnknownTime", st)
		}
		if g.Stats() == nil {
			t.Fatal("Stats is nil")
		}
		if ok, err := g.Ready(nil); ok || err != nil {
			t.Errorf("Ready of an empty group = %v, %v", ok, err)
		}
		if err := g.AddRecords("t", 0, nil); !errors.Is(err, partitiongroup.ErrUnknownPartition) {
			t.Errorf("AddRecords to an unknown partition = %v", err)
		}
		if err := g.AddPartition("t", 0, timestampHead{}); err != nil {
			t.Fatal(err)
		}
		if st := g.StreamTime(); st != record.UnknownTime {
			t.Errorf("StreamTime after AddPartition = %d, want UnknownTime", st)
		}
		// The default deserialization handler fails; the skip path logs
		// and counts through the defaults too.
		bad := []record.ConsumerRecord{{Topic: "t", Offset: 0, Timestamp: 1, Value: []byte("bad")}}
		if err := g.AddRecords("t", 0, bad); err == nil {
			t.Error("undeserializable record with the default handler: no error")
		}
		if err := g.AddRecords("t", 0, []record.ConsumerRecord{{Topic: "t", Offset: 1, Timestamp: -1}, {Topic: "t", Offset: 2, Timestamp: 7}}); err != nil {
			t.Fatal(err)
		}
		if g.Stats().SkippedInvalidTimestamp.Load() != 1 {
			t.Errorf("skipped invalid timestamps = %d, want 1", g.Stats().SkippedInvalidTimestamp.Load())
		}
		tk, ok, err := g.Next()
		if err != nil || !ok || tk.Timestamp != 7 {
			t.Errorf("Next = %+v, %v, %v", tk, ok, err)
		}
	})
}

func TestAddPartitionWithANilHeadIsAnError(t *testing.T) {
	g := partitiongroup.New(partitiongroup.Config{DeserializationHandler: handler.LogAndContinue{}})
	noPanic(t, "AddPartition", func() {
		if err := g.AddPartition("t", 0, nil); err == nil {
			t.Fatal("AddPartition(nil head) returned no error")
		}
		if err := g.AddRecords("t", 0, []record.ConsumerRecord{{Topic: "t", Timestamp: 1}}); !errors.Is(err, partitiongroup.ErrUnknownPartition) {
			t.Errorf("the rejected partition is known: %v", err)
		}
	})
}

func TestReadyWithANilClockIsAnErrorWhenADeadlineMustBeRead(t *testing.T) {
	g := partitiongroup.New(partitiongroup.Config{MaxTaskIdle: 1})
	for _, tp := range []string{"a", "b"} {
		if err := g.AddPartition(tp, 0, timestampHead{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddRecords("a", 0, []record.ConsumerRecord{{Topic: "a", Timestamp: 1}}); err != nil {
		t.Fatal(err)
	}
	noPanic(t, "Ready", func() {
		if _, err := g.Ready(nil); err == nil {
			t.Error("Ready(nil) with an empty partition to wait for returned no error")
		}
	})
}
