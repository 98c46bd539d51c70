package kafkatest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace/kafkatest"
)

// The KIP-848 timings given as BrokerConfigs reach the group coordinator: a
// ConsumerGroupHeartbeat answers with the configured heartbeat interval, and
// a member that stops heartbeating is expired after the configured session
// timeout, not the default 45 s; DescribeConfigs reports both as dynamic
// broker configs.
func TestBrokerConfigsSetTheConsumerGroupHeartbeatAndSessionTimeouts(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{
		Topics: map[string]int32{"t": 2},
		BrokerConfigs: map[string]string{
			"group.consumer.heartbeat.interval.ms": "250",
			"group.consumer.session.timeout.ms":    "1500",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(cl.Bootstrap(), ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	describe := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeBroker
	res.ResourceName = "0"
	describe.Resources = append(describe.Resources, res)
	dresp, err := describe.RequestWith(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range dresp.Resources {
		for _, c := range r.Configs {
			if c.Value != nil && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
				got[c.Name] = *c.Value
			}
		}
	}
	if got["group.consumer.heartbeat.interval.ms"] != "250" || got["group.consumer.session.timeout.ms"] != "1500" {
		t.Errorf("dynamic broker configs = %v, want the heartbeat interval 250 and the session timeout 1500", got)
	}

	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group = "g"
	hb.MemberID = "kafkatest-member-1"
	hb.MemberEpoch = 0
	hb.RebalanceTimeoutMillis = 5000
	hb.SubscribedTopicNames = []string{"t"}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	joined := time.Now()
	hresp, err := hb.RequestWith(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if hresp.ErrorCode != 0 {
		t.Fatalf("heartbeat error code %d", hresp.ErrorCode)
	}
	if hresp.HeartbeatIntervalMillis != 250 {
		t.Errorf("heartbeat interval %d ms, want 250", hresp.HeartbeatIntervalMillis)
	}

	// The member never heartbeats again: it is gone once its session expires.
	members := func() int {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"g"}
		resp, err := req.RequestWith(ctx, client)
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("describe: %v", err)
		}
		return len(resp.Groups[0].Members)
	}
	if n := members(); n != 1 {
		t.Fatalf("%d members right after the join, want 1", n)
	}
	deadline := time.Now().Add(15 * time.Second)
	for members() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("member still in the group %v after joining; the session timeout is 1.5 s", time.Since(joined))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone := time.Since(joined); gone < 1400*time.Millisecond {
		t.Errorf("member expired %v after joining, before the 1.5 s session timeout", gone)
	}
}

func TestStartRejectsABrokerConfigWithoutAName(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{BrokerConfigs: map[string]string{"": "1"}})
	if err == nil {
		cl.Close()
		t.Fatal("Start with an unnamed broker config succeeded")
	}
	if !strings.Contains(err.Error(), "empty name") {
		t.Errorf("error %q does not say the name is empty", err)
	}
}
