package partitiongroup

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
)

// fakeHead "deserializes" by reading the raw record: the timestamp is
// raw.Timestamp; Value "bad" is a deserialization error, Value "fatal" a
// plain error. It remembers the last offset it decoded and the partition
// time it was given.
type fakeHead struct {
	last     int64 // last decoded offset; -1 before the first
	decoded  int
	lastPT   int64
	failures int
}

func newHead() *fakeHead { return &fakeHead{last: -1} }

var errFatal = errors.New("fatal decode failure")

func (h *fakeHead) Decode(raw *record.ConsumerRecord, partitionTime int64) (int64, error) {
	h.last = raw.Offset
	h.decoded++
	h.lastPT = partitionTime
	switch string(raw.Value) {
	case "bad":
		h.failures++
		return 0, &record.DeserializationError{Metadata: raw.Metadata(), Part: "value", Err: errors.New("not a number")}
	case "fatal":
		h.failures++
		return 0, errFatal
	}
	return raw.Timestamp, nil
}

// rec builds a raw record with value "v".
func rec(topic string, partition int32, offset, ts int64) record.ConsumerRecord {
	return record.ConsumerRecord{Topic: topic, Partition: partition, Offset: offset, Timestamp: ts, Value: []byte("v")}
}

// recs builds consecutive records starting at offset first with the given
// timestamps.
func recs(topic string, partition int32, first int64, ts ...int64) []record.ConsumerRecord {
	out := make([]record.ConsumerRecord, len(ts))
	for i, t := range ts {
		out[i] = rec(topic, partition, first+int64(i), t)
	}
	return out
}

func withValue(r record.ConsumerRecord, v string) record.ConsumerRecord {
	r.Value = []byte(v)
	return r
}

func mustAddPartition(t *testing.T, g *PartitionGroup, topic string, partition int32) *fakeHead {
	t.Helper()
	h := newHead()
	if err := g.AddPartition(topic, partition, h); err != nil {
		t.Fatalf("AddPartition(%s, %d): %v", topic, partition, err)
	}
	return h
}

func mustAddRecords(t *testing.T, g *PartitionGroup, topic string, partition int32, rs []record.ConsumerRecord) {
	t.Helper()
	if err := g.AddRecords(topic, partition, rs); err != nil {
		t.Fatalf("AddRecords(%s, %d): %v", topic, partition, err)
	}
}

func mustNext(t *testing.T, g *PartitionGroup) Taken {
	t.Helper()
	tk, ok, err := g.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if !ok {
		t.Fatal("Next: nothing buffered")
	}
	return tk
}

func mustReady(t *testing.T, g *PartitionGroup, now int64) bool {
	t.Helper()
	ready, err := g.Ready(func() int64 { return now })
	if err != nil {
		t.Fatalf("Ready(%d): %v", now, err)
	}
	return ready
}

// drain takes every buffered record and describes each as topic-p@offset/ts.
func drain(t *testing.T, g *PartitionGroup) []string {
	t.Helper()
	var out []string
	for {
		tk, ok, err := g.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%s-%d@%d/%d", tk.Topic, tk.Partition, tk.Offset, tk.Timestamp))
	}
}

func TestNextYieldsSmallestHeadTimestampAcrossPartitionsAndOffsetOrderWithin(t *testing.T) {
	g := New(Config{TaskID: "0_0"})
	mustAddPartition(t, g, "left", 0)
	mustAddPartition(t, g, "right", 0)
	// left: 1, 5, 3 (out of order at offset 12), 9
	// right: 2, 4, 6, 8
	mustAddRecords(t, g, "left", 0, recs("left", 0, 10, 1, 5, 3, 9))
	mustAddRecords(t, g, "right", 0, recs("right", 0, 100, 2, 4, 6, 8))

	got := drain(t, g)
	want := []string{
		"left-0@10/1",
		"right-0@100/2",
		"right-0@101/4",
		"left-0@11/5",
		// left@12 (ts 3) waited behind left@11 (ts 5): head-of-line; now it
		// is the smallest head.
		"left-0@12/3",
		"right-0@102/6",
		"right-0@103/8",
		"left-0@13/9",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got  %v\n want %v", got, want)
	}
}

func TestOutOfOrderRecordWaitsBehindItsPredecessorInThePartition(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	// a's second record is the oldest of all, but a's head (ts 50) is newer
	// than every record of b: b drains first, and a stays in offset order.
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 50, 0))
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 10, 20, 30))
	got := drain(t, g)
	want := []string{"b-0@0/10", "b-0@1/20", "b-0@2/30", "a-0@0/50", "a-0@1/0"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got  %v\n want %v", got, want)
	}
}

func TestEqualHeadTimestampsGoToEarlierRegisteredTopicThenLowerPartition(t *testing.T) {
	g := New(Config{})
	// Registration order: topic "zeta" first (despite sorting after
	// "alpha"), partitions registered high before low.
	mustAddPartition(t, g, "zeta", 1)
	mustAddPartition(t, g, "alpha", 1)
	mustAddPartition(t, g, "zeta", 0)
	mustAddPartition(t, g, "alpha", 0)
	// Add in an order unrelated to the expected one.
	mustAddRecords(t, g, "alpha", 0, recs("alpha", 0, 0, 7, 7))
	mustAddRecords(t, g, "alpha", 1, recs("alpha", 1, 0, 7, 7))
	mustAddRecords(t, g, "zeta", 1, recs("zeta", 1, 0, 7, 7))
	mustAddRecords(t, g, "zeta", 0, recs("zeta", 0, 0, 7, 7))

	got := drain(t, g)
	want := []string{
		"zeta-0@0/7", "zeta-0@1/7",
		"zeta-1@0/7", "zeta-1@1/7",
		"alpha-0@0/7", "alpha-0@1/7",
		"alpha-1@0/7", "alpha-1@1/7",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got  %v\n want %v", got, want)
	}
	wantParts := []Partition{{"zeta", 1}, {"alpha", 1}, {"zeta", 0}, {"alpha", 0}}
	if got := g.Partitions(); !reflect.DeepEqual(got, wantParts) {
		t.Fatalf("Partitions() = %v, want %v", got, wantParts)
	}
}

