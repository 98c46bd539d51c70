package rdkbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// newOwnProducer makes an own Producer (idempotent, linger 5 ms, as the
// App's), closed when the test ends.
func newOwnProducer(t testing.TB, bootstrap string, extra map[string]string) *Producer {
	t.Helper()
	props := map[string]string{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": "5",
		"enable.idempotence": "true", "log_level": "3"}
	for k, v := range extra {
		props[k] = v
	}
	p, err := NewProducer(ProducerConfig{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newOwnWriter(t testing.TB, p *Producer) *Writer {
	t.Helper()
	w, err := NewProducerWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// outRecords is testRecords as OutMessages.
func outRecords(topic string, parts int32, n int) []OutMessage {
	var out []OutMessage
	for _, r := range testRecords(topic, parts, n) {
		m := OutMessage{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, Header{Key: []byte(h.Key), Value: h.Value})
		}
		out = append(out, m)
	}
	return out
}

func flushAll(t testing.TB, p *Producer) {
	t.Helper()
	if n := p.Flush(30 * time.Second); n != 0 {
		t.Fatalf("%d records still outstanding after Flush", n)
	}
}

func TestOwnProducerKeepsOrderNullsEmptiesHeadersAndReportsPerPartitionOffsets(t *testing.T) {
	const n, parts = 3000, 4
	cl := startCluster(t, map[string]int32{"out": parts})
	p := newOwnProducer(t, cl.Bootstrap(), nil)
	w := newOwnWriter(t, p)
	msgs := outRecords("out", parts, n)
	for i := 0; i < n; i += 500 { // several batches
		if k, err := w.Write(msgs[i : i+500]); k != 500 || err != nil {
			t.Fatalf("Write: %d, %v", k, err)
		}
	}
	flushAll(t, p)
	if d := p.Delivered(); d != n {
		t.Fatalf("Delivered() = %d, want %d", d, n)
	}
	if f := p.TakeFailures(nil); len(f) != 0 {
		t.Fatalf("%d failures, first %v", len(f), f[0].Err)
	}
	got := readBack(t, cl.Bootstrap(), "out", n, false)
	want := map[int32][]OutMessage{}
	for _, m := range msgs {
		want[m.Partition] = append(want[m.Partition], m)
	}
	seen := map[int32]int{}
	last := map[int32]int64{}
	for _, r := range got {
		i := seen[r.Partition]
		seen[r.Partition]++
		m := want[r.Partition][i]
		if !bytes.Equal(r.Key, m.Key) || (r.Key == nil) != (m.Key == nil) ||
			!bytes.Equal(r.Value, m.Value) || (r.Value == nil) != (m.Value == nil) {
			t.Fatalf("partition %d record %d: key %q value %q (nil %v/%v), want %q %q (nil %v/%v)", r.Partition, i,
				r.Key, r.Value, r.Key == nil, r.Value == nil, m.Key, m.Value, m.Key == nil, m.Value == nil)
		}
		if r.Timestamp.UnixMilli() != m.Timestamp {
			t.Fatalf("partition %d record %d: timestamp %d, want %d", r.Partition, i, r.Timestamp.UnixMilli(), m.Timestamp)
		}
		if len(r.Headers) != len(m.Headers) {
			t.Fatalf("partition %d record %d: %d headers, want %d", r.Partition, i, len(r.Headers), len(m.Headers))
		}
		for j, h := range r.Headers {
			if h.Key != string(m.Headers[j].Key) || !bytes.Equal(h.Value, m.Headers[j].Value) {
				t.Fatalf("partition %d record %d header %d: %q=%q, want %q=%q", r.Partition, i, j, h.Key, h.Value,
					m.Headers[j].Key, m.Headers[j].Value)
			}
		}
		last[r.Partition] = max(last[r.Partition], r.Offset)
	}
	for part := range int32(parts) {
		next, ok := p.Offset("out", part)
		if !ok || next != last[part]+1 {
			t.Errorf("Offset(out, %d) = %d, %v; a consumer read up to offset %d", part, next, ok, last[part])
		}
	}
	if _, ok := p.Offset("out", parts); ok {
		t.Errorf("Offset of a partition never written reports one")
	}
}

func TestFailedDeliveryToAMissingTopicArrivesWithItsBytes(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p := newOwnProducer(t, cl.Bootstrap(), map[string]string{"message.timeout.ms": "1000"})
	w := newOwnWriter(t, p)
	msgs := []OutMessage{
		{Topic: "missing", Partition: 0, Key: []byte("k"), Value: []byte{}, Timestamp: 1_700_000_000_123,
			Headers: []Header{{Key: []byte("h"), Value: []byte("v")}, {Key: []byte("n")}}},
		{Topic: "missing", Partition: 0, Value: []byte("v2"), Timestamp: 1_700_000_000_124},
		{Topic: "out", Partition: 0, Value: []byte("fine")},
	}
	if k, err := w.Write(msgs); k != 3 || err != nil {
		t.Fatalf("Write: %d, %v", k, err)
	}
	var fs []Failure
	eventually(t, 20*time.Second, "two failures", func() bool {
		fs = p.TakeFailures(fs)
		return len(fs) >= 2
	})
	if len(fs) != 2 {
		t.Fatalf("%d failures, want 2", len(fs))
	}
	f := fs[0]
	if f.Topic != "missing" || f.Partition != 0 || string(f.Key) != "k" || f.Value == nil || len(f.Value) != 0 ||
		f.Timestamp != 1_700_000_000_123 || f.Err.Code() == kafka.ErrNoError {
		t.Fatalf("first failure: %+v", f)
	}
	if len(f.Headers) != 2 || string(f.Headers[0].Key) != "h" || string(f.Headers[0].Value) != "v" ||
		string(f.Headers[1].Key) != "n" || f.Headers[1].Value != nil {
		t.Fatalf("first failure's headers: %+v", f.Headers)
	}
	if s := fs[1]; s.Key != nil || string(s.Value) != "v2" || s.Timestamp != 1_700_000_000_124 {
		t.Fatalf("second failure (null key): %+v", s)
	}
	flushAll(t, p)
	if d := p.Delivered(); d != 1 {
		t.Fatalf("Delivered() = %d, want 1 (failures are not counted)", d)
	}
}

func TestPurgedRecordsArriveAsFailures(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p := newOwnProducer(t, cl.Bootstrap(), map[string]string{"linger.ms": "60000"})
	w := newOwnWriter(t, p)
	if k, err := w.Write(outRecords("out", 1, 10)); k != 10 || err != nil {
		t.Fatalf("Write: %d, %v", k, err)
	}
	if err := p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); err != nil {
		t.Fatal(err)
	}
	var fs []Failure
	eventually(t, 10*time.Second, "ten failures", func() bool {
		fs = p.TakeFailures(fs)
		return len(fs) >= 10
	})
	for i, f := range fs {
		if c := f.Err.Code(); c != kafka.ErrPurgeQueue && c != kafka.ErrPurgeInflight {
			t.Fatalf("failure %d: %v, want a purge", i, f.Err)
		}
	}
}

func TestTrackedRecordsReportAnAckAndAreNotCounted(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p := newOwnProducer(t, cl.Bootstrap(), map[string]string{"message.timeout.ms": "1000"})
	if err := p.Produce(&OutMessage{Topic: "out", Partition: 0, Value: []byte("a"),
		Headers: []Header{{Key: []byte("x"), Value: []byte("y")}}}, TrackedOpaque+1); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(&OutMessage{Topic: "missing", Partition: 0, Value: []byte("b")}, TrackedOpaque+2); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(&OutMessage{Topic: "out", Partition: 0, Value: []byte("c")}, 7); err != nil {
		t.Fatal(err)
	}
	var acks []Ack
	eventually(t, 20*time.Second, "two acks", func() bool {
		acks = p.TakeAcks(acks)
		return len(acks) >= 2
	})
	byID := map[uint64]error{}
	for _, a := range acks {
		byID[a.ID] = a.Err
	}
	if err, ok := byID[TrackedOpaque+1]; !ok || err != nil {
		t.Fatalf("ack of the delivered record: %v, %v", ok, err)
	}
	if err, ok := byID[TrackedOpaque+2]; !ok || err == nil {
		t.Fatalf("ack of the record to a missing topic: %v, %v", ok, err)
	}
	flushAll(t, p)
	if d := p.Delivered(); d != 1 {
		t.Fatalf("Delivered() = %d, want 1 (tracked records are not counted)", d)
	}
	got := readBack(t, cl.Bootstrap(), "out", 2, false)
	if string(got[0].Value) != "a" || len(got[0].Headers) != 1 || string(got[1].Value) != "c" {
		t.Fatalf("read back %q (%d headers), %q", got[0].Value, len(got[0].Headers), got[1].Value)
	}
}

func TestOwnTransactionsCommitVisiblyAbortInvisiblyAndCommitTheGroupsOffsets(t *testing.T) {
	cl := startCluster(t, map[string]int32{"in": 1, "out": 1})
	produce(t, cl.Bootstrap(), testRecords("in", 1, 10))
	p := newOwnProducer(t, cl.Bootstrap(), map[string]string{"transactional.id": "own-txn"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cl.Bootstrap(), "own-txn-group", nil)
	if err := c.Assign([]kafka.TopicPartition{{Topic: ptr("in"), Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	w := newOwnWriter(t, p)
	write := func(v string) {
		if n, err := w.Write([]OutMessage{{Topic: "out", Partition: 0, Value: []byte(v)}}); n != 1 || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	write("aborted")
	if err := p.SendOffsetsToTransaction(ctx, []kafka.TopicPartition{{Topic: ptr("in"), Partition: 0, Offset: 3}}, c); err != nil {
		t.Fatal(err)
	}
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	write("committed")
	if err := p.SendOffsetsToTransaction(ctx, []kafka.TopicPartition{{Topic: ptr("in"), Partition: 0, Offset: 7}}, c); err != nil {
		t.Fatal(err)
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, cl.Bootstrap(), "out", 1, true)
	if len(got) != 1 || string(got[0].Value) != "committed" {
		t.Fatalf("read_committed sees %d records, first %q; want only the committed one", len(got), got[0].Value)
	}
	committed, err := c.Committed([]kafka.TopicPartition{{Topic: ptr("in"), Partition: 0}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != 1 || committed[0].Offset != 7 {
		t.Fatalf("group's committed offsets %v, want 7 (the committed transaction's; the aborted one sent 3)", committed)
	}
	// A transactional call out of order says so with the predicates.
	err = p.CommitTransaction(ctx)
	var te *TxnError
	if !errors.As(err, &te) || te.Code() == kafka.ErrNoError || te.IsFatal() {
		t.Fatalf("commit without a transaction: %v, want a non-fatal TxnError", err)
	}
}

func ptr(s string) *string { return &s }

func TestFencedOwnProducerReportsAFatalError(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := newOwnProducer(t, cl.Bootstrap(), map[string]string{"transactional.id": "fenced"})
	if err := old.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	w := newOwnWriter(t, old)
	if k, err := w.Write([]OutMessage{{Topic: "out", Partition: 0, Value: []byte("old")}}); k != 1 || err != nil {
		t.Fatalf("Write: %d, %v", k, err)
	}
	flushAll(t, old)
	newer := newOwnProducer(t, cl.Bootstrap(), map[string]string{"transactional.id": "fenced"})
	if err := newer.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	err := old.CommitTransaction(ctx)
	var te *TxnError
	if !errors.As(err, &te) || !(te.IsFatal() || te.TxnRequiresAbort()) {
		t.Fatalf("commit of the fenced producer: %v, want a fatal or abortable TxnError", err)
	}
	var fatal error
	eventually(t, 10*time.Second, "the fenced producer's fatal error", func() bool {
		fatal = old.FatalError()
		return fatal != nil
	})
	var errs []kafka.Error
	eventually(t, 10*time.Second, "the fatal error event", func() bool {
		errs = append(errs, old.TakeErrors()...)
		for _, e := range errs {
			if e.IsFatal() {
				return true
			}
		}
		return false
	})
	if ke, ok := fatal.(kafka.Error); !ok || !ke.IsFatal() {
		t.Fatalf("FatalError() = %v, want a fatal kafka.Error", fatal)
	}
}

func TestNewProducerNamesTheRefusedProperty(t *testing.T) {
	_, err := NewProducer(ProducerConfig{Properties: map[string]string{"no.such.property": "1"}})
	if err == nil || !strings.Contains(err.Error(), "no.such.property") {
		t.Fatalf("NewProducer: %v, want an error naming no.such.property", err)
	}
}

func TestLogLinesReachTheLogger(t *testing.T) {
	var mu sync.Mutex
	var lines []LogLine
	p, err := NewProducer(ProducerConfig{Properties: map[string]string{"bootstrap.servers": "127.0.0.1:1",
		"log_level": "7", "debug": "broker"},
		Log: func(l LogLine) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	eventually(t, 10*time.Second, "a log line", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lines) > 0 && lines[0].Tag != "" && lines[0].Message != ""
	})
}

func TestWritersCloseSafelyBeforeAndAfterTheProducerAndFlushAfterCloseFails(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p := newOwnProducer(t, cl.Bootstrap(), nil)
	before, err := NewProducerWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	after := newOwnWriter(t, p)
	if k, err := after.Write([]OutMessage{{Topic: "out", Partition: 0, Value: []byte("x")}}); k != 1 || err != nil {
		t.Fatalf("Write: %d, %v", k, err)
	}
	_ = before.Close()
	flushAll(t, p)
	p.Close()
	if _, err := after.Write([]OutMessage{{Topic: "out", Partition: 0, Value: []byte("y")}}); !errors.Is(err, ErrProducerClosed) {
		t.Fatalf("Write after the producer closed: %v, want ErrProducerClosed", err)
	}
	if _, err := NewProducerWriter(p); !errors.Is(err, ErrProducerClosed) {
		t.Fatalf("NewProducerWriter after Close: %v", err)
	}
	if p.Len() != 0 || p.Delivered() != 0 || p.TakeFailures(nil) != nil {
		t.Fatal("a closed producer reports state")
	}
	_ = after.Close()
	p.Close() // a second Close does nothing
}

func TestConcurrentWritersReadersAndCloseUnderRace(t *testing.T) {
	const writers, each = 4, 2000
	cl := startCluster(t, map[string]int32{"out": writers})
	p := newOwnProducer(t, cl.Bootstrap(), nil)
	var wg sync.WaitGroup
	for i := range writers {
		w := newOwnWriter(t, p)
		wg.Go(func() {
			for j := range each {
				if err := w.Append(&OutMessage{Topic: "out", Partition: int32(i), Value: fmt.Appendf(nil, "%d-%d", i, j)}); err != nil {
					t.Error(err)
					return
				}
				if w.Pending() == 100 {
					if err := w.Flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = p.Delivered()
			_, _ = p.Offset("out", 0)
			_ = p.TakeFailures(nil)
			_ = p.Len()
		}
	})
	wg.Wait()
	flushAll(t, p)
	close(stop)
	rg.Wait()
	if d := p.Delivered(); d != writers*each {
		t.Fatalf("Delivered() = %d, want %d", d, writers*each)
	}
	for i := range int32(writers) {
		if next, ok := p.Offset("out", i); !ok || next != each {
			t.Fatalf("Offset(out, %d) = %d, %v, want %d", i, next, ok, each)
		}
	}
	// Close while writers keep flushing: each Flush either goes in
	// before Close or fails with ErrProducerClosed.
	var cg sync.WaitGroup
	for i := range writers {
		w := newOwnWriter(t, p)
		cg.Go(func() {
			for {
				if _, err := w.Write([]OutMessage{{Topic: "out", Partition: int32(i), Value: []byte("late")}}); err != nil {
					if !errors.Is(err, ErrProducerClosed) {
						t.Errorf("Write while closing: %v", err)
					}
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // let the writers run before Close (not a synchronisation)
	p.Close()
	cg.Wait()
}
