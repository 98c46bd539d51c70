package streams

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/millrace/millrace/internal/rdkbatch"
)

// clientKind names one of the App's Kafka clients. Every librdkafka
// configuration the App uses is made here, from Config, in one place.
type clientKind string

const (
	// mainConsumer joins the group and reads the source topics.
	mainConsumer clientKind = "consumer"
	// restoreConsumer reads changelogs; it never joins a group.
	restoreConsumer clientKind = "restore-consumer"
	// globalConsumer reads the topics of global stores; no group either.
	globalConsumer clientKind = "global-consumer"
	// appProducer writes outputs and changelogs (transactional under
	// exactly-once).
	appProducer clientKind = "producer"
	// adminClient creates internal topics.
	adminClient clientKind = "admin"
)

// owned are librdkafka properties the App sets itself; overriding them
// through ConsumerConfig, ProducerConfig or AdminConfig would break its
// guarantees or its event loops, so New refuses them.
var owned = map[string]string{
	"group.id":                        "ApplicationID",
	"enable.auto.commit":              "",
	"enable.auto.offset.store":        "",
	"isolation.level":                 "ProcessingGuarantee",
	"transactional.id":                "ProcessingGuarantee",
	"enable.idempotence":              "",
	"partition.assignment.strategy":   "",
	"group.protocol":                  "GroupProtocol",
	"group.remote.assignor":           "GroupProtocol",
	"heartbeat.interval.ms":           "SessionTimeout",
	"group.instance.id":               "InstanceID",
	"bootstrap.servers":               "BootstrapServers",
	"metadata.broker.list":            "BootstrapServers",
	"session.timeout.ms":              "SessionTimeout",
	"max.poll.interval.ms":            "TaskTimeout",
	"go.logs.channel.enable":          "Logger",
	"go.logs.channel":                 "Logger",
	"log_level":                       "Logger",
	"go.events.channel.enable":        "",
	"go.application.rebalance.enable": "",
	"go.delivery.reports":             "",
	"go.delivery.report.fields":       "",
}

// Timeouts of the producer (librdkafka's defaults are not Kafka Streams').
const (
	// defaultDeliveryTimeout is Kafka Streams' (and the Java producer's)
	// delivery.timeout.ms: how long a record may take to be acknowledged,
	// retries included, before its delivery fails.
	defaultDeliveryTimeout = 120 * time.Second
	// defaultTransactionTimeout is Kafka Streams' transaction.timeout.ms
	// under exactly-once: a killed instance's open transaction blocks
	// read_committed readers of its outputs at most this long.
	defaultTransactionTimeout = 10 * time.Second
	// deliveryMargin is added to the delivery timeout for the longest wait
	// on acknowledgements: by then librdkafka has failed every record it
	// could not deliver, so the App never gives up on a record the
	// producer is still retrying.
	deliveryMargin = 5 * time.Second
)

// clients makes the App's librdkafka clients and forwards their log lines
// to the App's logger.
type clients struct {
	cfg    *Config
	logger *zap.Logger
	logs   chan kafka.LogEvent
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	// processID, once known, makes the group consumer's client.id unique
	// per instance (<application id>-consumer-<process id>): standby
	// placement finds its own member in the group's description by it,
	// and classic member ids (client.id plus a UUID) then sort the same
	// way across restarts. mainClientID is what the consumer got.
	processID    string
	mainClientID string
}

// newClients starts forwarding client logs; close stops it after every
// client is closed.
func newClients(cfg *Config) *clients {
	c := &clients{cfg: cfg, logger: cfg.Logger.Named("librdkafka"), logs: make(chan kafka.LogEvent, 256),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.forwardLogs()
	return c
}

func (c *clients) forwardLogs() {
	defer close(c.done)
	for {
		select {
		case ev := <-c.logs:
			c.log(ev)
		case <-c.stop:
			for { // what clients wrote before they closed
				select {
				case ev := <-c.logs:
					c.log(ev)
				default:
					return
				}
			}
		}
	}
}

func (c *clients) log(ev kafka.LogEvent) {
	fields := []zap.Field{zap.String("client", ev.Name), zap.String("tag", ev.Tag)}
	switch {
	case ev.Level <= 3:
		c.logger.Error(ev.Message, fields...)
	case ev.Level == 4:
		c.logger.Warn(ev.Message, fields...)
	case ev.Level <= 6:
		c.logger.Info(ev.Message, fields...)
	default:
		c.logger.Debug(ev.Message, fields...)
	}
}

// close stops forwarding logs; every client must be closed by then (a
// client's log goroutine blocked on a full channel would never end).
func (c *clients) close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
	})
}