func TestTakenReportsQueueIndexInAddPartitionOrder(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 3)
	mustAddRecords(t, g, "b", 3, recs("b", 3, 42, 5))
	tk := mustNext(t, g)
	if tk.Raw == nil || tk.Raw.Topic != "b" || tk.Raw.Offset != 42 {
		t.Fatalf("Taken.Raw = %+v, want the raw record b-3@42", tk.Raw)
	}
	tk.Raw = nil
	want := Taken{Queue: 1, Topic: "b", Partition: 3, Offset: 42, Timestamp: 5}
	if tk != want {
		t.Fatalf("Taken = %+v, want %+v", tk, want)
	}
}

func TestPartitionAndStreamTimeOnlyMoveForwardAndLatenessIsMeasured(t *testing.T) {
	g := New(Config{})
	ha := mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	if st := g.StreamTime(); st != record.UnknownTime {
		t.Fatalf("StreamTime() before any record = %d, want %d", st, record.UnknownTime)
	}
	if pt, err := g.PartitionTime("a", 0); err != nil || pt != record.UnknownTime {
		t.Fatalf("PartitionTime(a) = %d, %v, want UnknownTime", pt, err)
	}
	// Expected order: a@100, a@40 (late 60), a@30 (late 70), b@120,
	// b@110 (late 10).
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 100, 40, 30))
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 120, 110))
	if st := g.StreamTime(); st != record.UnknownTime {
		t.Fatalf("StreamTime() after buffering = %d, want UnknownTime (only taking moves it)", st)
	}

	steps := []struct {
		topic        string
		ts           int64
		pa, pb, st   int64
		late, latSum int64
	}{
		{"a", 100, 100, record.UnknownTime, 100, 0, 0},
		{"a", 40, 100, record.UnknownTime, 100, 1, 60},
		{"a", 30, 100, record.UnknownTime, 100, 2, 130},
		{"b", 120, 100, 120, 120, 2, 130},
		{"b", 110, 100, 120, 120, 3, 140},
	}
	for i, st := range steps {
		tk := mustNext(t, g)
		if tk.Topic != st.topic || tk.Timestamp != st.ts {
			t.Fatalf("step %d: took %s@ts%d, want %s@ts%d", i, tk.Topic, tk.Timestamp, st.topic, st.ts)
		}
		pa, _ := g.PartitionTime("a", 0)
		pb, _ := g.PartitionTime("b", 0)
		if pa != st.pa || pb != st.pb || g.StreamTime() != st.st {
			t.Fatalf("step %d: partition times (a=%d, b=%d) stream %d, want (a=%d, b=%d) stream %d",
				i, pa, pb, g.StreamTime(), st.pa, st.pb, st.st)
		}
		if n, sum := g.Stats().LateRecords.Load(), g.Stats().LatenessSum.Load(); n != st.late || sum != st.latSum {
			t.Fatalf("step %d: LateRecords=%d LatenessSum=%d, want %d, %d", i, n, sum, st.late, st.latSum)
		}
	}
	if m := g.Stats().LatenessMax.Load(); m != 70 {
		t.Fatalf("LatenessMax = %d, want 70", m)
	}
	// The head decoding a@30 was given a's partition time at that moment.
	if ha.lastPT != 100 {
		t.Fatalf("Decode of a@30 got partition time %d, want 100", ha.lastPT)
	}
}

func TestHeadDecodeReceivesCurrentPartitionTime(t *testing.T) {
	g := New(Config{})
	h := mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 10, 20))
	if h.lastPT != record.UnknownTime {
		t.Fatalf("first Decode got partition time %d, want UnknownTime", h.lastPT)
	}
	mustNext(t, g)
	mustReady(t, g, 0) // decodes a@1
	if h.last != 1 || h.lastPT != 10 {
		t.Fatalf("Decode of offset %d got partition time %d, want offset 1 with 10", h.last, h.lastPT)
	}
}

func TestSetPartitionTimeSeedsStreamTimeAsMaxAndNeverMovesTimesBack(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	if err := g.SetPartitionTime("a", 0, 500); err != nil {
		t.Fatal(err)
	}
	if err := g.SetPartitionTime("b", 0, 300); err != nil {
		t.Fatal(err)
	}
	check := func(step string, wa, wb, wst int64) {
		t.Helper()
		pa, _ := g.PartitionTime("a", 0)
		pb, _ := g.PartitionTime("b", 0)
		if pa != wa || pb != wb || g.StreamTime() != wst {
			t.Fatalf("%s: a=%d b=%d stream=%d, want a=%d b=%d stream=%d", step, pa, pb, g.StreamTime(), wa, wb, wst)
		}
	}
	check("seeded", 500, 300, 500)
	if err := g.SetPartitionTime("a", 0, 200); err != nil {
		t.Fatal(err)
	}
	check("seeding an older time", 500, 300, 500)

	mustAddRecords(t, g, "b", 0, recs("b", 0, 7, 250))
	mustNext(t, g)
	check("after taking b@250", 500, 300, 500)
	if n, sum := g.Stats().LateRecords.Load(), g.Stats().LatenessSum.Load(); n != 1 || sum != 250 {
		t.Fatalf("LateRecords=%d LatenessSum=%d, want 1, 250 (late against seeded stream time)", n, sum)
	}
	mustAddRecords(t, g, "a", 0, recs("a", 0, 3, 600))
	mustNext(t, g)
	check("after taking a@600", 600, 300, 600)
	if err := g.SetPartitionTime("b", 0, 400); err != nil {
		t.Fatal(err)
	}
	check("seeding b forward", 600, 400, 600)
	want := []Offset{{"a", 0, 4, 600}, {"b", 0, 8, 400}}
	if got := g.Committable(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() = %v, want %v", got, want)
	}
}

