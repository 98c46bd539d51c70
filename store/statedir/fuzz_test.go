package statedir

import (
	"fmt"
	"maps"
	"strconv"
	"testing"
)

// Seeds from real checkpoint files: what encodeCheckpoint writes, Kafka
// Streams' own layout (version 0, count, "topic partition offset" lines),
// and the damaged files a crash or another tool can leave.
var checkpointSeeds = []string{
	"0\n0\n",
	"0\n1\nin 0 42\n",
	"0\n3\napp-counts-changelog 0 17\napp-counts-changelog 1 0\norders 11 9223372036854775807\n",
	"0\r\n1\r\nin 0 42\r\n",
	"0\n1\nin 0 42", // no final newline
	"",
	"1\n0\n",
	"0\n2\nin 0 1\n",
	"0\n1\nin 0 1\nin 1 2\n",
	"0\n2\nin 0 1\nin 0 2\n",
	"0\n1\nin -1 5\n",
	"0\n1\nin 0 -5\n",
	"0\n1\nin 2147483648 5\n",
	"0\n-1\n",
	"0\n1\nin\t0  7 \n",
	"0\n1\nin 0 7 extra\n",
	"\x00\xff\n",
}

func FuzzDecodeCheckpointNeverPanicsAndWhatItAcceptsRoundTrips(f *testing.F) {
	for _, s := range checkpointSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		offsets, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		for tp, off := range offsets {
			if tp.Topic == "" || tp.Partition < 0 || off < 0 {
				t.Fatalf("decodeCheckpoint(%q) accepted %v at %d", data, tp, off)
			}
		}
		// What was accepted is a valid checkpoint: it encodes, and the
		// encoding decodes to the same offsets.
		enc, err := encodeCheckpoint(offsets)
		if err != nil {
			t.Fatalf("decodeCheckpoint(%q) = %v, which does not encode: %v", data, offsets, err)
		}
		again, err := decodeCheckpoint(enc)
		if err != nil || !maps.Equal(again, offsets) {
			t.Fatalf("re-decoding %q = %v, %v; want %v", enc, again, err, offsets)
		}
	})
}

func FuzzEncodeCheckpointRoundTripsEveryValidEntry(f *testing.F) {
	f.Add("app-counts-changelog", int32(0), int64(17), "orders", int32(11), int64(9223372036854775807))
	f.Add("a", int32(2147483647), int64(0), "a", int32(0), int64(1))
	f.Add("with space", int32(0), int64(1), "b", int32(0), int64(1))
	f.Add("", int32(0), int64(1), "b", int32(-1), int64(-1))
	f.Add("ünïcode", int32(1), int64(2), "tab\tbed", int32(1), int64(2))
	f.Fuzz(func(t *testing.T, topicA string, partA int32, offA int64, topicB string, partB int32, offB int64) {
		offsets := map[TopicPartition]int64{{topicA, partA}: offA, {topicB, partB}: offB}
		enc, err := encodeCheckpoint(offsets)
		if err != nil {
			return // an invalid entry: reported, nothing written
		}
		got, err := decodeCheckpoint(enc)
		if err != nil || !maps.Equal(got, offsets) {
			t.Fatalf("decode(encode(%v)) = %v, %v (file %q)", offsets, got, err, enc)
		}
	})
}

// Task directory names: what TaskID.String writes, and near misses.
func FuzzParseTaskIDAcceptsOnlyCanonicalNames(f *testing.F) {
	for _, s := range []string{"0_0", "1_17", "2147483647_2147483647", "0_00", "00_0", "-1_0", "+1_0", "1_", "_1",
		"1_2_3", "2147483648_0", "a_b", "1 _2", "0_0\x00", "٣_٤"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		sub, part, ok := parseTaskID(id)
		if !ok {
			return
		}
		// One task, one name: what is accepted is exactly the canonical
		// rendering of what it parsed to.
		if canonical := strconv.Itoa(int(sub)) + "_" + strconv.Itoa(int(part)); canonical != id || sub < 0 || part < 0 {
			t.Fatalf("parseTaskID(%q) = %d, %d: not its canonical name %q", id, sub, part, canonical)
		}
		if s, p, ok := parseTaskID(fmt.Sprintf("%d_%d", sub, part)); !ok || s != sub || p != part {
			t.Fatalf("canonical %d_%d does not parse back: %d, %d, %v", sub, part, s, p, ok)
		}
	})
}
