package record_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/record"
)

func consumed(ts int64) *record.ConsumerRecord {
	return &record.ConsumerRecord{
		Topic:         "clicks",
		Partition:     2,
		Offset:        17,
		Timestamp:     ts,
		TimestampType: record.TimestampCreateTime,
		Key:           []byte("k"),
		Value:         []byte("v"),
	}
}

func fixedClock() int64 { return 42 }

func TestBuiltInExtractorsOnValidTimestamp(t *testing.T) {
	tests := []struct {
		name string
		e    record.TimestampExtractor
		want int64
	}{
		{"FailOnInvalid", record.FailOnInvalidTimestamp(), 1000},
		{"LogAndSkipOnInvalid", record.LogAndSkipOnInvalidTimestamp(), 1000},
		{"UsePartitionTimeOnInvalid", record.UsePartitionTimeOnInvalidTimestamp(), 1000},
		{"Wallclock (bound to 42)", record.BindClock(record.WallclockTimestamp(), fixedClock), 42},
	}
	for _, tc := range tests {
		for _, pt := range []int64{record.UnknownTime, 0, 500, 5000} {
			got, err := tc.e.Extract(consumed(1000), pt)
			if err != nil || got != tc.want {
				t.Errorf("%s.Extract(ts=1000, partitionTime=%d) = %d, %v; want %d, nil", tc.name, pt, got, err, tc.want)
			}
		}
	}
	// Zero is a valid timestamp, not an invalid one.
	for _, e := range []record.TimestampExtractor{record.FailOnInvalidTimestamp(), record.LogAndSkipOnInvalidTimestamp(), record.UsePartitionTimeOnInvalidTimestamp()} {
		if got, err := e.Extract(consumed(0), 99); err != nil || got != 0 {
			t.Errorf("%T.Extract(ts=0) = %d, %v; want 0, nil", e, got, err)
		}
	}
}

func TestFailOnInvalidTimestampErrorsWithErrInvalidTimestampNamingTopicPartitionOffset(t *testing.T) {
	for _, ts := range []int64{-1, -12345} {
		_, err := record.FailOnInvalidTimestamp().Extract(consumed(ts), 500)
		if !errors.Is(err, record.ErrInvalidTimestamp) {
			t.Fatalf("Extract(ts=%d) error = %v, want one wrapping ErrInvalidTimestamp", ts, err)
		}
		msg := err.Error()
		for _, part := range []string{"clicks", "2", "17", "clicks-2@17"} {
			if !strings.Contains(msg, part) {
				t.Errorf("error %q does not name %q", msg, part)
			}
		}
	}
}

func TestLogAndSkipOnInvalidTimestampReturnsNegativeTimestampSoTheTaskSkips(t *testing.T) {
	for _, ts := range []int64{-1, -12345} {
		got, err := record.LogAndSkipOnInvalidTimestamp().Extract(consumed(ts), 500)
		if err != nil || got != ts {
			t.Errorf("Extract(ts=%d) = %d, %v; want %d, nil (negative means skip)", ts, got, err, ts)
		}
	}
}

func TestUsePartitionTimeOnInvalidTimestampReturnsPartitionTime(t *testing.T) {
	for _, pt := range []int64{0, 1, 500, 1_700_000_000_000} {
		got, err := record.UsePartitionTimeOnInvalidTimestamp().Extract(consumed(-7), pt)
		if err != nil || got != pt {
			t.Errorf("Extract(ts=-7, partitionTime=%d) = %d, %v; want %d, nil", pt, got, err, pt)
		}
	}
}

func TestUsePartitionTimeOnInvalidTimestampErrorsWhenPartitionTimeIsUnknown(t *testing.T) {
	_, err := record.UsePartitionTimeOnInvalidTimestamp().Extract(consumed(-7), record.UnknownTime)
	if !errors.Is(err, record.ErrInvalidTimestamp) {
		t.Fatalf("Extract(ts=-7, partitionTime=UnknownTime) error = %v, want one wrapping ErrInvalidTimestamp", err)
	}
	if !strings.Contains(err.Error(), "clicks-2@17") {
		t.Errorf("error %q does not name the record clicks-2@17", err)
	}
}

func TestWallclockTimestampReturnsBoundClockTimeWhateverTheRecordSays(t *testing.T) {
	e := record.BindClock(record.WallclockTimestamp(), fixedClock)
	for _, ts := range []int64{-1, 0, 1000} {
		got, err := e.Extract(consumed(ts), record.UnknownTime)
		if err != nil || got != 42 {
			t.Errorf("bound wallclock Extract(ts=%d) = %d, %v; want 42, nil", ts, got, err)
		}
	}
	// The clock is read on every record, not once at bind time.
	now := int64(100)
	e = record.BindClock(record.WallclockTimestamp(), func() int64 { now++; return now })
	a, _ := e.Extract(consumed(0), 0)
	b, _ := e.Extract(consumed(0), 0)
	if a != 101 || b != 102 {
		t.Errorf("bound wallclock read %d then %d, want 101 then 102", a, b)
	}
}