func TestSeededPartitionTimeIsNotCommittedBeforeAnythingIsConsumed(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	if err := g.SetPartitionTime("a", 0, 500); err != nil {
		t.Fatal(err)
	}
	if got := g.Committable(); len(got) != 0 {
		t.Fatalf("Committable() = %v, want none", got)
	}
}

func TestNegativeTimestampIsSkippedCountedAndItsOffsetCommitted(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)

	// A skipped record at the head of a batch.
	mustAddRecords(t, g, "a", 0, recs("a", 0, 10, -1, 5, -7))
	if n := g.Stats().SkippedInvalidTimestamp.Load(); n != 1 {
		t.Fatalf("SkippedInvalidTimestamp = %d, want 1", n)
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 11, record.UnknownTime}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() after head skip = %v, want %v", got, want)
	}
	if n, _, _ := g.Buffered("a", 0); n != 2 || g.NumBuffered() != 2 {
		t.Fatalf("Buffered(a) = %d, NumBuffered = %d, want 2, 2", n, g.NumBuffered())
	}
	tk := mustNext(t, g)
	if tk.Offset != 11 || tk.Timestamp != 5 {
		t.Fatalf("took %+v, want offset 11 ts 5", tk)
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 12, 5}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() after take = %v, want %v", got, want)
	}
	// A trailing skipped record is consumed by the next call into the group.
	if mustReady(t, g, 0) {
		t.Fatal("Ready with only an invalid record left")
	}
	if n := g.Stats().SkippedInvalidTimestamp.Load(); n != 2 {
		t.Fatalf("SkippedInvalidTimestamp = %d, want 2", n)
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 13, 5}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() after trailing skip = %v, want %v", got, want)
	}
	if g.NumBuffered() != 0 || g.BufferedBytes() != 0 {
		t.Fatalf("NumBuffered=%d BufferedBytes=%d, want 0, 0", g.NumBuffered(), g.BufferedBytes())
	}
	if g.StreamTime() != 5 {
		t.Fatalf("StreamTime() = %d, want 5 (skips do not move time)", g.StreamTime())
	}
}

// recordingHandler answers resp and remembers what it was asked.
type recordingHandler struct {
	resp    handler.Response
	taskIDs []string
	offsets []int64
	errs    []error
}

func (h *recordingHandler) OnDeserializationError(ec *handler.ErrorContext, raw *record.ConsumerRecord, err error) handler.Response {
	h.taskIDs = append(h.taskIDs, ec.TaskID)
	h.offsets = append(h.offsets, raw.Offset)
	h.errs = append(h.errs, err)
	return h.resp
}

func TestDeserializationErrorWithLogAndContinueIsSkippedCountedAndCommitted(t *testing.T) {
	g := New(Config{TaskID: "0_1", DeserializationHandler: handler.LogAndContinue{}})
	mustAddPartition(t, g, "a", 0)
	rs := recs("a", 0, 0, 1, 2, 3)
	rs[0] = withValue(rs[0], "bad")
	rs[2] = withValue(rs[2], "bad")
	mustAddRecords(t, g, "a", 0, rs)
	if n := g.Stats().SkippedDeserialization.Load(); n != 1 {
		t.Fatalf("SkippedDeserialization = %d, want 1", n)
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 1, record.UnknownTime}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() = %v, want %v", got, want)
	}
	if wantBytes := rs[1].SizeInBytes() + rs[2].SizeInBytes(); g.BufferedBytes() != wantBytes || g.NumBuffered() != 2 {
		t.Fatalf("NumBuffered=%d BufferedBytes=%d, want 2, %d", g.NumBuffered(), g.BufferedBytes(), wantBytes)
	}
	tk := mustNext(t, g)
	if tk.Offset != 1 || tk.Timestamp != 2 {
		t.Fatalf("took %+v, want offset 1 ts 2", tk)
	}
	if _, ok, err := g.Next(); ok || err != nil {
		t.Fatalf("Next after last good record = ok %v, err %v; want nothing", ok, err)
	}
	if n := g.Stats().SkippedDeserialization.Load(); n != 2 {
		t.Fatalf("SkippedDeserialization = %d, want 2", n)
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 3, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() = %v, want %v", got, want)
	}
	if g.NumBuffered() != 0 || g.BufferedBytes() != 0 {
		t.Fatalf("NumBuffered=%d BufferedBytes=%d, want 0, 0", g.NumBuffered(), g.BufferedBytes())
	}
}

func TestDeserializationHandlerIsAskedWithTaskRecordAndError(t *testing.T) {
	h := &recordingHandler{resp: handler.ContinueWith()}
	g := New(Config{TaskID: "2_5", DeserializationHandler: h})
	mustAddPartition(t, g, "a", 5)
	mustAddRecords(t, g, "a", 5, []record.ConsumerRecord{withValue(rec("a", 5, 77, 1), "bad")})
	if !reflect.DeepEqual(h.taskIDs, []string{"2_5"}) || !reflect.DeepEqual(h.offsets, []int64{77}) {
		t.Fatalf("handler asked with tasks %v offsets %v, want [2_5] [77]", h.taskIDs, h.offsets)
	}
	var de *record.DeserializationError
	if !errors.As(h.errs[0], &de) || de.Offset != 77 {
		t.Fatalf("handler error %v is not the DeserializationError of offset 77", h.errs[0])
	}
}

