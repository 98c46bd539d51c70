package streams

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/internal/streamsopt"
	"github.com/millrace/millrace/kafkatest"
)

// The unexported switch (set through internal/streamsopt, as the bench
// does) gives the App Millrace's own producer client instead of the
// wrapper's, and produces through it in batches.
func TestOwnProducerSwitchGivesTheAppTheOwnClient(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"out": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, on := range []bool{false, true} {
		cfg := Config{ApplicationID: "own-switch", BootstrapServers: c.Bootstrap()}
		streamsopt.OwnProducer(&cfg, on)
		cfg.withDefaults()
		cl := newClients(&cfg)
		m := newMetrics(&cfg, &hooks{logger: zap.NewNop()})
		pr, err := newProducer(cl, "p1", map[string]bool{}, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		own := usesOwnProducer(&cfg)
		if (pr.own != nil) != own || (pr.p != nil) == own || !pr.batching {
			t.Errorf("switch %v (tests' default %v): own client %v, wrapper %v, batching %v", on, ownProducerForTests,
				pr.own != nil, pr.p != nil, pr.batching)
		}
		if n, err := pr.partitionCount("out"); err != nil || n != 1 {
			t.Errorf("switch %v: partitionCount(out) = %d, %v", on, n, err)
		}
		if _, err := pr.partitionCount("missing"); err == nil {
			t.Errorf("switch %v: partitionCount of a missing topic succeeds", on)
		}
		if err := pr.close(10 * time.Second); err != nil {
			t.Error(err)
		}
		cl.close()
	}
}
