//go:build cgo

package dsl_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/record"
)

// Two App instances on the embedded broker: the internal topics get the
// partition counts of the sub-topologies reading them (the subscriptions
// those of the right topic, the responses those of the left), and the
// final results are those of the join.
func TestTwoInstancesJoinByForeignKeyOnTheBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"fk-orders": 3, "fk-customers": 2, "fk-joined": 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // after the Apps' cleanups: they commit on close
	b := dsl.NewBuilder()
	orders := dsl.TableFrom(b, "fk-orders", record.String(), record.String())
	customers := dsl.TableFrom(b, "fk-customers", record.String(), record.String())
	joined := dsl.LeftJoinByForeignKey(orders, customers, fkOfOrder, fkLeft, dsl.Named("oc"))
	dsl.To(dsl.ToStream(joined), "fk-joined")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	brokerApps(t, cl, "dsl-fk", topo, 2)
	if got := partitionsOf(t, cl, "dsl-fk-oc-subscription-registration-topic"); got != 2 {
		t.Errorf("subscription topic has %d partitions, want 2 (those of the right topic)", got)
	}
	if got := partitionsOf(t, cl, "dsl-fk-oc-subscription-response-topic"); got != 3 {
		t.Errorf("response topic has %d partitions, want 3 (those of the left topic)", got)
	}

	base := time.Now().Add(-time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	var cs, os []bkv
	for i := 0; i < 10; i++ {
		cs = append(cs, bkv{key: []byte(fmt.Sprintf("c%d", i)), value: []byte(fmt.Sprintf("name%d", i)), ts: at(1)})
	}
	want := map[string]string{}
	for i := 0; i < 40; i++ {
		o, c := fmt.Sprintf("o%02d", i), fmt.Sprintf("c%d", i%10)
		os = append(os, bkv{key: []byte(o), value: []byte(c + ":x"), ts: at(2)})
		want[o] = c + ":x/name" + c[1:]
	}
	produce(t, cl, "fk-customers", cs)
	produce(t, cl, "fk-orders", os)
	// Later changes: a customer renamed (4 orders follow), a customer
	// deleted (its orders join nil), orders moved, deleted and without a
	// customer; and an order for a customer that comes later.
	produce(t, cl, "fk-customers", []bkv{{key: []byte("c1"), value: []byte("renamed"), ts: at(3)}, {key: []byte("c2"), ts: at(3)}})
	produce(t, cl, "fk-orders", []bkv{
		{key: []byte("o03"), value: []byte("c4:y"), ts: at(4)},
		{key: []byte("o05"), ts: at(4)},
		{key: []byte("o06"), value: []byte("-:z"), ts: at(4)},
		{key: []byte("o99"), value: []byte("c42:w"), ts: at(4)},
	})
	produce(t, cl, "fk-customers", []bkv{{key: []byte("c42"), value: []byte("late"), ts: at(5)}})
	for _, o := range []string{"o01", "o11", "o21", "o31"} {
		want[o] = "c1:x/renamed"
	}
	for _, o := range []string{"o02", "o12", "o22", "o32"} {
		want[o] = "c2:x/nil"
	}
	want["o03"], want["o05"], want["o06"], want["o99"] = "c4:y/name4", "", "-:z/nil", "c42:w/late"

	got := map[string]string{}
	seen := map[string]bool{}
	t.Cleanup(func() {
		if t.Failed() {
			for key, w := range want {
				if got[key] != w || (w != "" && !seen[key]) {
					t.Logf("%s: got %q (seen %v), want %q", key, got[key], seen[key], w)
				}
			}
		}
	})
	readUntil(t, cl, "fk-joined", 60*time.Second, func(k, v []byte) bool {
		got[string(k)], seen[string(k)] = string(v), true
		for key, w := range want {
			// "" is no result: a tombstone, or nothing at all when the
			// result cache compacted an insert and its delete.
			if got[key] != w || (w != "" && !seen[key]) {
				return false
			}
		}
		return true
	})
	for key := range seen {
		if _, ok := want[key]; !ok {
			t.Errorf("unexpected result for %s: %q", key, got[key])
		}
	}
}