func TestDeserializationErrorWithDefaultHandlerFailsNamingTask(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    handler.DeserializationHandler
	}{
		{"nil handler", nil},
		{"LogAndFail", handler.LogAndFail{}},
		{"handler answering Fail", &recordingHandler{resp: handler.FailWith()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr := func(op string, err error, offset int64) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error for an undeserializable record", op)
				}
				var de *record.DeserializationError
				if !errors.As(err, &de) {
					t.Fatalf("%s: error %v is not a *record.DeserializationError", op, err)
				}
				if de.Topic != "in" || de.Partition != 2 || de.Offset != offset {
					t.Fatalf("%s: DeserializationError names %s, want in-2@%d", op, de.Metadata, offset)
				}
				if !strings.Contains(err.Error(), "task 3_2") {
					t.Fatalf("%s: error %q does not name task 3_2", op, err)
				}
			}

			// Undeserializable head: AddRecords fails.
			g := New(Config{TaskID: "3_2", DeserializationHandler: tc.h})
			mustAddPartition(t, g, "in", 2)
			err := g.AddRecords("in", 2, []record.ConsumerRecord{withValue(rec("in", 2, 0, 1), "bad")})
			checkErr("AddRecords", err, 0)

			// Undeserializable follower: the next call (Next) fails.
			g = New(Config{TaskID: "3_2", DeserializationHandler: tc.h})
			mustAddPartition(t, g, "in", 2)
			rs := recs("in", 2, 0, 1, 2)
			rs[1] = withValue(rs[1], "bad")
			mustAddRecords(t, g, "in", 2, rs)
			mustNext(t, g)
			_, ok, err := g.Next()
			if ok {
				t.Fatal("Next handed out a record along with the error")
			}
			checkErr("Next", err, 1)
			if n := g.Stats().SkippedDeserialization.Load(); n != 0 {
				t.Fatalf("SkippedDeserialization = %d, want 0 (nothing skipped)", n)
			}
			// The failed record is not committed.
			if got, want := g.Committable(), []Offset{{"in", 2, 1, 1}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("Committable() = %v, want %v", got, want)
			}

			// Undeserializable follower: Ready fails too.
			g = New(Config{TaskID: "3_2", DeserializationHandler: tc.h})
			mustAddPartition(t, g, "in", 2)
			mustAddRecords(t, g, "in", 2, rs)
			mustNext(t, g)
			_, err = g.Ready(func() int64 { return 0 })
			checkErr("Ready", err, 1)
		})
	}
}

func TestNonDeserializationDecodeErrorIsFatalEvenWithLogAndContinue(t *testing.T) {
	g := New(Config{TaskID: "0_7", DeserializationHandler: handler.LogAndContinue{}})
	mustAddPartition(t, g, "a", 0)
	err := g.AddRecords("a", 0, []record.ConsumerRecord{withValue(rec("a", 0, 9, 1), "fatal")})
	if !errors.Is(err, errFatal) {
		t.Fatalf("AddRecords error = %v, want one wrapping the decode error", err)
	}
	var de *record.DeserializationError
	if errors.As(err, &de) {
		t.Fatalf("fatal error %v reads as a DeserializationError", err)
	}
	for _, part := range []string{"0_7", "a-0@9"} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("error %q does not contain %q", err, part)
		}
	}
	if n := g.Stats().SkippedDeserialization.Load(); n != 0 {
		t.Fatalf("SkippedDeserialization = %d, want 0", n)
	}
	if got := g.Committable(); len(got) != 0 {
		t.Fatalf("Committable() = %v, want none (the failed record is not consumed)", got)
	}

	// Also fatal when met behind a taken record.
	g = New(Config{TaskID: "0_7", DeserializationHandler: handler.LogAndContinue{}})
	mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, []record.ConsumerRecord{rec("a", 0, 0, 1), withValue(rec("a", 0, 1, 2), "fatal")})
	mustNext(t, g)
	if _, _, err := g.Next(); !errors.Is(err, errFatal) {
		t.Fatalf("Next error = %v, want the decode error", err)
	}
}

func TestCommittableReturnsNextOffsetAndPartitionTimeOfConsumedPartitionsOnly(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "a", 1)
	mustAddPartition(t, g, "b", 0)
	if got := g.Committable(); len(got) != 0 {
		t.Fatalf("Committable() before anything = %v, want none", got)
	}
	mustAddRecords(t, g, "a", 0, recs("a", 0, 5, 10, 20))
	mustAddRecords(t, g, "a", 1, recs("a", 1, 0, 15))
	if got := g.Committable(); len(got) != 0 {
		t.Fatalf("Committable() with buffered but nothing taken = %v, want none", got)
	}
	steps := [][]Offset{
		{{"a", 0, 6, 10}},
		{{"a", 0, 6, 10}, {"a", 1, 1, 15}},
		{{"a", 0, 7, 20}, {"a", 1, 1, 15}},
	}
	for i, want := range steps {
		mustNext(t, g)
		if got := g.Committable(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after take %d Committable() = %v, want %v", i+1, got, want)
		}
	}
}

func TestReadyIsFalseWithNothingBuffered(t *testing.T) {
	for _, idle := range []time.Duration{-1, 0, 100 * time.Millisecond} {
		g := New(Config{MaxTaskIdle: idle})
		if ready, err := g.Ready(func() int64 { return 0 }); ready || err != nil {
			t.Fatalf("MaxTaskIdle %v, no partitions: Ready = %v, %v", idle, ready, err)
		}
		mustAddPartition(t, g, "a", 0)
		mustAddPartition(t, g, "b", 0)
		if err := g.SetLag("a", 0, 0); err != nil {
			t.Fatal(err)
		}
		if mustReady(t, g, 1_000_000) {
			t.Fatalf("MaxTaskIdle %v: Ready with nothing buffered", idle)
		}
		// Drained again after taking everything.
		mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1))
		mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 2))
		drain(t, g)
		if mustReady(t, g, 2_000_000) {
			t.Fatalf("MaxTaskIdle %v: Ready after draining", idle)
		}
		if n := g.Stats().EnforcedProcessing.Load(); n != 0 {
			t.Fatalf("MaxTaskIdle %v: EnforcedProcessing = %d, want 0", idle, n)
		}
	}
}

func TestReadyIsTrueWhenAllPartitionsBufferedWithoutReadingClock(t *testing.T) {
	g := New(Config{MaxTaskIdle: time.Hour})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2))
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 1))
	ready, err := g.Ready(func() int64 {
		t.Fatal("clock read although every partition is buffered")
		return 0
	})
	if !ready || err != nil {
		t.Fatalf("Ready = %v, %v, want true", ready, err)
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 0 {
		t.Fatalf("EnforcedProcessing = %d, want 0", n)
	}
}

