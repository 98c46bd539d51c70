package kafkatest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
)

func TestConnectedClusterCreatesTopicsAndRoundTripsRecordsOnBrokersItDoesNotOwn(t *testing.T) {
	embedded, err := kafkatest.Start(kafkatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(embedded.Close)
	remote, err := kafkatest.Connect(embedded.Bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	if remote.Bootstrap() != embedded.Bootstrap() {
		t.Errorf("connected Bootstrap() = %q, want %q", remote.Bootstrap(), embedded.Bootstrap())
	}
	// Through the protocol (a CreateTopics request), not the embedded API.
	if err := remote.CreateTopic("t", 2); err != nil {
		t.Fatal(err)
	}
	if err := remote.CreateTopic("t", 2); !errors.Is(err, kafkatest.ErrTopicExists) {
		t.Errorf("second CreateTopic through Connect = %v, want ErrTopicExists", err)
	}
	if err := embedded.CreateTopic("t", 2); !errors.Is(err, kafkatest.ErrTopicExists) {
		t.Errorf("second CreateTopic on the embedded cluster = %v, want ErrTopicExists", err)
	}
	r, _ := record.New("k", "v", 42)
	if err := kafkatest.Produce(remote, "t", record.String(), record.String(), r); err != nil {
		t.Fatal(err)
	}
	remote.Close() // leaves the brokers running
	got, err := kafkatest.Read(embedded, "t", record.String(), record.String(), 1, kafkatest.ReadOptions{Timeout: 10 * time.Second})
	if err != nil || len(got) != 1 || got[0].Key() != "k" || got[0].Value() != "v" || got[0].Timestamp() != 42 {
		t.Fatalf("read back %v, %v; want k=v at 42", got, err)
	}
	if _, err := kafkatest.Read(remote, "t", record.String(), record.String(), 1, kafkatest.ReadOptions{Timeout: 10 * time.Second}); err != nil {
		t.Errorf("Read through a closed connected cluster: %v (its brokers still run)", err)
	}
}

func TestConnectFailsWithoutServersOrWhenNoBrokerAnswers(t *testing.T) {
	if _, err := kafkatest.Connect(" , "); err == nil {
		t.Error("Connect with no servers succeeded")
	}
	embedded, err := kafkatest.Start(kafkatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := embedded.Bootstrap()
	embedded.Close()
	if _, err := kafkatest.Connect(addr); err == nil {
		t.Errorf("Connect to the stopped broker %s succeeded", addr)
	}
}

func TestReadUntilReadsSeveralTopicsUntilTheConditionHolds(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"a": 2, "b": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var recs []record.Record[string, int64]
	for i := range int64(5) {
		r, _ := record.New("k", i, i)
		recs = append(recs, r)
	}
	if err := kafkatest.Produce(cl, "a", record.String(), record.Int64(), recs[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := kafkatest.Produce(cl, "b", record.String(), record.Int64(), recs[3:]...); err != nil {
		t.Fatal(err)
	}
	// The latest value per key, until every topic's last one has arrived:
	// the records of one key keep their order within a partition.
	last := map[string]int64{}
	err = kafkatest.ReadUntil(cl, []string{"a", "b"}, record.String(), record.Int64(), kafkatest.ReadOptions{Timeout: 10 * time.Second},
		func(topic string, r record.Record[string, int64]) bool {
			last[topic] = r.Value()
			return last["a"] == 2 && last["b"] == 4
		})
	if err != nil {
		t.Fatalf("ReadUntil: %v (saw %v)", err, last)
	}
	err = kafkatest.ReadUntil(cl, []string{"a"}, record.String(), record.Int64(), kafkatest.ReadOptions{Timeout: 300 * time.Millisecond},
		func(string, record.Record[string, int64]) bool { return false })
	if !errors.Is(err, kafkatest.ErrTimeout) {
		t.Errorf("ReadUntil whose condition never holds = %v, want ErrTimeout", err)
	}
	if err := kafkatest.ReadUntil(cl, nil, record.String(), record.Int64(), kafkatest.ReadOptions{},
		func(string, record.Record[string, int64]) bool { return true }); err == nil {
		t.Error("ReadUntil of no topic succeeded")
	}
	if err := kafkatest.ReadUntil[string, int64](cl, []string{"a"}, record.String(), record.Int64(), kafkatest.ReadOptions{}, nil); err == nil {
		t.Error("ReadUntil with a nil condition succeeded")
	}
}

func TestStartOrConnectStartsAnEmbeddedClusterOrCreatesTheMissingTopicsOnAGivenOne(t *testing.T) {
	embedded, err := kafkatest.StartOrConnect("", kafkatest.Config{Topics: map[string]int32{"in": 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(embedded.Close)
	if err := embedded.CreateTopic("in", 3); !errors.Is(err, kafkatest.ErrTopicExists) {
		t.Fatalf("the embedded cluster lacks its topic: CreateTopic = %v", err)
	}
	// "in" is there with 3 partitions; "out" is created.
	remote, err := kafkatest.StartOrConnect(embedded.Bootstrap(), kafkatest.Config{Topics: map[string]int32{"in": 3, "out": 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.CreateTopic("out", 2); !errors.Is(err, kafkatest.ErrTopicExists) {
		t.Errorf("StartOrConnect did not create the missing topic: CreateTopic = %v", err)
	}
	// A topic of another partition count breaks co-partitioning: refused.
	if _, err := kafkatest.StartOrConnect(embedded.Bootstrap(), kafkatest.Config{Topics: map[string]int32{"in": 4}}); err == nil ||
		!strings.Contains(err.Error(), `"in" exists`) {
		t.Errorf("StartOrConnect with 4 partitions for a topic of 3 = %v, want an error naming the topic", err)
	}
}
