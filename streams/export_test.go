package streams

import "os"

func init() {
	// MILLRACE_WRAPPER_PRODUCER=1 runs the tests with confluent-kafka-go's
	// producer where they do not choose a client.
	wrapperProducerForTests = os.Getenv("MILLRACE_WRAPPER_PRODUCER") == "1"
}

// Crash stops a running App hard, as a killed process would: no commit, no
// checkpoint, queued output purged. Tests restart from the same state
// directory afterwards.
func Crash(a *App) error {
	a.crash.Store(true)
	return a.Close()
}

// DeadLettered returns the dead letters the App's tasks wrote, read as a
// user reads them: from App.Metrics.
func DeadLettered(a *App) int64 {
	var n int64
	for _, t := range a.Metrics().Tasks {
		n += t.DeadLettered
	}
	return n
}

// ProduceRecordByRecord makes cfg's App produce each record with its own
// call, as it does when batch produce is unavailable.
func ProduceRecordByRecord(cfg *Config) { cfg.produceRecordByRecord = true }

// OwnProducer makes cfg's App produce through Millrace's own producer
// client (internal/rdkbatch.Producer), whatever MILLRACE_WRAPPER_PRODUCER
// says.
func OwnProducer(cfg *Config) { cfg.producerClient = ownProducerClient }

// WrapperProducer makes cfg's App produce through confluent-kafka-go's
// producer instead of Millrace's own client.
func WrapperProducer(cfg *Config) { cfg.producerClient = wrapperProducerClient }
