package record_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/millrace/millrace/internal/testutil"
	"github.com/millrace/millrace/record"
)

// noPanic runs fn and fails the test if it panics.
var noPanic = testutil.NoPanic

func TestSerdeFuncsWithNilFunctionsReturnsErrSerdeInsteadOfPanicking(t *testing.T) {
	s := record.SerdeFuncs[string](nil, nil)
	noPanic(t, "Serialize", func() {
		if b, err := s.Serialize(make([]byte, 0, 8), "x"); !errors.Is(err, record.ErrSerde) || b != nil {
			t.Errorf("Serialize = %q, %v; want nil, ErrSerde", b, err)
		}
	})
	noPanic(t, "Deserialize", func() {
		if v, err := s.Deserialize([]byte("x")); !errors.Is(err, record.ErrSerde) || v != "" {
			t.Errorf("Deserialize = %q, %v; want \"\", ErrSerde", v, err)
		}
	})
	// One nil function leaves the other working.
	de := record.SerdeFuncs(nil, func(b []byte) (string, error) { return string(b), nil })
	if v, err := de.Deserialize([]byte("ok")); err != nil || v != "ok" {
		t.Errorf("deserialize-only serde = %q, %v", v, err)
	}
}

func TestBuiltInExtractorsAnswerANilRecordWithErrInvalidTimestamp(t *testing.T) {
	for name, e := range map[string]record.TimestampExtractor{
		"FailOnInvalidTimestamp":             record.FailOnInvalidTimestamp(),
		"LogAndSkipOnInvalidTimestamp":       record.LogAndSkipOnInvalidTimestamp(),
		"UsePartitionTimeOnInvalidTimestamp": record.UsePartitionTimeOnInvalidTimestamp(),
	} {
		noPanic(t, name, func() {
			if _, err := e.Extract(nil, 5); !errors.Is(err, record.ErrInvalidTimestamp) {
				t.Errorf("%s.Extract(nil) error = %v, want ErrInvalidTimestamp", name, err)
			}
		})
	}
	noPanic(t, "WallclockTimestamp", func() {
		e := record.BindClock(record.WallclockTimestamp(), func() int64 { return 42 })
		if ts, err := e.Extract(nil, 0); err != nil || ts != 42 {
			t.Errorf("wall clock on nil = %d, %v; want 42, nil (it reads no record)", ts, err)
		}
	})
}

func TestNilTimestampExtractorFuncReturnsAnErrorInsteadOfPanicking(t *testing.T) {
	var f record.TimestampExtractorFunc
	noPanic(t, "Extract", func() {
		if _, err := f.Extract(&record.ConsumerRecord{Timestamp: 1}, 0); err == nil {
			t.Error("nil TimestampExtractorFunc returned no error")
		}
	})
}

func TestNilConsumerRecordHasNoSizeAndZeroMetadata(t *testing.T) {
	var r *record.ConsumerRecord
	noPanic(t, "SizeInBytes", func() {
		if n := r.SizeInBytes(); n != 0 {
			t.Errorf("SizeInBytes = %d, want 0", n)
		}
	})
	noPanic(t, "Metadata", func() {
		if m := r.Metadata(); m != (record.Metadata{}) {
			t.Errorf("Metadata = %v, want zero", m)
		}
	})
}

func TestZeroValuesOfRecordHeadersAndErrorsAreUsable(t *testing.T) {
	noPanic(t, "zero values", func() {
		var r record.Record[*int, map[string]int]
		_ = r.String()
		_, _ = r.WithTimestamp(3)
		_ = r.WithNullKey().WithNullValue().String()
		var h record.Headers
		_ = h.Add("k", nil).Remove("k").Clone().String()
		_, _ = h.Last("k")
		_ = h.Values("k")
		_ = h.Equal(nil)
		var de record.DeserializationError
		_ = de.Error()
		_ = errors.Unwrap(&de)
		_ = fmt.Sprint(record.Metadata{})
	})
}