// syslogLevel is the librdkafka log_level that lets through what logger
// records, so librdkafka does not format lines nobody reads.
func syslogLevel(logger *zap.Logger) int {
	core := logger.Core()
	switch {
	case core.Enabled(zapcore.DebugLevel):
		return 7
	case core.Enabled(zapcore.InfoLevel):
		return 6
	case core.Enabled(zapcore.WarnLevel):
		return 4
	}
	return 3
}

// configMap returns the full configuration of one client: Millrace's
// settings, then the user's extra properties for that kind of client.
func configMap(cfg *Config, kind clientKind, logs chan kafka.LogEvent) kafka.ConfigMap {
	cm := kafka.ConfigMap{
		"bootstrap.servers": cfg.BootstrapServers,
		"client.id":         cfg.ApplicationID + "-" + string(kind),
		"log_level":         syslogLevel(cfg.Logger),
	}
	if logs != nil {
		cm["go.logs.channel.enable"] = true
		cm["go.logs.channel"] = logs
	}
	eos := cfg.ProcessingGuarantee == ExactlyOnceV2
	isolation := "read_uncommitted"
	if eos {
		isolation = "read_committed"
	}
	var extra map[string]any
	switch kind {
	case mainConsumer:
		session := int(cfg.SessionTimeout.Milliseconds())
		cm["group.id"] = cfg.ApplicationID
		if cfg.GroupProtocol == ConsumerProtocol {
			// KIP-848: the broker assigns (range keeps co-partitioned
			// partitions together) and owns the session timeout and the
			// heartbeat interval; librdkafka refuses a consumer that sets
			// them, or an assignment strategy.
			cm["group.protocol"] = "consumer"
			cm["group.remote.assignor"] = "range"
		} else {
			cm["partition.assignment.strategy"] = "range"
			cm["session.timeout.ms"] = session
			cm["heartbeat.interval.ms"] = min(3000, max(session/3, 1))
		}
		cm["enable.auto.commit"] = false
		cm["enable.auto.offset.store"] = false
		cm["auto.offset.reset"] = "earliest"
		cm["isolation.level"] = isolation
		// The poller waits on a commit barrier at most TaskTimeout (a
		// stuck task then fails the App), so it polls at least that often.
		// A commit may hold the poll loop for TaskTimeout (a task late for
		// it that wrote into the transaction) plus the wait for
		// acknowledgements.
		cm["max.poll.interval.ms"] = int(max(5*time.Minute, cfg.TaskTimeout+deliveryTimeout(cfg)+deliveryMargin+time.Minute).Milliseconds())
		// librdkafka drops what it fetched for a paused partition and
		// refetches on resume; short fetch waits keep that refetch quick.
		// It is also what paces an idle App: the broker holds an empty
		// fetch this long, so an idle App on the embedded broker sends
		// 18.8 fetch requests/s (TestIdleAppFetchesAtABoundedRate).
		cm["fetch.wait.max.ms"] = 50
		// librdkafka's default (1000 ms) waits a second before fetching
		// again once a partition's queue held queued.min.messages: the
		// batch reader drains a queue faster than that and then idles.
		// 0 fetches again as soon as the queue is below its thresholds;
		// it sends no request while the queue is full, and an empty
		// fetch is still paced by fetch.wait.max.ms. Measured with the
		// batch reader (go run ./bench -scenarios passthrough,count
		// -records 300000, embedded broker, 2 loaded cores; runs of the
		// same binary): passthrough 70.5 k rec/s at the default, 83.2 k
		// at 1 ms, 124.6 k and 119.4 k at 0; count 68.2 k, 79.1 k, 79.1 k.
		// Larger queues (queued.min.messages 200000,
		// queued.max.messages.kbytes 262144) measured 137.0 k / 66.2 k:
		// within the noise, and more to drop on every pause, so the
		// librdkafka defaults stay.
		cm["fetch.queue.backoff.ms"] = 0
		// librdkafka backs a partition's fetching off by
		// fetch.error.backoff.ms (default 500 ms) when a fetch response
		// comes back for an older version of the partition, which every
		// pause makes it: librdkafka's own pause of the whole assignment
		// at each rebalance event, and the App's pauses of a partition
		// whose task holds enough records. Under the consumer protocol
		// (two events per incremental rebalance) the tasks that did not
		// move stopped for about a second at every rebalance on the
		// embedded broker (TestUnmovedTasksKeepCommittingThroughAn-
		// IncrementalRebalance); at 50 ms they go on.
		cm["fetch.error.backoff.ms"] = 50
		// librdkafka's default (1 MiB) caps what one fetch brings per
		// partition; the App then often settled into a slow mode,
		// 130-195 k records/s at 14 % of two CPUs, waiting on fetches.
		// At 10 MiB (go run ./bench -scenarios raw,passthrough -runs 4
		// -records 300000 -latency-rate 0, embedded broker, quiet
		// machine; -app-consumer-config for the 10 MiB runs) pass-through
		// moved 281-459 k records/s in 7 runs (median 367 k) against
		// 129-465 k at the default (median 195 k, 4 of 7 runs in the slow
		// mode), for about 40 MiB more peak RSS. fetch.max.bytes (50 MiB a
		// request) and queued.max.messages.kbytes (64 MiB for the
		// consumer) still bound what is buffered, and InputBufferMaxBytes
		// what the tasks hold.
		cm["max.partition.fetch.bytes"] = 10 << 20
		if cfg.InstanceID != "" {
			cm["group.instance.id"] = cfg.InstanceID
		}
		extra = cfg.ConsumerConfig
	case restoreConsumer, globalConsumer:
		suffix := "-restore"
		if kind == globalConsumer {
			suffix = "-global"
		}
		cm["group.id"] = cfg.ApplicationID + suffix // required; never joined (assign only)
		cm["enable.auto.commit"] = false
		cm["enable.auto.offset.store"] = false
		cm["auto.offset.reset"] = "earliest"
		cm["isolation.level"] = isolation
		if kind == restoreConsumer {
			// A task handed to the restorer while the consumer waits on
			// a fetch of other tasks' partitions (the broker holds an
			// empty one up to fetch.wait.max.ms) waits that long for its
			// end offsets and its first fetch: at librdkafka's default
			// (500 ms), each task after the first did. 8 tasks of a few
			// records each in RocksDB stores (the test
			// TestRestoringEightTasksTakesAboutAsLongAsRestoringOne
			// runs, with in-memory stores), from the first store's start
			// to the last one's end: polling, with fetch.queue.backoff.ms
			// 0, 2.53 s at 500 ms, 0.16 and 0.23 s at 50 ms, 0.15 and
			// 0.25 s at 10 ms; batch reading, 0.51 s at 500 ms (twice),
			// 0.06-0.11 s at 50 ms on a quieter machine (the stores'
			// restorations took 3-7 ms each either way: the wait was
			// for the end offsets). The consumer holds only partitions
			// still restoring: the short wait costs no idle fetches.
			cm["fetch.wait.max.ms"] = 50
			// librdkafka's default back-off (1000 ms) stops fetching a
			// partition for a second once its queue holds
			// queued.min.messages, which the batch reader drains faster
			// than that, then idles; 0 re-checks a full queue without
			// pause and spins. go run ./bench -scenarios
			// restore,raw-read (1 M records, 4 partitions, embedded
			// broker, 2 loaded cores), restore records/s (CPU µs per
			// record): 124 k (2.48) at 1000 ms, 410 k (2.29) and 293 k
			// (2.87) at 0, 406 k (1.70) and 404 k (1.93) at 10 ms; the
			// same rate as 0 for less CPU, as the raw baseline's tuning.
			cm["fetch.queue.backoff.ms"] = 10
		}
		// The global consumer keeps librdkafka's fetch defaults. It
		// assigns its partitions once, at start, then follows them for
		// the App's life; the broker answers a fetch as soon as a record
		// arrives, so a shorter fetch.wait.max.ms would gain nothing and
		// multiply its idle fetches by ten. When its start-up
		// restoration polled one record at a time, that bounded it, not
		// the fetch back-off: 300 k records into an in-memory global
		// store reached RUNNING in 2.7-3.5 s with the default back-off,
		// 3.4-4.4 s at 0 and 2.4-5.7 s at 10 ms (runs interleaved, same
		// binary and machine). It reads in batches now (global.go):
		// BenchmarkGlobalStoreRestore, 200 k records to RUNNING, went
		// from 81 k to 142 k records/s, App start-up included.
		extra = cfg.ConsumerConfig
	case appProducer:
		cm["partitioner"] = "murmur2_random" // where Java clients put keys
		cm["go.delivery.report.fields"] = deliveryReportFields(cfg)
		// linger.ms 5 (librdkafka's default, and the raw baseline's) lets
		// a task's records to a partition share a batch. Measured with
		// go run ./bench -scenarios raw,passthrough,count -records 500000
		// -latency-duration 3s -app-producer-config linger.ms=N (embedded
		// broker, 2 cores at load 4-13; bench/README.md, "Defaults"):
		// throughput swung 0.4-1.5x raw from run to run at every value,
		// and no value stood out of that. Latency did: p50 at 20 k rec/s
		// was 0.7-1.1x raw's at 5 ms, 2.6-2.8x at 20, 4-5x at 50, 7-10x at
		// 100 (Kafka Streams' own default). 1 ms cut the p50 to 0.5-0.8x
		// raw's (4.3-6.4 ms against 6.3-10.2 ms; one row of 12 out of
		// line) but cost passthrough 16% more CPU per record (median of 7
		// back-to-back pairs, 6 of them higher): smaller batches, more
		// requests. Set linger.ms 1 in ProducerConfig where a few
		// milliseconds matter more than CPU.
		//
		// batch.size, batch.num.messages and queue.buffering.max.messages
		// / .kbytes stay librdkafka's (1,000,000 bytes, 10,000, 100,000,
		// 1 GiB): 8 MB batches of 100,000 records measured passthrough
		// 0.66-1.31x raw and count 0.43-1.45x over four runs (two with
		// linger.ms 20), a queue of 1,000,000 messages 0.69-0.85x and
		// 0.47-1.05x, against the defaults' 0.59-1.13x and 0.79-0.97x in
		// the same sweeps: no gain beyond the noise, and larger queues
		// hold more memory.
		cm["linger.ms"] = 5
		cm["enable.idempotence"] = true
		if eos {
			cm["transaction.timeout.ms"] = int(defaultTransactionTimeout.Milliseconds())
		} else {
			cm["delivery.timeout.ms"] = int(defaultDeliveryTimeout.Milliseconds())
		}
		extra = cfg.ProducerConfig
	case adminClient:
		extra = cfg.AdminConfig
	}
	for k, v := range extra {
		cm[k] = v
	}
	return cm
}

