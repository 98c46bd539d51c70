package rdkbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newProducer makes a producer whose delivery reports are read into a
// channel, closed when the test ends.
func newProducer(t *testing.T, bootstrap string, extra kafka.ConfigMap) (*kafka.Producer, <-chan *kafka.Message) {
	t.Helper()
	cm := kafka.ConfigMap{"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5,
		"enable.idempotence": true, "log_level": 3, "go.logs.channel.enable": false}
	for k, v := range extra {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan *kafka.Message, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				reports <- m
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return p, reports
}

// readBack reads n records of topic from the start with franz-go.
func readBack(t *testing.T, bootstrap, topic string, n int, committed bool) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		f.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestWriterProducesKeysValuesNullsTimestampsHeadersAndPartitions(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 3})
	p, reports := newProducer(t, cl.Bootstrap(), nil)
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	msgs := make([]OutMessage, 300)
	for i := range msgs {
		m := OutMessage{Topic: "out", Partition: int32(i % 3), Key: fmt.Appendf(nil, "k%d", i),
			Value: fmt.Appendf(nil, "v%d", i), Timestamp: 1_700_000_000_000 + int64(i)}
		switch {
		case i%7 == 0:
			m.Key = nil
		case i%9 == 0:
			m.Key = []byte{}
		}
		switch {
		case i%11 == 0:
			m.Value = nil
		case i%13 == 0:
			m.Value = []byte{}
		}
		if i%5 == 0 {
			m.Headers = []Header{{Key: []byte("h1"), Value: fmt.Appendf(nil, "x%d", i)}, {Key: []byte("h2")}}
		}
		msgs[i] = m
	}
	n, err := w.Write(msgs)
	if err != nil || n != len(msgs) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if left := p.Flush(20_000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	for range msgs {
		select {
		case r := <-reports:
			if r.TopicPartition.Error != nil {
				t.Fatalf("delivery: %v", r.TopicPartition.Error)
			}
			if r.Opaque != nil {
				t.Fatalf("delivery report with opaque %v", r.Opaque)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a delivery report is missing")
		}
	}
	got := readBack(t, cl.Bootstrap(), "out", len(msgs), false)
	byTS := map[int64]*kgo.Record{}
	for _, r := range got {
		byTS[r.Timestamp.UnixMilli()] = r
	}
	for i, m := range msgs {
		r := byTS[m.Timestamp]
		if r == nil {
			t.Fatalf("record %d (timestamp %d) missing", i, m.Timestamp)
		}
		if r.Partition != m.Partition {
			t.Errorf("record %d: partition %d, want %d", i, r.Partition, m.Partition)
		}
		if (r.Key == nil) != (m.Key == nil) || !bytes.Equal(r.Key, m.Key) {
			t.Errorf("record %d: key %q (nil %v), want %q (nil %v)", i, r.Key, r.Key == nil, m.Key, m.Key == nil)
		}
		if (r.Value == nil) != (m.Value == nil) || !bytes.Equal(r.Value, m.Value) {
			t.Errorf("record %d: value %q (nil %v), want %q (nil %v)", i, r.Value, r.Value == nil, m.Value, m.Value == nil)
		}
		if len(r.Headers) != len(m.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(m.Headers))
		}
		for j, h := range m.Headers {
			if r.Headers[j].Key != string(h.Key) || (r.Headers[j].Value == nil) != (h.Value == nil) || !bytes.Equal(r.Headers[j].Value, h.Value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, r.Headers[j].Key, r.Headers[j].Value, h.Key, h.Value)
			}
		}
	}
}

func TestWriterStopsAtAFullQueueAndTheRestCanBeWrittenAgain(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p, _ := newProducer(t, cl.Bootstrap(), kafka.ConfigMap{"queue.buffering.max.messages": 10, "linger.ms": 1000})
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	msgs := make([]OutMessage, 25)
	for i := range msgs {
		msgs[i] = OutMessage{Topic: "out", Partition: kafka.PartitionAny, Value: fmt.Appendf(nil, "%02d", i)}
	}
	n, err := w.Write(msgs)
	var ke kafka.Error
	if n != 10 || !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
		t.Fatalf("Write into a queue of 10: %d, %v; want 10, a queue-full kafka.Error", n, err)
	}
	written := n
	eventually(t, 30*time.Second, "the rest written", func() bool {
		p.Flush(100)
		k, err := w.Write(msgs[written:])
		if err != nil && (!errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull) {
			t.Fatal(err)
		}
		written += k
		return written == len(msgs)
	})
	if left := p.Flush(20_000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	for i, r := range readBack(t, cl.Bootstrap(), "out", len(msgs), false) {
		if want := fmt.Sprintf("%02d", i); string(r.Value) != want {
			t.Fatalf("record %d is %q, want %q (order kept across the retry)", i, r.Value, want)
		}
	}
}