func TestReadyWaitsMaxTaskIdleForEmptyPartitionWithUnknownLagThenEnforces(t *testing.T) {
	g := New(Config{MaxTaskIdle: 100 * time.Millisecond})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2, 3, 4))

	const t0 = 1_000_000
	steps := []struct {
		now          int64
		ready        bool
		wantEnforced int64
	}{
		{t0, false, 0},
		{t0 + 99, false, 0},
		{t0 + 100, true, 1},
		{t0 + 100, true, 2}, // counted per Ready call that enforces
		{t0 + 5000, true, 3},
	}
	for _, st := range steps {
		if got := mustReady(t, g, st.now); got != st.ready {
			t.Fatalf("Ready(t0+%d) = %v, want %v", st.now-t0, got, st.ready)
		}
		if n := g.Stats().EnforcedProcessing.Load(); n != st.wantEnforced {
			t.Fatalf("after Ready(t0+%d) EnforcedProcessing = %d, want %d", st.now-t0, n, st.wantEnforced)
		}
	}
}

func TestReadyWaitsMaxTaskIdleOnceForSeveralEmptyPartitions(t *testing.T) {
	// Bug: Ready returned at the first empty partition still inside its
	// deadline without looking at the others, so each further empty
	// partition started its deadline only once the previous one expired:
	// with k empty partitions the task idled k·MaxTaskIdle.
	g := New(Config{MaxTaskIdle: 100 * time.Millisecond})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "a", 1)
	mustAddPartition(t, g, "a", 2)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2))
	if mustReady(t, g, 0) {
		t.Fatal("Ready(0) with two empty partitions of unknown lag")
	}
	if mustReady(t, g, 99) {
		t.Fatal("Ready(99) before MaxTaskIdle passed")
	}
	if !mustReady(t, g, 100) {
		t.Fatal("Ready(100) = false: both empty partitions were seen empty at 0 and have waited MaxTaskIdle")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 1 {
		t.Fatalf("EnforcedProcessing = %d, want 1", n)
	}
}

func TestIdleDeadlineRestartsAfterPartitionReceivedDataAndBecameEmptyAgain(t *testing.T) {
	g := New(Config{MaxTaskIdle: 100 * time.Millisecond})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 10, 20, 30, 40, 50))

	if mustReady(t, g, 0) {
		t.Fatal("Ready(0)")
	}
	if !mustReady(t, g, 100) {
		t.Fatal("Ready(100) = false after MaxTaskIdle")
	}
	mustNext(t, g) // a@10

	// b receives a record; with every partition buffered Ready answers at
	// once, and b's record (ts 15) is taken, leaving b empty again.
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 15))
	if !mustReady(t, g, 150) {
		t.Fatal("Ready(150) with every partition buffered")
	}
	if tk := mustNext(t, g); tk.Topic != "b" {
		t.Fatalf("took %+v, want b's record", tk)
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 1 {
		t.Fatalf("EnforcedProcessing = %d, want 1", n)
	}
	// b became empty again at 160: a fresh MaxTaskIdle from there, not the
	// old deadline of 100.
	if mustReady(t, g, 160) {
		t.Fatal("Ready(160) = true: the old idle deadline was reused after b received data")
	}
	if mustReady(t, g, 259) {
		t.Fatal("Ready(259) = true before the restarted deadline")
	}
	if !mustReady(t, g, 260) {
		t.Fatal("Ready(260) = false after the restarted deadline")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 2 {
		t.Fatalf("EnforcedProcessing = %d, want 2", n)
	}
}

func TestIdleDeadlineRestartsWhenReadySawThePartitionBuffered(t *testing.T) {
	// Three partitions, so Ready takes its slow path while b is buffered.
	g := New(Config{MaxTaskIdle: 100 * time.Millisecond})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddPartition(t, g, "c", 0)
	if err := g.SetLag("c", 0, 0); err != nil {
		t.Fatal(err)
	}
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 10, 20, 30))
	if mustReady(t, g, 0) || !mustReady(t, g, 100) {
		t.Fatal("first deadline not at 100")
	}
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 5))
	if !mustReady(t, g, 120) {
		t.Fatal("Ready(120) with a and b buffered and c caught up")
	}
	mustNext(t, g) // b@5
	if mustReady(t, g, 130) || mustReady(t, g, 229) || !mustReady(t, g, 230) {
		t.Fatal("deadline did not restart at 130")
	}
}

func TestCaughtUpEmptyPartitionDoesNotBlockOrCountEnforcedProcessing(t *testing.T) {
	g := New(Config{MaxTaskIdle: 100 * time.Millisecond})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2, 3))
	if err := g.SetLag("b", 0, 0); err != nil {
		t.Fatal(err)
	}
	if !mustReady(t, g, 0) {
		t.Fatal("Ready(0) = false although the empty partition is caught up")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 0 {
		t.Fatalf("EnforcedProcessing = %d, want 0", n)
	}
	// Lag known and positive: b blocks again, from now.
	if err := g.SetLag("b", 0, 5); err != nil {
		t.Fatal(err)
	}
	if mustReady(t, g, 10) || mustReady(t, g, 109) {
		t.Fatal("Ready before MaxTaskIdle with b lagging")
	}
	if !mustReady(t, g, 110) {
		t.Fatal("Ready(110) = false after MaxTaskIdle")
	}
	// Negative lag means unknown, which blocks too; caught up again does not.
	if err := g.SetLag("b", 0, 0); err != nil {
		t.Fatal(err)
	}
	if !mustReady(t, g, 111) {
		t.Fatal("Ready with b caught up")
	}
	if err := g.SetLag("b", 0, -3); err != nil {
		t.Fatal(err)
	}
	if mustReady(t, g, 112) {
		t.Fatal("Ready with b's lag unknown right after it was caught up")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 1 {
		t.Fatalf("EnforcedProcessing = %d, want 1", n)
	}
}

func TestNegativeMaxTaskIdleIsReadyWheneverAnythingIsBuffered(t *testing.T) {
	g := New(Config{MaxTaskIdle: -1})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1))
	ready, err := g.Ready(func() int64 {
		t.Fatal("clock read with idling disabled")
		return 0
	})
	if !ready || err != nil {
		t.Fatalf("Ready = %v, %v, want true", ready, err)
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 0 {
		t.Fatalf("EnforcedProcessing = %d, want 0", n)
	}
}