// transactionalID is the exactly-once producer's id: stable per instance
// (the process id lives in the state directory), so a restarted instance
// fences its predecessor and aborts the transaction it left open.
func transactionalID(cfg *Config, processID string) string {
	return cfg.ApplicationID + "-" + processID
}

// deliveryTimeout is how long the producer may take to acknowledge or fail
// a record: delivery.timeout.ms (alias message.timeout.ms) as configured,
// else the default; under exactly-once librdkafka caps it at the
// transaction timeout.
func deliveryTimeout(cfg *Config) time.Duration {
	cm := configMap(cfg, appProducer, nil)
	d := defaultDeliveryTimeout
	if ms, ok := durationProperty(cm, "delivery.timeout.ms", "message.timeout.ms"); ok {
		d = ms
	}
	if cfg.ProcessingGuarantee == ExactlyOnceV2 {
		txn, _ := durationProperty(cm, "transaction.timeout.ms")
		d = min(d, txn)
	}
	return d
}

// durationProperty reads a millisecond property given as a number or a
// numeric string.
func durationProperty(cm kafka.ConfigMap, names ...string) (time.Duration, bool) {
	for _, name := range names {
		v, ok := cm[name]
		if !ok {
			continue
		}
		var ms int64
		switch x := v.(type) {
		case int:
			ms = int64(x)
		case int32:
			ms = int64(x)
		case int64:
			ms = x
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return 0, false
			}
			ms = n
		default:
			return 0, false
		}
		return time.Duration(ms) * time.Millisecond, true
	}
	return 0, false
}

