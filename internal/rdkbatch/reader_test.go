package rdkbatch

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkRecord compares a consumed record with the one produced at index i.
func checkRecord(t *testing.T, g got, want *kgo.Record) {
	t.Helper()
	if g.ts != want.Timestamp.UnixMilli() {
		t.Errorf("%d@%d: timestamp %d, want %d", g.partition, g.offset, g.ts, want.Timestamp.UnixMilli())
	}
	if (g.key == nil) != (want.Key == nil) || !bytes.Equal(g.key, want.Key) {
		t.Errorf("%d@%d: key %q (nil %v), want %q (nil %v)", g.partition, g.offset, g.key, g.key == nil, want.Key, want.Key == nil)
	}
	if (g.val == nil) != (want.Value == nil) || !bytes.Equal(g.val, want.Value) {
		t.Errorf("%d@%d: value %q (nil %v), want %q (nil %v)", g.partition, g.offset, g.val, g.val == nil, want.Value, want.Value == nil)
	}
	if len(g.headers) != len(want.Headers) {
		t.Errorf("%d@%d: %d headers, want %d", g.partition, g.offset, len(g.headers), len(want.Headers))
		return
	}
	for i, h := range want.Headers {
		if string(g.headers[i].Key) != h.Key || (g.headers[i].Value == nil) != (h.Value == nil) || !bytes.Equal(g.headers[i].Value, h.Value) {
			t.Errorf("%d@%d: header %d = %q:%q, want %q:%q", g.partition, g.offset, i, g.headers[i].Key, g.headers[i].Value, h.Key, h.Value)
		}
	}
}

// byPartition indexes produced records by partition and offset (franz-go
// writes each partition's records in order from offset 0).
func byPartition(recs []*kgo.Record) map[int32][]*kgo.Record {
	out := map[int32][]*kgo.Record{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// readAll steps m until n records came through the Reader, checking that
// each partition's offsets continue exactly where they left off.
func readAll(t *testing.T, m *member, n int, each func(g got)) {
	t.Helper()
	next := map[int32]int64{}
	seen := 0
	eventually(t, 60*time.Second, fmt.Sprintf("%d records read", n), func() bool {
		for i, msg := range m.step(t, 100*time.Millisecond) {
			if msg.Err != nil {
				t.Fatalf("message %d: %v", i, msg.Err)
			}
			if msg.Topic != "in" {
				t.Fatalf("topic %q, want in", msg.Topic)
			}
			if msg.Offset != next[msg.Partition] {
				t.Fatalf("partition %d: offset %d after %d", msg.Partition, msg.Offset, next[msg.Partition]-1)
			}
			next[msg.Partition] = msg.Offset + 1
			each(snapshot(&msg))
			seen++
		}
		return seen >= n
	})
	if len(m.polled) > 0 {
		t.Fatalf("c.Poll returned %d messages of added partitions", len(m.polled))
	}
}

func TestReaderDeliversEveryRecordInOffsetOrderWithNullsTimestampsAndHeaders(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 3})
	recs := testRecords("in", 3, 3000)
	produce(t, cl.Bootstrap(), recs)
	want := byPartition(recs)

	m := newMember(t, cl.Bootstrap(), "g-order", "in", Config{Headers: true}, nil)
	readAll(t, m, len(recs), func(g got) { checkRecord(t, g, want[g.partition][g.offset]) })
	if m.assigned != 1 {
		t.Fatalf("rebalance callback assigned %d times, want 1", m.assigned)
	}
}

func TestWithoutHeadersConfiguredMessagesCarryNone(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 1})
	recs := testRecords("in", 1, 50)
	produce(t, cl.Bootstrap(), recs)
	m := newMember(t, cl.Bootstrap(), "g-nohdr", "in", Config{}, nil)
	readAll(t, m, len(recs), func(g got) {
		if len(g.headers) != 0 {
			t.Fatalf("%d@%d: %d headers without Config.Headers", g.partition, g.offset, len(g.headers))
		}
	})
}

func TestRetainedMessagesStayIntactAcrossLaterReads(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 2})
	recs := testRecords("in", 2, 2000)
	produce(t, cl.Bootstrap(), recs)
	want := byPartition(recs)

	m := newMember(t, cl.Bootstrap(), "g-retain", "in", Config{Headers: true, Retain: true}, nil)
	m.buf = make([]Message, 64) // many Reads, so later ones could overwrite earlier ones
	var kept []Message
	eventually(t, 60*time.Second, "2000 records read", func() bool {
		kept = append(kept, m.step(t, 100*time.Millisecond)...)
		return len(kept) >= len(recs)
	})
	for i := range kept {
		checkRecord(t, snapshot(&kept[i]), want[kept[i].Partition][kept[i].Offset])
	}
}

