package kafkatest_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
)

func TestProduceThenReadRoundTripsNullsTimestampsAndHeaders(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.CreateTopic("t", 3); err != nil {
		t.Fatal(err)
	}
	a, _ := record.New("k1", int64(1), 1000)
	a = a.WithHeaders(record.Headers{{Key: "h", Value: []byte("v")}})
	nullKey, _ := record.New("", int64(2), 2000)
	nullKey = nullKey.WithNullKey()
	tomb, _ := record.New("k1", int64(0), 3000)
	tomb = tomb.WithNullValue()
	empty, _ := record.New("", int64(4), 4000) // an empty key is not a null key
	if err := kafkatest.Produce(cl, "t", record.String(), record.Int64(), a, nullKey, tomb, empty); err != nil {
		t.Fatal(err)
	}
	got, err := kafkatest.Read(cl, "t", record.String(), record.Int64(), 4, kafkatest.ReadOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("read %d records, want 4", len(got))
	}
	for _, r := range got {
		switch r.Timestamp() {
		case 1000:
			if r.KeyIsNull() || r.Key() != "k1" || r.Value() != 1 || len(r.Headers()) != 1 || r.Headers()[0].Key != "h" {
				t.Errorf("keyed record read back as %v", r)
			}
		case 2000:
			if !r.KeyIsNull() || r.Value() != 2 {
				t.Errorf("null-key record read back as %v (null key %v)", r, r.KeyIsNull())
			}
		case 3000:
			if !r.ValueIsNull() || r.Key() != "k1" {
				t.Errorf("tombstone read back as %v (null value %v)", r, r.ValueIsNull())
			}
		case 4000:
			if r.KeyIsNull() || r.Key() != "" {
				t.Errorf("empty key read back as %v (null key %v)", r, r.KeyIsNull())
			}
		}
	}
}

func TestReadReturnsWhatArrivedAndErrTimeoutWhenTooFew(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"t": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, _ := record.New("k", "v", 1)
	if err := kafkatest.Produce(cl, "t", record.String(), record.String(), r); err != nil {
		t.Fatal(err)
	}
	got, err := kafkatest.Read(cl, "t", record.String(), record.String(), 2, kafkatest.ReadOptions{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, kafkatest.ErrTimeout) || len(got) != 1 {
		t.Fatalf("Read of 2 with 1 there = %d records, %v; want 1 and ErrTimeout", len(got), err)
	}
	if _, err := kafkatest.Read(cl, "t", record.String(), record.Int64(), 1, kafkatest.ReadOptions{Timeout: 5 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), "offset 0") {
		t.Errorf("Read with a serde that cannot decode = %v, want an error naming the offset", err)
	}
}

func TestFixedPortsAreUsed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cl, err := kafkatest.Start(kafkatest.Config{Ports: []int{port}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if !strings.HasSuffix(cl.Bootstrap(), ":"+strconv.Itoa(port)) {
		t.Errorf("Bootstrap() = %q, want port %d", cl.Bootstrap(), port)
	}
	if _, err := kafkatest.Start(kafkatest.Config{Brokers: 2, Ports: []int{port}}); err == nil {
		t.Error("2 brokers with 1 port started")
	}
}

func TestHelpersOnAStoppedClusterFail(t *testing.T) {
	var cl *kafkatest.Cluster
	if err := cl.CreateTopic("t", 1); err == nil {
		t.Error("CreateTopic on nil cluster")
	}
	r, _ := record.New("k", "v", 1)
	if err := kafkatest.Produce(cl, "t", record.String(), record.String(), r); err == nil {
		t.Error("Produce on nil cluster")
	}
	if _, err := kafkatest.Read(cl, "t", record.String(), record.String(), 1, kafkatest.ReadOptions{}); err == nil {
		t.Error("Read on nil cluster")
	}
}

type panicky struct{}

func (panicky) Serialize([]byte, string) ([]byte, error) { panic("boom") }
func (panicky) Deserialize([]byte) (string, error)       { panic("boom") }

func TestPanickingSerdesAreErrorsNotCrashes(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"t": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, _ := record.New("k", "v", 1)
	if err := kafkatest.Produce(cl, "t", record.Serializer[string](panicky{}), record.String(), r); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Produce with a panicking serializer = %v", err)
	}
	if err := kafkatest.Produce(cl, "t", record.String(), record.String(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := kafkatest.Read(cl, "t", record.Deserializer[string](panicky{}), record.String(), 1, kafkatest.ReadOptions{Timeout: 5 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), "panicked") {
		t.Errorf("Read with a panicking deserializer = %v", err)
	}
}