func TestWrittenRecordsBelongToTheProducersTransaction(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p, _ := newProducer(t, cl.Bootstrap(), kafka.ConfigMap{"transactional.id": "rdkbatch-txn"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	write := func(v string) {
		if n, err := w.Write([]OutMessage{{Topic: "out", Partition: 0, Value: []byte(v)}}); n != 1 || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	write("aborted")
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	write("committed")
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, cl.Bootstrap(), "out", 1, true)
	if len(got) != 1 || string(got[0].Value) != "committed" {
		t.Fatalf("read_committed sees %d records, first %q; want only the committed one", len(got), got[0].Value)
	}
}

func TestNewWriterRefusesANilOrClosedProducerAndWriteFailsAfterClose(t *testing.T) {
	if _, err := NewWriter(nil); err == nil {
		t.Fatal("NewWriter(nil) succeeded")
	}
	cl := startCluster(t, nil)
	p, _ := newProducer(t, cl.Bootstrap(), nil)
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]OutMessage{{Value: []byte("x")}}); err == nil {
		t.Fatal("Write of a record without a topic succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]OutMessage{{Topic: "t", Value: []byte("x")}}); err != ErrClosed {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	p2, _ := newProducer(t, cl.Bootstrap(), nil)
	p2.Close()
	if _, err := NewWriter(p2); err == nil {
		t.Fatal("NewWriter on a closed producer succeeded")
	}
}

// A record librdkafka refuses at once (larger than message.max.bytes)
// stops Flush there: the records before it are written, it is the first
// pending one, with its key, value and headers, and once skipped the rest
// is written in order.
func TestFlushStopsAtARefusedRecordThatPeekShowsAndSkipDrops(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	p, _ := newProducer(t, cl.Bootstrap(), kafka.ConfigMap{"message.max.bytes": 2000})
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	big := bytes.Repeat([]byte("x"), 4000)
	in := []OutMessage{
		{Topic: "out", Partition: 0, Value: []byte("v0")},
		{Topic: "out", Partition: 0, Value: []byte("v1")},
		{Topic: "out", Partition: 0, Key: []byte("big"), Value: big, Headers: []Header{{Key: []byte("h"), Value: []byte("hv")}}},
		{Topic: "out", Partition: 0, Value: []byte("v3")},
	}
	for i := range in {
		if err := w.Append(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	err = w.Flush()
	var ke kafka.Error
	if !errors.As(err, &ke) || ke.Code() != kafka.ErrMsgSizeTooLarge {
		t.Fatalf("Flush with a record over message.max.bytes: %v, want a message-size kafka.Error", err)
	}
	if w.Pending() != 2 {
		t.Fatalf("%d records pending after the refusal, want 2 (the refused one and the one after it)", w.Pending())
	}
	m, ok := w.Peek()
	if !ok || string(m.Key) != "big" || !bytes.Equal(m.Value, big) || len(m.Headers) != 1 || string(m.Headers[0].Value) != "hv" {
		t.Fatalf("Peek after the refusal: %v %q (%d value bytes) %v; want the refused record", ok, m.Key, len(m.Value), m.Headers)
	}
	w.Skip()
	if err := w.Flush(); err != nil || w.Pending() != 0 {
		t.Fatalf("Flush after Skip: %v, %d pending", err, w.Pending())
	}
	if left := p.Flush(20_000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	var got []string
	for _, r := range readBack(t, cl.Bootstrap(), "out", 3, false) {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[v0 v1 v3]" {
		t.Fatalf("topic holds %v, want [v0 v1 v3]", got)
	}
}

// The Writer holds no librdkafka object, so closing it after its producer
// is safe, and appending or flushing after the producer closed fails
// instead of reaching a destroyed client.
func TestWriterClosesSafelyAfterItsProducer(t *testing.T) {
	cl := startCluster(t, map[string]int32{"out": 1})
	cm := kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "log_level": 3, "go.logs.channel.enable": false}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.Events() {
		}
	}()
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(&OutMessage{Topic: "out", Partition: 0, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	p.Flush(10_000)
	p.Close()
	if err := w.Append(&OutMessage{Topic: "out", Partition: 0, Value: []byte("y")}); err != nil {
		t.Fatal(err) // appending only copies
	}
	if err := w.Flush(); err == nil {
		t.Fatal("Flush after the producer closed succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(&OutMessage{Topic: "out", Value: []byte("z")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}
