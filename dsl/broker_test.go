//go:build cgo

package dsl_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/streams"
)

// brokerApps runs n instances of topo in one group against the embedded
// cluster until the test ends; it waits until every instance runs tasks.
func brokerApps(t *testing.T, cl *kafkatest.Cluster, appID string, topo *processor.Topology, n int) []*streams.App {
	t.Helper()
	var apps []*streams.App
	for i := 0; i < n; i++ {
		app, err := streams.New(topo, streams.Config{ApplicationID: appID, BootstrapServers: cl.Bootstrap(),
			StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond, InstanceID: fmt.Sprintf("%s-%d", appID, i)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- app.Run(context.Background()) }()
		t.Cleanup(func() {
			if err := app.Close(); err != nil {
				t.Errorf("close instance %d: %v", i, err)
			}
			if err := <-done; err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		})
		apps = append(apps, app)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		busy := 0
		for _, a := range apps {
			if a.State() == streams.Running && len(a.LocalTasks()) > 0 {
				busy++
			}
		}
		if busy == n {
			return apps
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d instances run tasks after 60 s", busy, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type bkv struct {
	key, value []byte
	ts         time.Time
}

func produce(t *testing.T, cl *kafkatest.Cluster, topic string, recs []bkv) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "partitioner": "murmur2_random",
		"go.logs.channel.enable": false, "log_level": 3, "linger.ms": 5})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reports := make(chan kafka.Event, len(recs))
	for _, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key: r.key, Value: r.value, Timestamp: r.ts}
		if err := p.Produce(m, reports); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(30 * time.Second)
	for range recs {
		select {
		case e := <-reports:
			if m, ok := e.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				t.Fatalf("produce to %s: %v", topic, m.TopicPartition.Error)
			}
		case <-timeout:
			t.Fatalf("records to %s not acknowledged within 30 s", topic)
		}
	}
}

// readUntil reads topic from the start, calling fn per record until it
// returns true; it fails the test after timeout.
func readUntil(t *testing.T, cl *kafkatest.Cluster, topic string, timeout time.Duration, fn func(key, value []byte) bool) {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "group.id": fmt.Sprintf("reader-%d", time.Now().UnixNano()),
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "go.logs.channel.enable": false, "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SubscribeTopics([]string{topic}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, ok := c.Poll(100).(*kafka.Message); ok && fn(m.Key, m.Value) {
			return
		}
	}
	t.Fatalf("expected output on %s did not arrive within %v", topic, timeout)
}

