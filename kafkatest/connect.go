package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connectTimeout bounds Connect's first contact with the brokers.
const connectTimeout = 10 * time.Second

// Connect returns a Cluster for brokers that run elsewhere (a real Kafka
// cluster, or an embedded one of another process), given as a
// bootstrap.servers string ("host:port,host:port"), once one of them has
// answered. CreateTopic, Produce, Read and ReadUntil then work on it as on
// an embedded cluster; Close leaves its brokers running.
func Connect(bootstrap string) (*Cluster, error) {
	var addrs []string
	for _, a := range strings.Split(bootstrap, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("kafkatest: Connect: no bootstrap servers given")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return nil, fmt.Errorf("kafkatest: Connect to %s: %w", bootstrap, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return nil, fmt.Errorf("kafkatest: Connect: no broker of %s answered within %v: %w", bootstrap, connectTimeout, err)
	}
	return &Cluster{addrs: addrs}, nil
}

// StartOrConnect connects to bootstrap when it is not empty and creates
// there the topics of cfg.Topics that do not exist yet (one that exists
// with another partition count is an error: co-partitioning depends on
// it); the rest of cfg is for embedded clusters only. With an empty
// bootstrap it starts an embedded cluster with cfg. Programs and tests
// that run on the embedded broker by default and on a real cluster when
// told take their cluster from here.
func StartOrConnect(bootstrap string, cfg Config) (*Cluster, error) {
	if strings.TrimSpace(bootstrap) == "" {
		return Start(cfg)
	}
	c, err := Connect(bootstrap)
	if err != nil {
		return nil, err
	}
	var problems []error
	for topic, partitions := range cfg.Topics {
		err := c.CreateTopic(topic, partitions)
		if !errors.Is(err, ErrTopicExists) {
			if err != nil {
				problems = append(problems, err)
			}
			continue
		}
		n, err := partitionCount(c.addrs, topic)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("kafkatest: topic %q: %w", topic, err))
		case n != partitions:
			problems = append(problems, fmt.Errorf("kafkatest: topic %q exists on %s with %d partitions, not %d", topic, bootstrap, n, partitions))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// partitionCount asks seeds for the partition count of topic.
func partitionCount(seeds []string, topic string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 {
		return 0, fmt.Errorf("the broker answered for %d topics, not 1", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return 0, err
	}
	return int32(len(resp.Topics[0].Partitions)), nil
}
