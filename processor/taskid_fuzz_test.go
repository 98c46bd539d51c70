package processor_test

import (
	"strconv"
	"testing"

	"github.com/millrace/millrace/processor"
)

func FuzzParseTaskIDAcceptsExactlyWhatStringWrites(f *testing.F) {
	// Real ids, and the near misses that once parsed: a sign, a negative
	// zero and leading zeros name a task String never writes (regression
	// seeds for the canonical check).
	for _, s := range []string{"0_0", "3_17", "2147483647_2147483647", "12_0", "0_-0", "-0_0", "+1_2", "1_+2", "01_2", "1_02",
		"1_", "_1", "1-2", "1_2_3", "0_2147483648", "a_1", " 1_2", "1_2\n", "١_٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := processor.ParseTaskID(s)
		if err != nil {
			return
		}
		if id.Subtopology < 0 || id.Partition < 0 {
			t.Fatalf("ParseTaskID(%q) = %+v: negative", s, id)
		}
		if id.String() != s {
			t.Fatalf("ParseTaskID(%q) = %+v, which String writes as %q: one task, two names", s, id, id.String())
		}
	})
}

func FuzzTaskIDStringParsesBack(f *testing.F) {
	f.Add(0, int32(0))
	f.Add(3, int32(17))
	f.Add(1<<40, int32(2147483647))
	f.Add(-1, int32(-1))
	f.Fuzz(func(t *testing.T, sub int, part int32) {
		id := processor.TaskID{Subtopology: sub, Partition: part}
		got, err := processor.ParseTaskID(id.String())
		if sub < 0 || part < 0 {
			if err == nil {
				t.Fatalf("ParseTaskID(%q) accepted a negative id: %+v", id.String(), got)
			}
			return
		}
		if err != nil || got != id {
			t.Fatalf("ParseTaskID(%q) = %+v, %v; want %+v", id.String(), got, err, id)
		}
		if want := strconv.Itoa(sub) + "_" + strconv.Itoa(int(part)); id.String() != want {
			t.Fatalf("String() = %q, want %q", id.String(), want)
		}
	})
}