func partitionsOf(t *testing.T, cl *kafkatest.Cluster, topic string) int {
	t.Helper()
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	md, err := a.GetMetadata(&topic, false, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError {
		return 0
	}
	return len(tm.Partitions)
}

func TestTwoInstancesCountEachKeyOnceAcrossTheRepartitionTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"clicks": 4, "page-counts": 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // after the Apps' cleanups: they commit on close
	// clicks are keyed by user; counting by page needs the page as key.
	b := dsl.NewBuilder()
	clicks := dsl.FromTopics(b, []string{"clicks"}, record.String(), record.String())
	counts := dsl.Count(dsl.GroupBy(clicks, func(_, page string) string { return page }, dsl.Named("by-page")), dsl.As("page-counts"))
	dsl.To(dsl.ToStream(counts), "page-counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	brokerApps(t, cl, "dsl-pages", topo, 2)
	if got := partitionsOf(t, cl, "dsl-pages-by-page-repartition"); got != 4 {
		t.Fatalf("repartition topic has %d partitions, want 4 (those of clicks)", got)
	}
	want := map[string]int64{}
	var recs []bkv
	base := time.Now()
	for i := 0; i < 2000; i++ {
		page := fmt.Sprintf("page-%d", (i*7)%13)
		want[page]++
		recs = append(recs, bkv{key: []byte(fmt.Sprintf("user-%d", i%97)), value: []byte(page), ts: base.Add(time.Duration(i) * time.Millisecond)})
	}
	produce(t, cl, "clicks", recs)
	got := map[string]int64{}
	readUntil(t, cl, "page-counts", 90*time.Second, func(k, v []byte) bool {
		if len(v) == 8 {
			got[string(k)] = int64(binary.BigEndian.Uint64(v))
		}
		for p, n := range want {
			if got[p] != n {
				return false
			}
		}
		return true
	})
	for p, n := range got {
		if n != want[p] {
			t.Errorf("page %s counted %d times, want %d", p, n, want[p])
		}
	}
}

func TestTwoInstancesJoinTablesWithUpdatesAndRetractions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"left": 4, "right": 4, "joined": 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // after the Apps' cleanups: they commit on close
	b := dsl.NewBuilder()
	left := dsl.TableFrom(b, "left", record.String(), record.String(), dsl.As("left"))
	right := dsl.TableFrom(b, "right", record.String(), record.String(), dsl.As("right"))
	joined := dsl.JoinTables(left, right, func(l, r string) string { return l + "+" + r })
	dsl.To(dsl.ToStream(joined), "joined")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	brokerApps(t, cl, "dsl-tables", topo, 2)

	base := time.Now().Add(-time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	var l, r []bkv
	want := map[string]string{} // key -> last result; "" = retracted
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("k%02d", i)
		l = append(l, bkv{key: []byte(k), value: []byte("L" + k), ts: at(1)})
		if i%2 == 0 {
			r = append(r, bkv{key: []byte(k), value: []byte("R" + k), ts: at(2)})
			want[k] = "L" + k + "+R" + k
		}
	}
	produce(t, cl, "left", l)
	produce(t, cl, "right", r)
	got := map[string]string{}
	seen := map[string]bool{}
	defer func() {
		if t.Failed() {
			t.Logf("last results: %v\nwant: %v", got, want)
		}
	}()
	// Every result of the first values must be out before the updates go
	// in: a cached table compacts an insert and a delete that land within
	// one commit into nothing (as Kafka Streams does), which would leave
	// no result to retract.
	reached := func(k, v []byte) bool {
		got[string(k)], seen[string(k)] = string(v), true
		for key, w := range want {
			if !seen[key] || got[key] != w {
				return false
			}
		}
		return true
	}
	readUntil(t, cl, "joined", 90*time.Second, reached)
	// Updates after the first results: a right-side change, a left-side
	// delete and a right-side delete, each replacing or retracting a
	// result; and a right value for a key whose left side is gone.
	produce(t, cl, "right", []bkv{{key: []byte("k00"), value: []byte("new"), ts: at(3)}, {key: []byte("k04"), ts: at(3)}})
	produce(t, cl, "left", []bkv{{key: []byte("k02"), ts: at(3)}})
	produce(t, cl, "right", []bkv{{key: []byte("k02"), value: []byte("late"), ts: at(4)}})
	want["k00"], want["k02"], want["k04"] = "Lk00+new", "", ""
	got, seen = map[string]string{}, map[string]bool{}
	readUntil(t, cl, "joined", 90*time.Second, reached)
	for key := range seen {
		if _, ok := want[key]; !ok {
			t.Errorf("key %s has a result, but its right side never had a value", key)
		}
	}
}

func TestTableFromRestoresFromItsTopicWhenTheStateIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"prices": 2, "prices-seen": 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	topology := func() *processor.Topology {
		b := dsl.NewBuilder()
		prices := dsl.TableFrom(b, "prices", record.String(), record.String(), dsl.As("prices"), dsl.WithoutCaching())
		dsl.To(dsl.ToStream(prices), "prices-seen")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	want := map[string]string{}
	var recs []bkv
	for i := 0; i < 40; i++ {
		k, v := fmt.Sprintf("item-%02d", i%10), fmt.Sprintf("price-%d", i)
		want[k] = v
		recs = append(recs, bkv{key: []byte(k), value: []byte(v), ts: time.Now()})
	}
	recs = append(recs, bkv{key: []byte("item-03"), ts: time.Now()}) // a tombstone deletes
	delete(want, "item-03")
	t.Run("first run", func(t *testing.T) {
		brokerApps(t, cl, "dsl-prices", topology(), 1)
		produce(t, cl, "prices", recs)
		n := 0
		readUntil(t, cl, "prices-seen", 60*time.Second, func(_, _ []byte) bool { n++; return n == len(recs) })
		time.Sleep(300 * time.Millisecond) // past a commit (100 ms): the offsets are committed
	})
	t.Run("restart with an empty state directory", func(t *testing.T) {
		apps := brokerApps(t, cl, "dsl-prices", topology(), 1)
		var got map[string]string
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			got = map[string]string{}
			if kvs, err := streams.KeyValueStore[string, string](apps[0], "prices"); err == nil {
				if it, err := kvs.All(); err == nil {
					for it.Next() {
						got[it.Key()] = it.Value()
					}
					it.Close()
				}
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("restored table %v, want %v", got, want)
		}
		if n := partitionsOf(t, cl, "dsl-prices-prices-changelog"); n != 0 {
			t.Errorf("a changelog topic with %d partitions exists: the source topic is the table's changelog", n)
		}
	})
}
