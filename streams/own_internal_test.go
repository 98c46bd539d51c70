package streams

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/millrace/millrace/internal/streamsopt"
	"github.com/millrace/millrace/kafkatest"
)

// An App produces through Millrace's own client unless told otherwise.
func TestTheAppsProducerIsTheOwnClientByDefault(t *testing.T) {
	if got := usesOwnProducer(&Config{}); got == wrapperProducerForTests {
		t.Errorf("default Config: own client %v, with MILLRACE_WRAPPER_PRODUCER=1 %v", got, wrapperProducerForTests)
	}
}

// The unexported switch (set through internal/streamsopt, as the bench
// does) gives the App Millrace's own producer client or the wrapper's, and
// either produces in batches.
func TestOwnProducerSwitchGivesTheAppTheOwnClient(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"out": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, on := range []bool{false, true} {
		cfg := Config{ApplicationID: "own-switch", BootstrapServers: c.Bootstrap()}
		streamsopt.WrapperProducer(&cfg, !on)
		cfg.withDefaults()
		cl := newClients(&cfg)
		m := newMetrics(&cfg, &hooks{logger: zap.NewNop()})
		pr, err := newProducer(cl, "p1", map[string]bool{}, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		own := usesOwnProducer(&cfg)
		if own != on {
			t.Errorf("own %v chosen, but usesOwnProducer says %v", on, own)
		}
		if (pr.own != nil) != own || (pr.p != nil) == own || !pr.batching {
			t.Errorf("own %v (tests' wrapper default %v): own client %v, wrapper %v, batching %v", on, wrapperProducerForTests,
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

// confluent-kafka-go's own properties mean nothing to the own client: the
// App says which of the user's it ignores instead of dropping them
// silently.
func TestGoPropertiesTheOwnClientIgnoresAreNamedInAWarning(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"out": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	core, logs := observer.New(zap.WarnLevel)
	cfg := Config{ApplicationID: "own-go-props", BootstrapServers: c.Bootstrap(), Logger: zap.New(core),
		ProducerConfig: map[string]any{"go.batch.producer": true, "go.produce.channel.size": 10, "linger.ms": 1}}
	OwnProducer(&cfg)
	cfg.withDefaults()
	cl := newClients(&cfg)
	defer cl.close()
	pr, err := newProducer(cl, "p1", map[string]bool{}, newMetrics(&cfg, &hooks{logger: zap.NewNop()}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.close(10 * time.Second)
	var named []string
	for _, e := range logs.FilterMessageSnippet("have no effect").All() {
		for _, f := range e.Context {
			if f.Key == "properties" {
				named = append(named, fmt.Sprint(f.Interface))
			}
		}
	}
	if len(named) != 1 || named[0] != "[go.batch.producer go.produce.channel.size]" {
		t.Fatalf("warnings naming ignored properties: %q, want one naming go.batch.producer and go.produce.channel.size", named)
	}
}
