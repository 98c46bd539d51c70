package streams

import (
	"testing"
	"time"

	"github.com/millrace/millrace/internal/rdkbatch"
)

// TestMainConsumerIsOneTheBatchReaderAccepts proves the App's main consumer,
// as configured by clients.go, is one rdkbatch can read in batches: if the
// Reader refused it the App would fall back to Poll, silently slower.
func TestMainConsumerIsOneTheBatchReaderAccepts(t *testing.T) {
	cfg := Config{ApplicationID: "batchread", BootstrapServers: "127.0.0.1:1"}
	cfg.withDefaults()
	c := newClients(&cfg)
	defer c.close()
	cons, err := c.consumer(mainConsumer)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConsumer(cons, false, time.Now().Add(time.Second))
	r, err := rdkbatch.New(cons, rdkbatch.Config{Retain: true, Headers: true})
	if err != nil {
		t.Fatalf("the main consumer cannot be batch-read: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
