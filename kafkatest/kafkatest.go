// Package kafkatest starts an embedded Kafka broker for tests and examples:
// franz-go's kfake, an in-process cluster that speaks the real Kafka
// protocol (consumer groups, transactions and read_committed work with
// librdkafka). It listens on loopback only.
//
// Use it in your own integration tests:
//
//	cluster, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"in": 4}})
//	if err != nil { t.Fatal(err) }
//	defer cluster.Close()
//	cfg := streams.Config{ApplicationID: "app", BootstrapServers: cluster.Bootstrap()}
//	// ... run the App, then write and read typed records:
//	err = kafkatest.Produce(cluster, "in", record.String(), record.Int64(), recs...)
//	out, err := kafkatest.Read(cluster, "out", record.String(), record.Int64(), len(recs), kafkatest.ReadOptions{})
//
// Produce, Read and ReadUntil use franz-go's pure-Go client (no cgo), keep
// null keys and values, timestamps and headers, and are bounded
// (DefaultTimeout, or ReadOptions.Timeout; reads see committed records
// unless ReadUncommitted). ReadUntil reads several topics until a
// condition holds, for outputs whose record count is not known (a cached
// aggregation's updates). The cluster keeps everything in memory and is
// gone after Close.
//
// Connect gives the same helpers (CreateTopic, Produce, Read, ReadUntil)
// on a cluster that runs elsewhere, and StartOrConnect takes either: the
// embedded broker by default, a real cluster (its missing topics created)
// when given one.
package kafkatest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures an embedded cluster. The zero value starts one broker
// with no topics.
type Config struct {
	// Brokers is the number of brokers; 0 means 1.
	Brokers int
	// Topics to create, with their partition counts.
	Topics map[string]int32
	// MinSessionTimeout lowers the smallest consumer-group session timeout
	// the brokers accept (Kafka's default is 6 s); tests that stop members
	// use short timeouts. 0 means 100 ms.
	MinSessionTimeout time.Duration
	// Ports fixes the brokers' loopback ports, one per broker (the first
	// Brokers of them); empty lets the system choose free ones.
	Ports []int
	// BrokerConfigs sets broker-level configs at start (kfake's
	// BrokerConfigs), as a broker's server.properties would; DescribeConfigs
	// reports them as dynamic broker configs. Tests of KIP-848 consumer
	// groups (group.protocol=consumer) lower
	// group.consumer.heartbeat.interval.ms (5000 by default) and
	// group.consumer.session.timeout.ms (45000; the broker enforces no
	// minimum) so members heartbeat and expire in milliseconds. An empty
	// value keeps the default. Names are not checked: one the broker does
	// not know is stored and has no effect.
	BrokerConfigs map[string]string
}

// Cluster is a running embedded cluster, made by Start, or a cluster that
// runs elsewhere, reached by Connect. The zero Cluster (and a nil
// *Cluster) runs nothing: Bootstrap returns "" and Close does nothing.
type Cluster struct {
	c     *kfake.Cluster
	addrs []string // the brokers Connect reached; nil for an embedded cluster
	once  sync.Once
}

// seeds returns the brokers' addresses, or nil when nothing runs.
func (c *Cluster) seeds() []string {
	switch {
	case c == nil:
		return nil
	case c.c != nil:
		return c.c.ListenAddrs()
	default:
		return c.addrs
	}
}

// Start starts a cluster on loopback ports chosen by the system.
func Start(cfg Config) (*Cluster, error) {
	n := cfg.Brokers
	if n <= 0 {
		n = 1
	}
	minSession := cfg.MinSessionTimeout
	if minSession <= 0 {
		minSession = 100 * time.Millisecond
	}
	opts := []kfake.Opt{kfake.NumBrokers(n), kfake.GroupMinSessionTimeout(minSession)}
	if len(cfg.Ports) > 0 {
		if len(cfg.Ports) < n {
			return nil, fmt.Errorf("kafkatest: %d ports for %d brokers", len(cfg.Ports), n)
		}
		opts = append(opts, kfake.Ports(cfg.Ports[:n]...))
	}
	if len(cfg.BrokerConfigs) > 0 {
		for name := range cfg.BrokerConfigs {
			if name == "" {
				return nil, fmt.Errorf("kafkatest: a broker config has an empty name")
			}
		}
		opts = append(opts, kfake.BrokerConfigs(cfg.BrokerConfigs))
	}
	for topic, parts := range cfg.Topics {
		if parts <= 0 {
			return nil, fmt.Errorf("kafkatest: topic %q needs at least one partition, got %d", topic, parts)
		}
		opts = append(opts, kfake.SeedTopics(parts, topic))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start: %w", err)
	}
	return &Cluster{c: c}, nil
}

// Bootstrap returns the bootstrap.servers string of the cluster.
func (c *Cluster) Bootstrap() string {
	return strings.Join(c.seeds(), ",")
}

// Close stops the brokers of an embedded cluster; it leaves the brokers of
// a connected one running. It is idempotent.
func (c *Cluster) Close() {
	if c == nil || c.c == nil {
		return
	}
	c.once.Do(c.c.Close)
}