func TestUnboundWallclockTimestampReadsSystemClock(t *testing.T) {
	for _, e := range []record.TimestampExtractor{
		record.WallclockTimestamp(),
		record.BindClock(record.WallclockTimestamp(), nil), // a nil clock keeps the system clock
	} {
		before := time.Now().UnixMilli()
		got, err := e.Extract(consumed(-1), record.UnknownTime)
		after := time.Now().UnixMilli()
		if err != nil || got < before || got > after {
			t.Errorf("wallclock Extract = %d, %v; want within [%d, %d]", got, err, before, after)
		}
	}
}

func TestBindClockLeavesOtherExtractorsUnchanged(t *testing.T) {
	for _, e := range []record.TimestampExtractor{
		record.FailOnInvalidTimestamp(),
		record.LogAndSkipOnInvalidTimestamp(),
		record.UsePartitionTimeOnInvalidTimestamp(),
	} {
		bound := record.BindClock(e, fixedClock)
		if bound != e {
			t.Errorf("BindClock(%T) = %T %v, want the extractor itself", e, bound, bound)
		}
		got, err := bound.Extract(consumed(1000), 0)
		if err != nil || got != 1000 {
			t.Errorf("BindClock(%T).Extract(ts=1000) = %d, %v; want 1000 (the record's own time, not the clock)", e, got, err)
		}
	}

	calls := 0
	custom := record.TimestampExtractorFunc(func(*record.ConsumerRecord, int64) (int64, error) { calls++; return 7, nil })
	got, err := record.BindClock(custom, fixedClock).Extract(consumed(1000), 0)
	if err != nil || got != 7 || calls != 1 {
		t.Errorf("BindClock(custom).Extract = %d, %v (calls %d); want 7 from the custom func", got, err, calls)
	}
}

func TestTimestampExtractorFuncPassesRecordAndPartitionTimeAndResult(t *testing.T) {
	boom := errors.New("boom")
	var gotRec *record.ConsumerRecord
	var gotPT int64
	f := record.TimestampExtractorFunc(func(r *record.ConsumerRecord, pt int64) (int64, error) {
		gotRec, gotPT = r, pt
		return r.Timestamp + pt, boom
	})
	var e record.TimestampExtractor = f
	in := consumed(10)
	got, err := e.Extract(in, 5)
	if gotRec != in || gotPT != 5 {
		t.Errorf("func saw record %p and partition time %d, want %p and 5", gotRec, gotPT, in)
	}
	if got != 15 || !errors.Is(err, boom) {
		t.Errorf("Extract = %d, %v; want 15, boom", got, err)
	}
}

func TestDeserializationErrorNamesPartAndRecordAndUnwrapsToCause(t *testing.T) {
	cause := record.ErrSerde
	tests := []struct {
		part string
		want string
	}{
		{"key", "cannot deserialize key of clicks-2@17: record: serde"},
		{"value", "cannot deserialize value of clicks-2@17: record: serde"},
	}
	for _, tc := range tests {
		var err error = &record.DeserializationError{
			Metadata: record.Metadata{Topic: "clicks", Partition: 2, Offset: 17},
			Part:     tc.part,
			Err:      cause,
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(err, record.ErrSerde) {
			t.Errorf("errors.Is(%v, ErrSerde) = false, want true through Unwrap", err)
		}
		if got := errors.Unwrap(err); got != cause {
			t.Errorf("Unwrap() = %v, want %v", got, cause)
		}
		var de *record.DeserializationError
		if !errors.As(fmtWrap(err), &de) || de.Part != tc.part || de.Offset != 17 {
			t.Errorf("errors.As through a wrapper = %+v, want the DeserializationError", de)
		}
	}
}

func fmtWrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "task 0_2: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestConsumerRecordSizeInBytesCountsKeyValueTopicAndHeaders(t *testing.T) {
	empty := (&record.ConsumerRecord{}).SizeInBytes()
	if empty <= 0 {
		t.Errorf("SizeInBytes of an empty record = %d, want a positive fixed overhead", empty)
	}
	tests := []struct {
		name  string
		r     record.ConsumerRecord
		extra int64 // bytes beyond the fixed overhead
	}{
		{"key", record.ConsumerRecord{Key: make([]byte, 10)}, 10},
		{"value", record.ConsumerRecord{Value: make([]byte, 100)}, 100},
		{"topic", record.ConsumerRecord{Topic: "orders"}, 6},
		{"header key and value", record.ConsumerRecord{Headers: record.Headers{{Key: "abc", Value: []byte("12345")}}}, 8},
		{"header null value", record.ConsumerRecord{Headers: record.Headers{{Key: "abcd"}}}, 4},
		{"all", record.ConsumerRecord{
			Topic:   "t",
			Key:     []byte("kk"),
			Value:   []byte("vvv"),
			Headers: record.Headers{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("22")}},
			// metadata fields do not count beyond the overhead
			Partition: 9, Offset: 1 << 40, Timestamp: 1 << 41,
		}, 1 + 2 + 3 + 2 + 3},
	}
	for _, tc := range tests {
		if got := tc.r.SizeInBytes() - empty; got != tc.extra {
			t.Errorf("%s: SizeInBytes - empty = %d, want %d", tc.name, got, tc.extra)
		}
	}
}

func TestConsumerRecordMetadataIsTopicPartitionOffset(t *testing.T) {
	got := consumed(1).Metadata()
	if want := (record.Metadata{Topic: "clicks", Partition: 2, Offset: 17}); got != want {
		t.Errorf("Metadata() = %+v, want %+v", got, want)
	}
}