func TestZeroMaxTaskIdleEnforcesImmediatelyForNotCaughtUpEmptyPartition(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2))
	if !mustReady(t, g, 0) {
		t.Fatal("Ready(0) = false with MaxTaskIdle 0")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 1 {
		t.Fatalf("EnforcedProcessing = %d, want 1", n)
	}
	mustNext(t, g)
	if !mustReady(t, g, 0) {
		t.Fatal("second Ready(0) = false")
	}
	if n := g.Stats().EnforcedProcessing.Load(); n != 2 {
		t.Fatalf("EnforcedProcessing = %d, want 2", n)
	}
}

func TestConfigStatsIsSharedAndReturnedByStats(t *testing.T) {
	st := &Stats{}
	g := New(Config{Stats: st})
	if g.Stats() != st {
		t.Fatal("Stats() is not the configured Stats")
	}
	mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, -5))
	if st.SkippedInvalidTimestamp.Load() != 1 {
		t.Fatal("skip not counted in the configured Stats")
	}
	if New(Config{}).Stats() == nil {
		t.Fatal("zero Config has nil Stats")
	}
}

func TestBufferedRecordsAndBytesDecreaseAsRecordsAreTaken(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "bb", 1)
	ra := recs("a", 0, 0, 1, 3, 5)
	ra[1].Key = []byte("some-key")
	ra[2].Value = []byte("a longer value than the others")
	rb := recs("bb", 1, 0, 2, 4)
	rb[0].Headers = record.Headers{{Key: "h", Value: []byte("hv")}}
	mustAddRecords(t, g, "a", 0, ra[:1])
	mustAddRecords(t, g, "a", 0, ra[1:]) // a second batch
	mustAddRecords(t, g, "bb", 1, rb)

	size := func(rs []record.ConsumerRecord) int64 {
		var n int64
		for i := range rs {
			n += rs[i].SizeInBytes()
		}
		return n
	}
	check := func(step string, ia, ib int) {
		t.Helper()
		na, ba, err := g.Buffered("a", 0)
		if err != nil {
			t.Fatal(err)
		}
		nb, bb, err := g.Buffered("bb", 1)
		if err != nil {
			t.Fatal(err)
		}
		wa, wb := size(ra[ia:]), size(rb[ib:])
		if na != len(ra)-ia || ba != wa || nb != len(rb)-ib || bb != wb {
			t.Fatalf("%s: Buffered a=(%d, %d) bb=(%d, %d), want a=(%d, %d) bb=(%d, %d)",
				step, na, ba, nb, bb, len(ra)-ia, wa, len(rb)-ib, wb)
		}
		if g.NumBuffered() != na+nb || g.BufferedBytes() != wa+wb {
			t.Fatalf("%s: NumBuffered=%d BufferedBytes=%d, want %d, %d",
				step, g.NumBuffered(), g.BufferedBytes(), na+nb, wa+wb)
		}
	}
	check("initial", 0, 0)
	// Order: a@1, bb@2, a@3, bb@4, a@5.
	takes := []struct {
		topic  string
		ia, ib int
	}{{"a", 1, 0}, {"bb", 1, 1}, {"a", 2, 1}, {"bb", 2, 2}, {"a", 3, 2}}
	for i, tk := range takes {
		got := mustNext(t, g)
		if got.Topic != tk.topic {
			t.Fatalf("take %d from %s, want %s", i, got.Topic, tk.topic)
		}
		check(fmt.Sprintf("right after take %d", i), tk.ia, tk.ib)
		mustReady(t, g, 0) // settles the taken queue; counts must not change
		check(fmt.Sprintf("after Ready following take %d", i), tk.ia, tk.ib)
	}
}

func TestClearDropsBufferedRecordsButKeepsTimesAndCommittable(t *testing.T) {
	g := New(Config{MaxTaskIdle: -1})
	h := mustAddPartition(t, g, "a", 0)
	mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 10, 20, 30))
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 15, 25))
	mustNext(t, g) // a@10, left pending
	g.Clear()
	if g.NumBuffered() != 0 || g.BufferedBytes() != 0 {
		t.Fatalf("after Clear NumBuffered=%d BufferedBytes=%d", g.NumBuffered(), g.BufferedBytes())
	}
	for _, p := range g.Partitions() {
		if n, b, err := g.Buffered(p.Topic, p.Partition); n != 0 || b != 0 || err != nil {
			t.Fatalf("after Clear Buffered(%v) = %d, %d, %v", p, n, b, err)
		}
	}
	if mustReady(t, g, 0) {
		t.Fatal("Ready after Clear")
	}
	if _, ok, err := g.Next(); ok || err != nil {
		t.Fatalf("Next after Clear = ok %v err %v", ok, err)
	}
	if h.last != 0 {
		t.Fatalf("Clear decoded offset %d of a dropped record", h.last)
	}
	if g.StreamTime() != 10 {
		t.Fatalf("StreamTime() after Clear = %d, want 10", g.StreamTime())
	}
	if got, want := g.Committable(), []Offset{{"a", 0, 1, 10}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() after Clear = %v, want %v", got, want)
	}
	// Refetched from the committed offsets, the records flow again.
	mustAddRecords(t, g, "a", 0, recs("a", 0, 1, 20, 30))
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 15, 25))
	got := drain(t, g)
	want := []string{"b-0@0/15", "a-0@1/20", "b-0@1/25", "a-0@2/30"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Clear and refill:\n got  %v\n want %v", got, want)
	}
}