func TestReusedArenaIsOverwrittenByTheNextRead(t *testing.T) {
	// The documented contract of the default mode, shown: a slice kept
	// from one Read changes under a later one. (If it did not, Retain
	// would be pointless and the doc wrong.)
	cl := startCluster(t, map[string]int32{"in": 1})
	recs := make([]*kgo.Record, 200)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "in", Value: fmt.Appendf(nil, "value-%04d", i)}
	}
	produce(t, cl.Bootstrap(), recs)
	m := newMember(t, cl.Bootstrap(), "g-reuse", "in", Config{}, nil)
	m.buf = make([]Message, 10)
	var first []byte
	var firstCopy []byte
	read := 0
	eventually(t, 30*time.Second, "200 records read", func() bool {
		b := m.step(t, 100*time.Millisecond)
		if first == nil && len(b) > 0 {
			first, firstCopy = b[0].Value, copyOf(b[0].Value)
		}
		read += len(b)
		return read >= len(recs)
	})
	if bytes.Equal(first, firstCopy) {
		t.Fatalf("a value kept from the first Read still reads %q after %d more records", first, read)
	}
}

func TestRebalancesStillReachTheCallbackAndEveryPartitionKeepsFlowing(t *testing.T) {
	// Two members join one after the other: the eager protocol revokes
	// everything from the first and assigns again. A stopped fetcher
	// clears its route to the Reader; the Reader must set it again, or the
	// re-assigned partitions would never deliver another record.
	cl := startCluster(t, map[string]int32{"in": 4})
	first := testRecords("in", 4, 400)
	produce(t, cl.Bootstrap(), first)

	a := newMember(t, cl.Bootstrap(), "g-rebal", "in", Config{}, nil)
	aNext := map[int32]int64{}
	count := func(m *member, next map[int32]int64, batch []Message) {
		for _, msg := range batch {
			if msg.Err != nil {
				t.Fatalf("consumer error: %v", msg.Err)
			}
			if !m.owned[msg.Partition] {
				continue // fetched before a revoke; the application drops it
			}
			if msg.Offset < next[msg.Partition] {
				t.Fatalf("partition %d went back from %d to %d without a rebalance", msg.Partition, next[msg.Partition], msg.Offset)
			}
			next[msg.Partition] = msg.Offset + 1
		}
	}
	eventually(t, 30*time.Second, "first member read the first records", func() bool {
		count(a, aNext, a.step(t, 100*time.Millisecond))
		sum := int64(0)
		for _, o := range aNext {
			sum += o
		}
		return sum >= int64(len(first))
	})
	if _, err := a.c.CommitOffsets(positions("in", aNext)); err != nil {
		t.Fatal(err)
	}

	b := newMember(t, cl.Bootstrap(), "g-rebal", "in", Config{}, nil)
	bNext := map[int32]int64{}
	eventually(t, 30*time.Second, "the group split the partitions", func() bool {
		count(a, aNext, a.step(t, 20*time.Millisecond))
		count(b, bNext, b.step(t, 20*time.Millisecond))
		return len(a.owned) > 0 && len(b.owned) > 0 && len(a.owned)+len(b.owned) == 4
	})
	if a.revoked == 0 || a.assigned < 2 || b.assigned == 0 {
		t.Fatalf("callbacks: first member assigned %d revoked %d, second assigned %d", a.assigned, a.revoked, b.assigned)
	}
	// A new owner resumes from the committed offsets.
	for p := range b.owned {
		if _, seen := bNext[p]; seen && bNext[p] < aNext[p] {
			t.Fatalf("partition %d: second member started before the commit (%d < %d)", p, bNext[p], aNext[p])
		}
	}
	more := testRecords("in", 4, 400)
	produce(t, cl.Bootstrap(), more)
	eventually(t, 30*time.Second, "both members read every partition to its end", func() bool {
		count(a, aNext, a.step(t, 20*time.Millisecond))
		count(b, bNext, b.step(t, 20*time.Millisecond))
		for p := range int32(4) {
			next := aNext
			if b.owned[p] {
				next = bNext
			}
			if next[p] < 200 {
				return false
			}
		}
		return true
	})
	if len(a.polled)+len(b.polled) > 0 {
		t.Fatalf("c.Poll returned %d messages of added partitions", len(a.polled)+len(b.polled))
	}
}