func (c *clients) consumer(kind clientKind) (*kafka.Consumer, error) {
	cm := configMap(c.cfg, kind, c.logs)
	if kind == mainConsumer {
		if _, own := c.cfg.ConsumerConfig["client.id"]; !own && c.processID != "" {
			cm["client.id"] = fmt.Sprintf("%v-%s", cm["client.id"], c.processID)
		}
		c.mainClientID = fmt.Sprint(cm["client.id"])
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("streams: create %s: %w", kind, err)
	}
	return cons, nil
}

func (c *clients) producer(processID string) (*kafka.Producer, error) {
	cm := configMap(c.cfg, appProducer, c.logs)
	if c.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		cm["transactional.id"] = transactionalID(c.cfg, processID)
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("streams: create %s: %w", appProducer, err)
	}
	return p, nil
}

// ownProducer makes the App's producer as Millrace's own client, from the
// same configuration as producer's; properties of confluent-kafka-go's
// own ("go.*") have no meaning for it and are left out; those the user set
// in ProducerConfig are named in one warning. Its log lines go to the
// App's logger like the other clients'. notify is called after a poll with
// news (see rdkbatch.ProducerConfig).
func (c *clients) ownProducer(processID string, notify func()) (*rdkbatch.Producer, error) {
	var ignored []string
	for k := range c.cfg.ProducerConfig {
		if strings.HasPrefix(k, "go.") {
			ignored = append(ignored, k)
		}
	}
	if len(ignored) > 0 {
		slices.Sort(ignored)
		c.cfg.Logger.Warn("ProducerConfig properties of confluent-kafka-go have no effect: the App produces through its own librdkafka client",
			zap.Strings("properties", ignored))
	}
	cm := configMap(c.cfg, appProducer, nil)
	if c.cfg.ProcessingGuarantee == ExactlyOnceV2 {
		cm["transactional.id"] = transactionalID(c.cfg, processID)
	}
	props := make(map[string]string, len(cm))
	for k, v := range cm {
		if strings.HasPrefix(k, "go.") {
			continue
		}
		props[k] = fmt.Sprint(v)
	}
	p, err := rdkbatch.NewProducer(rdkbatch.ProducerConfig{Properties: props, Notify: notify,
		Log: func(l rdkbatch.LogLine) {
			c.log(kafka.LogEvent{Name: l.Client, Tag: l.Tag, Message: l.Message, Level: l.Level})
		}})
	if err != nil {
		return nil, fmt.Errorf("streams: create %s: %w", appProducer, err)
	}
	return p, nil
}

