package streams

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/rdkbatch"
	"github.com/millrace/millrace/partitiongroup"
)

// bufferTestFetcher is a fetcher over a consumer that never connects (its
// Pause and Resume only mark partitions) and one started task reading
// "big" and "small" partition 0, both from offset 0.
func bufferTestFetcher(t *testing.T, maxBytes int64, bound int64) (*fetcher, *runner) {
	t.Helper()
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:1", "group.id": "buffer-test",
		"go.logs.channel.enable": false, "log_level": 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeConsumer(cons, false, time.Now().Add(time.Second)) })
	r := &runner{inputs: []partitiongroup.Partition{{Topic: "big", Partition: 0}, {Topic: "small", Partition: 0}},
		processed: make([]atomic.Int64, 2), in: newInputQueue(), started: true}
	f := &fetcher{cons: cons, logger: zap.NewNop(), bound: bound, maxBytes: maxBytes, inputs: map[topicPartition]*input{}}
	f.add(r)
	f.pauseResume() // the task runs: its partitions are resumed
	for tp, in := range f.inputs {
		if in.paused {
			t.Fatalf("%v is paused before anything was fetched", tp)
		}
	}
	return f, r
}

// fetchValues hands the fetcher records of topic "big" with offsets from
// first on, one value each, as the batch reader does, and runs one pass of
// the poll loop's bookkeeping.
func fetchValues(f *fetcher, first int64, values ...[]byte) {
	for i, v := range values {
		f.batched(&rdkbatch.Message{Topic: "big", Partition: 0, Offset: first + int64(i), Key: []byte("k"), Value: v,
			Timestamp: 1, TimestampType: kafka.TimestampCreateTime})
	}
	f.dispatch()
	f.pauseResume()
}

// bigValue is a value of n bytes starting with its offset.
func bigValue(offset int64, n int) []byte {
	v := make([]byte, n)
	binary.BigEndian.PutUint64(v, uint64(offset))
	return v
}

// A partition whose records are few but huge is paused by the byte bound
// long before the record bound, stays paused until its task drained it to
// half the bound, and is then resumed; the empty partition of the same
// task is never paused (the task may be waiting for it); every record
// reaches the task once, in order, with its bytes.
func TestBufferBytesPauseAPartitionOfHugeValuesLongBeforeTheRecordBound(t *testing.T) {
	const valueBytes = 64 << 10
	f, r := bufferTestFetcher(t, 512<<10, 10_000) // 8 values' worth; the record bound is 10,000
	big, small := f.inputs[topicPartition{"big", 0}], f.inputs[topicPartition{"small", 0}]

	// Two batches of 8 values: 16 records, 1 MiB and a little.
	var want [][]byte
	for batch := range 2 {
		var vs [][]byte
		for i := range 8 {
			vs = append(vs, bigValue(int64(batch*8+i), valueBytes))
		}
		want = append(want, vs...)
		fetchValues(f, int64(batch*8), vs...)
	}
	if !big.paused || !big.byBytes || big.byRecords {
		t.Fatalf("16 records of 64 KiB over a 512 KiB bound: paused %v (by bytes %v, by records %v), want paused by bytes",
			big.paused, big.byBytes, big.byRecords)
	}
	if wantBytes := int64(16 * (valueBytes + 1 + 3 + 64)); f.total != wantBytes {
		t.Errorf("buffered bytes %d, want %d (16 records' SizeInBytes)", f.total, wantBytes)
	}
	if small.paused {
		t.Error("the task's empty partition is paused: the task could wait for input it can never get")
	}

	// The task processes the first batch and 3 of the second: 5 values
	// (320 KiB) left, above half the bound.
	r.processed[0].Store(11)
	f.pauseResume()
	if !big.paused {
		t.Fatalf("resumed with %d bytes buffered, above half the bound", f.total)
	}
	if big.head != 1 {
		t.Errorf("the processed batch is still counted (marks from %d)", big.head)
	}
	// 4 values and their records' overhead left: just above half the
	// bound, paused.
	r.processed[0].Store(12)
	f.pauseResume()
	if !big.paused {
		t.Fatalf("resumed with %d bytes buffered, above half the bound", f.total)
	}
	// 3 values left (192 KiB): below half the bound, resumed.
	r.processed[0].Store(13)
	f.pauseResume()
	if big.paused {
		t.Fatalf("still paused with %d bytes buffered, below half the bound", f.total)
	}

	// More records after the resume; then everything is processed.
	fetchValues(f, 16, bigValue(16, valueBytes))
	want = append(want, bigValue(16, valueBytes))
	r.processed[0].Store(17)
	f.pauseResume()
	if big.paused || f.total != 0 || big.head != 0 || len(big.marks) != 0 {
		t.Errorf("all processed: paused %v, %d bytes counted, marks %d..%d", big.paused, f.total, big.head, len(big.marks))
	}

	var got [][]byte
	for _, it := range r.in.drain() {
		for _, rec := range it.records {
			if rec.Offset != int64(len(got)) {
				t.Fatalf("record at offset %d handed over after %d records: lost or reordered", rec.Offset, len(got))
			}
			got = append(got, rec.Value)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d records handed to the task, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d's value changed", i)
		}
	}
}

// Header bytes count against the bound as keys and values do.
func TestBufferBytesCountHeaders(t *testing.T) {
	f, _ := bufferTestFetcher(t, 1<<10, 10_000)
	f.batched(&rdkbatch.Message{Topic: "big", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v"),
		Headers: []rdkbatch.Header{{Key: []byte("trace"), Value: make([]byte, 4<<10)}}})
	f.dispatch()
	f.pauseResume()
	if in := f.inputs[topicPartition{"big", 0}]; !in.paused || f.total != 1+1+5+4<<10+3+64 {
		t.Errorf("a record with a 4 KiB header over a 1 KiB bound: paused %v, %d bytes counted", in.paused, f.total)
	}
}

// The record bound still pauses on its own when records are small, and
// the byte bound's bookkeeping keeps no more marks than batches the task
// has not processed, however long the partition runs.
func TestBufferRecordBoundStillPausesAndMarksDoNotGrow(t *testing.T) {
	f, r := bufferTestFetcher(t, DefaultInputBufferMaxBytes, 100)
	big := f.inputs[topicPartition{"big", 0}]
	small := func(n int) [][]byte {
		vs := make([][]byte, n)
		for i := range vs {
			vs[i] = []byte("x")
		}
		return vs
	}
	next := int64(0)
	for round := range 1000 {
		fetchValues(f, next, small(30)...)
		next += 30
		if round%2 == 1 {
			r.processed[0].Store(next - 40) // the task stays 40 records behind
			f.pauseResume()
		}
		if big.byBytes {
			t.Fatalf("paused by bytes with %d bytes buffered", f.total)
		}
	}
	if big.paused {
		t.Errorf("paused with 40 records buffered under a bound of 100")
	}
	if cap(big.marks) > 16 {
		t.Errorf("the marks' array grew to %d for at most 3 batches outstanding", cap(big.marks))
	}
	fetchValues(f, next, small(70)...)
	if !big.paused || !big.byRecords {
		t.Errorf("110 records buffered over a bound of 100: paused %v (by records %v)", big.paused, big.byRecords)
	}
}