// positions returns next offsets as a commit list.
func positions(topic string, next map[int32]int64) []kafka.TopicPartition {
	var out []kafka.TopicPartition
	for p, o := range next {
		out = append(out, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	return out
}

func TestPausedPartitionDeliversNothingAndResumesWithoutGapOrRepeat(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 2})
	recs := testRecords("in", 2, 4000)
	produce(t, cl.Bootstrap(), recs)

	m := newMember(t, cl.Bootstrap(), "g-pause", "in", Config{}, nil)
	m.buf = make([]Message, 100)
	next := map[int32]int64{}
	take := func(paused int32, isPaused bool) int {
		batch := m.step(t, 50*time.Millisecond)
		for _, msg := range batch {
			if isPaused && msg.Partition == paused {
				t.Fatalf("partition %d delivered offset %d while paused", paused, msg.Offset)
			}
			if msg.Offset != next[msg.Partition] {
				t.Fatalf("partition %d: offset %d after %d", msg.Partition, msg.Offset, next[msg.Partition]-1)
			}
			next[msg.Partition] = msg.Offset + 1
		}
		return len(batch)
	}
	eventually(t, 30*time.Second, "some records of partition 0", func() bool {
		take(0, false)
		return next[0] >= 300
	})
	topic := "in"
	tp := []kafka.TopicPartition{{Topic: &topic, Partition: 0}}
	if err := m.c.Pause(tp); err != nil {
		t.Fatal(err)
	}
	// librdkafka had prefetched much more of partition 0: pausing drops
	// it, and resuming must fetch again from the position after the last
	// record handed out, the same as under Poll.
	for range 20 {
		take(0, true)
	}
	if err := m.c.Resume(tp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "every record after the resume", func() bool {
		take(0, false)
		return next[0]+next[1] >= int64(len(recs))
	})
}

func TestSeekRewindsAPartitionAndDropsWhatWasFetchedBefore(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 1})
	recs := testRecords("in", 1, 2000)
	produce(t, cl.Bootstrap(), recs)

	m := newMember(t, cl.Bootstrap(), "g-seek", "in", Config{}, nil)
	m.buf = make([]Message, 100)
	next := int64(0)
	eventually(t, 30*time.Second, "500 records", func() bool {
		for _, msg := range m.step(t, 50*time.Millisecond) {
			if msg.Offset != next {
				t.Fatalf("offset %d after %d", msg.Offset, next-1)
			}
			next++
		}
		return next >= 500
	})
	topic := "in"
	if err := m.c.Seek(kafka.TopicPartition{Topic: &topic, Partition: 0, Offset: 100}, 5000); err != nil {
		t.Fatal(err)
	}
	// Everything after the seek starts at 100 and then runs on in order;
	// records fetched before it (past 500) must not show up first.
	next = -1
	eventually(t, 30*time.Second, "records from the seek point on", func() bool {
		for _, msg := range m.step(t, 50*time.Millisecond) {
			if next == -1 {
				if msg.Offset != 100 {
					t.Fatalf("first record after seeking to 100: offset %d", msg.Offset)
				}
				next = 100
			}
			if msg.Offset != next {
				t.Fatalf("offset %d after %d", msg.Offset, next-1)
			}
			next++
		}
		return next >= int64(len(recs))
	})
}

func TestCommittedBatchPositionsResumeTheNextConsumer(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 2})
	recs := testRecords("in", 2, 1000)
	produce(t, cl.Bootstrap(), recs)

	m := newMember(t, cl.Bootstrap(), "g-commit", "in", Config{}, nil)
	m.buf = make([]Message, 50)
	next := map[int32]int64{}
	eventually(t, 30*time.Second, "300 records", func() bool {
		for _, msg := range m.step(t, 50*time.Millisecond) {
			next[msg.Partition] = msg.Offset + 1
		}
		return next[0]+next[1] >= 300
	})
	if _, err := m.c.CommitOffsets(positions("in", next)); err != nil {
		t.Fatal(err)
	}
	if err := m.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Close(); err != nil {
		t.Fatal(err)
	}
	n := newMember(t, cl.Bootstrap(), "g-commit", "in", Config{}, nil)
	seen := map[int32]bool{}
	eventually(t, 30*time.Second, "both partitions resumed", func() bool {
		for _, msg := range n.step(t, 50*time.Millisecond) {
			if !seen[msg.Partition] {
				seen[msg.Partition] = true
				if msg.Offset != next[msg.Partition] {
					t.Fatalf("partition %d resumed at %d, committed %d", msg.Partition, msg.Offset, next[msg.Partition])
				}
			}
		}
		return len(seen) == 2
	})
}

