package streams

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/internal/placement"
	"github.com/millrace/millrace/kafkatest"
)

// membershipConsumer joins group with the given extra properties and is
// polled until the test ends, then closed.
func membershipConsumer(t *testing.T, bootstrap, group, clientID string, props kafka.ConfigMap) {
	t.Helper()
	cfg := kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": group, "client.id": clientID,
		"enable.auto.commit": false, "log_level": 3}
	for k, v := range props {
		cfg[k] = v
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("t", nil); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				_ = c.Close()
				return
			default:
				c.Poll(50)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// awaitMembership describes group until it is Stable with n members.
func awaitMembership(t *testing.T, admin *kafka.AdminClient, group string, n int) placement.Membership {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := describeMembership(ctx, admin, group)
		cancel()
		if err == nil && m.State == placement.StateStable && len(m.Members) == n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %q not Stable with %d members in 30 s: %+v, %v", group, n, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDescribeMembershipReadsInstanceMemberAndClientIDsStateAndProtocol(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{
		Topics:        map[string]int32{"t": 4},
		BrokerConfigs: map[string]string{"group.consumer.heartbeat.interval.ms": "200"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": cl.Bootstrap(), "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)

	for _, id := range []string{"b", "a"} {
		membershipConsumer(t, cl.Bootstrap(), "classic", "c-"+id, kafka.ConfigMap{
			"group.instance.id": "i-" + id, "partition.assignment.strategy": "range"})
	}
	m := awaitMembership(t, admin, "classic", 2)
	if m.Group != "classic" || m.Protocol != placement.ProtocolClassic || m.Assignor != "range" {
		t.Errorf("classic group: %+v", m)
	}
	for _, d := range m.Members {
		want := map[string]string{"i-a": "c-a", "i-b": "c-b"}[d.InstanceID]
		if want == "" || d.ClientID != want || !strings.HasPrefix(d.MemberID, d.InstanceID+"-") {
			t.Errorf("classic member %+v: want instance i-a or i-b, its client id, a member id starting with the instance id", d)
		}
	}
	keys, predictable, err := m.Keys()
	if err != nil || !predictable || !slices.Equal(keys, []placement.Member{{Key: "i-a"}, {Key: "i-b"}}) {
		t.Errorf("classic keys %v predictable %v err %v", keys, predictable, err)
	}

	membershipConsumer(t, cl.Bootstrap(), "kip848", "c-k", kafka.ConfigMap{
		"group.protocol": "consumer", "group.remote.assignor": "range", "group.instance.id": "i-k"})
	m = awaitMembership(t, admin, "kip848", 1)
	if m.Protocol != placement.ProtocolConsumer || m.Assignor != "range" ||
		m.Members[0].InstanceID != "i-k" || m.Members[0].ClientID != "c-k" || m.Members[0].MemberID == "" {
		t.Errorf("KIP-848 group: %+v", m)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A group the coordinator does not know is Dead and empty, as Kafka
	// describes it, not an error.
	unknown, err := describeMembership(ctx, admin, "nobody")
	if err != nil || unknown.State != placement.StateDead || len(unknown.Members) != 0 {
		t.Errorf("unknown group: %+v, %v; want Dead with no members", unknown, err)
	}
	if _, err := describeMembership(ctx, nil, "g"); err == nil || !strings.Contains(err.Error(), `"g"`) {
		t.Errorf("nil admin client: %v", err)
	}
}