// admin returns an admin client and the function that closes it. The Go
// client cannot forward an admin client's logs, so the admin client runs on
// a producer handle of its own (configured with AdminConfig), which can.
func (c *clients) admin() (*kafka.AdminClient, func(), error) {
	cm := configMap(c.cfg, adminClient, c.logs)
	cm["go.delivery.reports"] = false
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, nil, fmt.Errorf("streams: create %s: %w", adminClient, err)
	}
	a, err := kafka.NewAdminClientFromProducer(p)
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("streams: create %s: %w", adminClient, err)
	}
	return a, func() { a.Close(); p.Close() }, nil
}

// validateClients checks every client configuration with librdkafka itself
// (unknown properties, invalid values, conflicting settings), without
// connecting: each client is made with no bootstrap servers and closed at
// once. It names the Config field the bad property came from.
func validateClients(cfg *Config) []error {
	var errs []error
	check := func(kind clientKind, field string, make func(*kafka.ConfigMap) error) {
		cm := configMap(cfg, kind, nil)
		delete(cm, "bootstrap.servers")
		cm["log_level"] = 0
		if kind == appProducer && cfg.ProcessingGuarantee == ExactlyOnceV2 {
			cm["transactional.id"] = transactionalID(cfg, "validation")
		}
		if err := make(&cm); err != nil {
			errs = append(errs, fmt.Errorf("%s (the %s's configuration): %v", field, kind, err))
		}
	}
	check(mainConsumer, "ConsumerConfig", func(cm *kafka.ConfigMap) error {
		c, err := kafka.NewConsumer(cm)
		if err == nil {
			err = closeConsumer(c, false, time.Now().Add(consumerCloseTimeout))
		}
		return err
	})
	check(appProducer, "ProducerConfig", func(cm *kafka.ConfigMap) error {
		p, err := kafka.NewProducer(cm)
		if err == nil {
			p.Close()
		}
		return err
	})
	check(adminClient, "AdminConfig", func(cm *kafka.ConfigMap) error {
		p, err := kafka.NewProducer(cm)
		if err == nil {
			p.Close()
		}
		return err
	})
	return errs
}

// closeConsumer closes c, waiting at most until deadline (between 1 s and
// consumerCloseTimeout).
//
// After a fatal error confluent-kafka-go v2.11.1 never returns from Close:
// librdkafka refuses to close a consumer with a fatal error set, and the
// wrapper waits for the close forever (fixed upstream after v2.11.1). Such a
// consumer is closed on a goroutine left behind: its Close ends the
// wrapper's log goroutine, then polls the dead handle every 100 ms for the
// life of the process. That is one goroutine per fatally failed consumer,
// after which the App has stopped; Run and Close return at once.
func closeConsumer(c *kafka.Consumer, fatal bool, deadline time.Time) error {
	if c == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	if fatal {
		return fmt.Errorf("streams: consumer %s cannot be closed after a fatal error (confluent-kafka-go v2.11.1); left to the process", c)
	}
	wait := min(max(time.Until(deadline), time.Second), consumerCloseTimeout)
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		return fmt.Errorf("streams: consumer %s did not close within %v", c, wait)
	}
}

// consumerCloseTimeout caps a consumer's Close (leaving the group).
const consumerCloseTimeout = 5 * time.Second