func TestUnknownPartitionErrorsWrapErrUnknownPartition(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	_, _, errBuf := g.Buffered("a", 1)
	_, errPT := g.PartitionTime("b", 0)
	for name, err := range map[string]error{
		"AddRecords":       g.AddRecords("a", 1, recs("a", 1, 0, 1)),
		"SetLag":           g.SetLag("b", 0, 0),
		"SetPartitionTime": g.SetPartitionTime("a", 7, 1),
		"Buffered":         errBuf,
		"PartitionTime":    errPT,
	} {
		if !errors.Is(err, ErrUnknownPartition) {
			t.Errorf("%s error = %v, want one wrapping ErrUnknownPartition", name, err)
		}
	}
	if g.NumBuffered() != 0 {
		t.Fatalf("NumBuffered = %d after adding to an unknown partition", g.NumBuffered())
	}
}

func TestAddPartitionTwiceIsAnError(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	if err := g.AddPartition("a", 0, newHead()); err == nil {
		t.Fatal("second AddPartition(a, 0) succeeded")
	}
	if got := len(g.Partitions()); got != 1 {
		t.Fatalf("Partitions() has %d entries, want 1", got)
	}
	mustAddPartition(t, g, "a", 1) // same topic, other partition is fine
}

func TestAddRecordsWithEmptyBatchChangesNothing(t *testing.T) {
	g := New(Config{})
	h := mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, nil)
	mustAddRecords(t, g, "a", 0, []record.ConsumerRecord{})
	if g.NumBuffered() != 0 || h.decoded != 0 || mustReady(t, g, 0) {
		t.Fatal("empty batches buffered something")
	}
}

func TestTakenRecordsHeadIsNotOverwrittenUntilNextCallIntoGroup(t *testing.T) {
	g := New(Config{MaxTaskIdle: -1})
	ha := mustAddPartition(t, g, "a", 0)
	hb := mustAddPartition(t, g, "b", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 1, 2, 3, 4))
	if ha.last != 0 {
		t.Fatalf("after AddRecords head decoded offset %d, want 0", ha.last)
	}

	// Next returns; the head still holds the taken record; the following
	// Next decodes the next one first.
	tk := mustNext(t, g)
	if tk.Offset != 0 || ha.last != 0 {
		t.Fatalf("after Next: took %d, head at %d; want 0, 0", tk.Offset, ha.last)
	}
	// Queries that are not calls into the ordering do not decode either.
	g.Buffered("a", 0)
	g.Committable()
	g.StreamTime()
	g.NumBuffered()
	if ha.last != 0 {
		t.Fatalf("queries advanced the head to %d", ha.last)
	}
	tk = mustNext(t, g)
	if tk.Offset != 1 || ha.last != 1 {
		t.Fatalf("second Next: took %d, head at %d; want 1, 1", tk.Offset, ha.last)
	}

	// Ready advances it.
	if !mustReady(t, g, 0) || ha.last != 2 {
		t.Fatalf("after Ready head at %d, want 2", ha.last)
	}
	tk = mustNext(t, g)
	if tk.Offset != 2 || ha.last != 2 {
		t.Fatalf("third Next: took %d, head at %d; want 2, 2", tk.Offset, ha.last)
	}

	// AddRecords to another partition advances it.
	mustAddRecords(t, g, "b", 0, recs("b", 0, 0, 100))
	if ha.last != 3 || hb.last != 0 {
		t.Fatalf("after AddRecords(b) heads at a=%d b=%d, want 3, 0", ha.last, hb.last)
	}
	if ha.decoded != 4 {
		t.Fatalf("a's head decoded %d times, want 4 (each record once)", ha.decoded)
	}
}

func TestManySmallBatchesLeaveInOffsetOrder(t *testing.T) {
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	next := int64(0) // next offset to add
	add := func(n int) {
		for range n {
			mustAddRecords(t, g, "a", 0, recs("a", 0, next, next%7, (next+1)%7))
			next += 2
		}
	}
	want := int64(0)
	take := func(n int) {
		for range n {
			tk := mustNext(t, g)
			if tk.Offset != want {
				t.Fatalf("took offset %d, want %d", tk.Offset, want)
			}
			want++
		}
	}
	// Enough queued batches that consumed ones are compacted away while
	// others are still queued, interleaved with more appends.
	add(100)
	take(110)
	add(40)
	take(60)
	add(3)
	take(int(next - want))
	if _, ok, _ := g.Next(); ok {
		t.Fatal("records left after taking all")
	}
	if g.NumBuffered() != 0 || g.BufferedBytes() != 0 {
		t.Fatalf("NumBuffered=%d BufferedBytes=%d", g.NumBuffered(), g.BufferedBytes())
	}
	if got, want := g.Committable(), []Offset{{"a", 0, next, 6}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable() = %v, want %v", got, want)
	}
}

// benchHead decodes by reading the raw timestamp plus base, which the
// benchmark raises on every refill so that reused batches keep timestamps
// increasing.
type benchHead struct{ base int64 }

func (h *benchHead) Decode(raw *record.ConsumerRecord, _ int64) (int64, error) {
	return raw.Timestamp + h.base, nil
}

func benchNow() int64 { return 0 }

// benchGroup is a group of n partitions of one topic, each holding a
// pre-built batch; record i of partition p has timestamp i·n+p, so the
// group hands them out round-robin.
type benchGroup struct {
	g       *PartitionGroup
	heads   []*benchHead
	batches [][]record.ConsumerRecord
	left    []int
	step    int64
}

const benchBatch = 64

