package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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
