package streams

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"
)

func FuzzPartitionTimeMetadataRoundTrips(f *testing.F) {
	for _, t := range []int64{0, 1, 1_700_000_000_000, -1, math.MaxInt64, math.MinInt64} {
		f.Add(t)
	}
	f.Fuzz(func(t *testing.T, pt int64) {
		s := encodePartitionTime(pt)
		got, ok, err := decodePartitionTime(s)
		if err != nil || !ok || got != pt {
			t.Fatalf("decodePartitionTime(encodePartitionTime(%d) = %q) = %d, %v, %v", pt, s, got, ok, err)
		}
	})
}

func FuzzDecodePartitionTimeNeverPanicsAndRejectsGarbage(f *testing.F) {
	// Real metadata (what Millrace and Kafka Streams write: version 1;
	// version 2 appends more after the time), and garbage.
	for _, s := range []string{"", encodePartitionTime(0), encodePartitionTime(1_700_000_000_000), encodePartitionTime(-1),
		"AgAAAYvMbYAAAAAAAAA=", "AAAAAAAAAAAA", "AwAAAAAAAAAA", "AQAAAAAAAAA=", "not base64!", "AQAAAAAAAAAB\n", "{\"partitionTime\":1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pt, ok, err := decodePartitionTime(s)
		if err != nil {
			if !errors.Is(err, errBadMetadata) || ok {
				t.Fatalf("decodePartitionTime(%q) = %d, %v, %v: want errBadMetadata", s, pt, ok, err)
			}
			return
		}
		if !ok {
			if s != "" {
				t.Fatalf("decodePartitionTime(%q): no time and no error for non-empty metadata", s)
			}
			return
		}
		// Accepted: base64 of a known version byte and a big-endian time,
		// which re-encodes (as version 1) to the same time.
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) < 9 || (b[0] != 1 && b[0] != 2) {
			t.Fatalf("decodePartitionTime(%q) accepted garbage (%x)", s, b)
		}
		if again, ok, err := decodePartitionTime(encodePartitionTime(pt)); err != nil || !ok || again != pt {
			t.Fatalf("time %d of %q does not round-trip: %d, %v, %v", pt, s, again, ok, err)
		}
	})
}