func newBenchGroup(tb testing.TB, n int) *benchGroup {
	bg := &benchGroup{g: New(Config{TaskID: "0_0"}), step: int64(benchBatch * n)}
	for p := range n {
		h := &benchHead{}
		if err := bg.g.AddPartition("in", int32(p), h); err != nil {
			tb.Fatal(err)
		}
		batch := make([]record.ConsumerRecord, benchBatch)
		for i := range batch {
			batch[i] = record.ConsumerRecord{Topic: "in", Partition: int32(p), Offset: int64(i),
				Timestamp: int64(i*n + p), Key: []byte("key"), Value: []byte("value")}
		}
		bg.heads = append(bg.heads, h)
		bg.batches = append(bg.batches, batch)
		bg.left = append(bg.left, benchBatch)
		if err := bg.g.AddRecords("in", int32(p), batch); err != nil {
			tb.Fatal(err)
		}
	}
	return bg
}

// one runs Ready and Next for one record, refilling the taken record's
// partition when it ran empty.
func (bg *benchGroup) one(tb testing.TB) {
	ready, err := bg.g.Ready(benchNow)
	if err != nil || !ready {
		tb.Fatalf("Ready = %v, %v", ready, err)
	}
	tk, ok, err := bg.g.Next()
	if err != nil || !ok {
		tb.Fatalf("Next = %v, %v", ok, err)
	}
	q := tk.Queue
	if bg.left[q]--; bg.left[q] == 0 {
		bg.heads[q].base += bg.step
		if err := bg.g.AddRecords("in", tk.Partition, bg.batches[q]); err != nil {
			tb.Fatal(err)
		}
		bg.left[q] = benchBatch
	}
}

func TestBenchGroupHandsOutIncreasingTimestampsRoundRobin(t *testing.T) {
	const n = 3
	bg := newBenchGroup(t, n)
	for i := range 5 * benchBatch * n {
		before := bg.g.StreamTime()
		bg.one(t)
		if st := bg.g.StreamTime(); st != int64(i) || (i > 0 && st != before+1) {
			t.Fatalf("record %d: stream time %d (before %d), want %d", i, st, before, i)
		}
	}
	if late := bg.g.Stats().LateRecords.Load(); late != 0 {
		t.Fatalf("LateRecords = %d, want 0", late)
	}
}

func TestSteadyStateReadyAndNextDoNotAllocate(t *testing.T) {
	bg := newBenchGroup(t, 8)
	for range 2 * benchBatch * 8 { // warm up: every queue refilled at least once
		bg.one(t)
	}
	if allocs := testing.AllocsPerRun(10_000, func() { bg.one(t) }); allocs != 0 {
		t.Fatalf("Ready+Next allocated %.2f times per record, want 0", allocs)
	}
}

// BenchmarkPartitionGroupNext measures Ready+Next per record over N
// partitions of one topic, records round-robin by timestamp, each queue
// refilled with its pre-built batch when it runs empty.
func BenchmarkPartitionGroupNext(b *testing.B) {
	for _, n := range []int{2, 8, 32} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			bg := newBenchGroup(b, n)
			b.ReportAllocs()
			for b.Loop() {
				bg.one(b)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestBatchListStaysBoundedWhileConsumerKeepsUpOneBatchBehind(t *testing.T) {
	// A queue that never fully drains (one batch always queued) must still
	// drop consumed batches from its list, or it grows with every batch.
	g := New(Config{})
	mustAddPartition(t, g, "a", 0)
	mustAddRecords(t, g, "a", 0, recs("a", 0, 0, 0))
	mustAddRecords(t, g, "a", 0, recs("a", 0, 1, 1))
	q := g.byTP[Partition{"a", 0}]
	maxLen := 0
	for i := int64(2); i < 10_000; i++ {
		mustAddRecords(t, g, "a", 0, recs("a", 0, i, i))
		if tk := mustNext(t, g); tk.Offset != i-2 {
			t.Fatalf("took offset %d, want %d", tk.Offset, i-2)
		}
		maxLen = max(maxLen, len(q.batches))
	}
	if maxLen > 100 {
		t.Fatalf("batch list grew to %d entries with 2 batches outstanding", maxLen)
	}
}

func TestDeadLettersOfTheDeserializationHandlerAreWrittenWhateverItAnswers(t *testing.T) {
	for _, c := range []struct {
		name string
		h    handler.DeserializationHandler
		fail bool
	}{{"LogAndContinue", handler.LogAndContinue{}, false}, {"LogAndFail", handler.LogAndFail{}, true}} {
		t.Run(c.name, func(t *testing.T) {
			var written []handler.DeadLetter
			g := New(Config{TaskID: "0_1", DeserializationHandler: c.h, DeadLetterQueueTopic: "dlq",
				DeadLetters: func(dls []handler.DeadLetter) error { written = append(written, dls...); return nil }})
			mustAddPartition(t, g, "t", 0)
			err := g.AddRecords("t", 0, []record.ConsumerRecord{{Topic: "t", Offset: 3, Timestamp: 7, Key: []byte("k"), Value: []byte("bad")}})
			if (err != nil) != c.fail {
				t.Fatalf("AddRecords = %v, want failure %v", err, c.fail)
			}
			if len(written) != 1 || written[0].Topic != "dlq" || string(written[0].Value) != "bad" || written[0].Timestamp != 7 {
				t.Fatalf("dead letters %+v, want the raw record for dlq", written)
			}
		})
	}
}

func TestDeadLetterThatCannotBeWrittenFailsTheGroupNamingTheRecordsError(t *testing.T) {
	g := New(Config{TaskID: "0_1", DeserializationHandler: handler.LogAndContinue{}, DeadLetterQueueTopic: "dlq"}) // no writer
	mustAddPartition(t, g, "t", 0)
	err := g.AddRecords("t", 0, []record.ConsumerRecord{{Topic: "t", Offset: 3, Value: []byte("bad")}})
	var de *record.DeserializationError
	if !errors.Is(err, handler.ErrDeadLetterWrite) || !errors.As(err, &de) {
		t.Fatalf("AddRecords = %v, want ErrDeadLetterWrite wrapping the DeserializationError", err)
	}
	if g.Stats().SkippedDeserialization.Load() != 0 {
		t.Error("the record counts as skipped though its dead letter was not written")
	}
}