func TestPartitionsNotAddedStillArriveThroughPollAndWakeARead(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 2})
	c := newConsumer(t, cl.Bootstrap(), "g-mixed", nil)
	r, err := New(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	topic := "in"
	if err := r.Add([]kafka.TopicPartition{{Topic: &topic, Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning},
		{Topic: &topic, Partition: 1, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	produce(t, cl.Bootstrap(), []*kgo.Record{{Topic: "in", Partition: 1, Value: []byte("one")}})
	// Nothing will come to the Reader; a Poll-side message must cut its
	// long wait short.
	buf := make([]Message, 8)
	start := time.Now()
	var polled []*kafka.Message
	for len(polled) == 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the message of partition 1 never reached Poll")
		}
		n, err := r.Read(time.Minute, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("Read returned %d messages; only partition 1 has any", n)
		}
		for ev := c.Poll(0); ev != nil; ev = c.Poll(0) {
			if m, ok := ev.(*kafka.Message); ok {
				polled = append(polled, m)
			}
		}
	}
	if p := polled[0].TopicPartition.Partition; p != 1 || string(polled[0].Value) != "one" {
		t.Fatalf("Poll returned %q of partition %d", polled[0].Value, p)
	}
	produce(t, cl.Bootstrap(), []*kgo.Record{{Topic: "in", Partition: 0, Value: []byte("zero")}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := r.Read(time.Second, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if buf[0].Partition != 0 || string(buf[0].Value) != "zero" {
				t.Fatalf("Read returned %q of partition %d", buf[0].Value, buf[0].Partition)
			}
			break
		}
		for ev := c.Poll(0); ev != nil; ev = c.Poll(0) {
			if m, ok := ev.(*kafka.Message); ok {
				t.Fatalf("Poll returned a message of partition %d, routed to the Reader", m.TopicPartition.Partition)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the message of partition 0 never reached the Reader")
		}
	}
}

func TestCloseHandsTheRestBackToPollInOrder(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 1})
	recs := testRecords("in", 1, 3000)
	produce(t, cl.Bootstrap(), recs)

	m := newMember(t, cl.Bootstrap(), "g-close", "in", Config{}, nil)
	m.buf = make([]Message, 100)
	next := int64(0)
	eventually(t, 30*time.Second, "1000 records through the Reader", func() bool {
		for _, msg := range m.step(t, 50*time.Millisecond) {
			if msg.Offset != next {
				t.Fatalf("offset %d after %d", msg.Offset, next-1)
			}
			next++
		}
		return next >= 1000
	})
	if err := m.r.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.r.Read(0, m.buf); n != 0 || err != ErrClosed {
		t.Fatalf("Read after Close: %d, %v; want 0, ErrClosed", n, err)
	}
	eventually(t, 30*time.Second, "the rest through Poll", func() bool {
		if e, ok := m.c.Poll(50).(*kafka.Message); ok {
			if int64(e.TopicPartition.Offset) != next {
				t.Fatalf("Poll after Close: offset %d after %d", e.TopicPartition.Offset, next-1)
			}
			next++
		}
		return next >= int64(len(recs))
	})
}

func TestNewRefusesANilOrClosedConsumer(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	cl := startCluster(t, nil)
	c := newConsumer(t, cl.Bootstrap(), "g-closed", nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c, Config{}); err == nil {
		t.Fatal("New on a closed consumer succeeded")
	}
}

func TestTheClientFoundInTheWrapperIsTheConsumersOwn(t *testing.T) {
	// clientOf checks librdkafka's name for the client against the
	// wrapper's: two consumers must each map to their own client.
	cl := startCluster(t, nil)
	c1 := newConsumer(t, cl.Bootstrap(), "g1", nil)
	c2 := newConsumer(t, cl.Bootstrap(), "g2", nil)
	rk1, err1 := clientOf(c1)
	rk2, err2 := clientOf(c2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if rk1 == rk2 {
		t.Fatal("two consumers share one librdkafka client")
	}
}

func TestAddNeedsATopicAndFailsAfterClose(t *testing.T) {
	cl := startCluster(t, nil)
	c := newConsumer(t, cl.Bootstrap(), "g-add", nil)
	r, err := New(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add([]kafka.TopicPartition{{Partition: 0}}); err == nil {
		t.Fatal("Add without a topic succeeded")
	}
	topic := "t"
	if err := r.Add([]kafka.TopicPartition{{Topic: &topic, Partition: 0}, {Topic: &topic, Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	if n := r.Partitions(); n != 1 {
		t.Fatalf("%d partitions routed after adding one twice", n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.Add([]kafka.TopicPartition{{Topic: &topic, Partition: 1}}); err != ErrClosed {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
}
