package streams

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/internal/streamsopt"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// Guarantee is the processing guarantee.
type Guarantee int

const (
	// AtLeastOnce (the default): every record is processed at least once;
	// after a crash, records since the last commit are processed again.
	AtLeastOnce Guarantee = iota
	// ExactlyOnceV2: outputs, changelog writes and input offsets of a
	// commit are one Kafka transaction (Kafka Streams' exactly_once_v2);
	// consumers of the outputs must read committed data only.
	ExactlyOnceV2
)

// String returns "at_least_once" or "exactly_once_v2".
func (g Guarantee) String() string {
	if g == ExactlyOnceV2 {
		return "exactly_once_v2"
	}
	return "at_least_once"
}

// GroupProtocol is a consumer group protocol (Config.GroupProtocol).
type GroupProtocol string

const (
	// ClassicProtocol is the classic (eager) consumer group protocol with
	// the range assignor, run by the group's leader.
	ClassicProtocol GroupProtocol = "classic"
	// ConsumerProtocol is KIP-848's consumer group protocol with the
	// broker's range assignor: incremental rebalances.
	ConsumerProtocol GroupProtocol = "consumer"
)

// Config configures an App. Zero values take the documented defaults; New
// validates everything and reports every problem at once.
type Config struct {
	// ApplicationID names the application: it is the consumer group id, the
	// prefix of internal topics and the state directory's subdirectory.
	// Required; letters, digits, '.', '_' and '-' only.
	ApplicationID string
	// BootstrapServers is the Kafka bootstrap.servers list. Required.
	BootstrapServers string
	// InstanceID, if set, enables static membership (group.instance.id):
	// a restarted instance gets its partitions back without a rebalance
	// if it returns within SessionTimeout.
	InstanceID string
	// GroupProtocol chooses the consumer group protocol: ClassicProtocol
	// (the default) or ConsumerProtocol (KIP-848, opt-in).
	//
	// Classic: the eager range protocol. A rebalance revokes every
	// partition; the tasks commit and are suspended with their stores open,
	// and those assigned again resume without reopening or restoring
	// anything (the others close). Every task pauses for the rebalance.
	//
	// Consumer (KIP-848; a broker of Kafka 4.0 or later, and librdkafka
	// 2.11.1 ships it as a preview): the broker's range assignor computes
	// the assignment, and rebalances are incremental: only the tasks that
	// move stop, the others keep processing. It needs InstanceID (the
	// range assignment is then a function of the sorted instance ids).
	// The session timeout and heartbeat interval are the broker's (group
	// settings group.consumer.session.timeout.ms, 45 s by default, and
	// group.consumer.heartbeat.interval.ms): SessionTimeout is not sent.
	// A task starts only once all its co-partitioned input partitions are
	// assigned. Under ExactlyOnceV2, a broker without KIP-1251 (relaxed
	// offset-commit epochs) rejects a transaction's offsets when the
	// group's epoch moved while it was open: the transaction aborts and
	// the tasks start over from the last commit, their stores restored
	// (outputs stay exactly once; the App logs this at start).
	GroupProtocol GroupProtocol
	// ApplicationServer is this instance's query endpoint, host:port,
	// advertised to the other instances of the application (Kafka
	// Streams' application.server): MetadataForKey, MetadataForStore and
	// AllMetadata answer with the endpoints of the instances that hold a
	// store's partitions, so a query reaching any instance can be
	// forwarded to the right one. The instances announce their tasks on
	// the compacted topic <ApplicationID>-instance-metadata (see the
	// package doc). Each instance needs an endpoint of its own, reachable
	// by the others (not 0.0.0.0). Empty (the default): the instance
	// neither announces itself nor learns about the others, and the
	// metadata functions fail with ErrNoApplicationServer.
	ApplicationServer string
	// StateDir is the root of local state; default <os.TempDir>/millrace.
	StateDir string
	// ProcessingGuarantee; default AtLeastOnce.
	ProcessingGuarantee Guarantee
	// CommitInterval is how often tasks commit; 0 means the default, 30 s,
	// or 100 ms under ExactlyOnceV2. Unlike Kafka Streams'
	// commit.interval.ms, 0 is not "as often as possible": in Go the zero
	// value is "unset". For commits as often as possible, set 1 ms (the
	// App then commits on every pass of its poll loop that finds the
	// interval elapsed).
	CommitInterval time.Duration
	// MaxTaskIdle is how long a task with several inputs waits for an
	// empty input that is not known to be caught up (its records are on
	// the broker, or its lag is not known yet) before it processes the
	// others anyway ("enforced processing", counted); see the
	// partitiongroup package. A caught-up input never holds a task. 0
	// means the default, DefaultMaxTaskIdle; negative never waits.
	//
	// The wait is what makes a join read its inputs in timestamp order
	// when the App starts on a backlog: without it a stream-table join
	// processes the stream records it fetched first against a table whose
	// records, older, are still on the broker, and misses them (Kafka
	// Streams waits for such fetches too: KIP-695).
	MaxTaskIdle time.Duration
	// BufferedRecordsPerPartition is the bound above which a partition is
	// paused at the consumer until its task drains it to half; 0 means the
	// default, DefaultBufferedRecordsPerPartition (100,000). Kafka Streams
	// defaults to 1,000, but librdkafka drops what it already fetched for
	// a paused partition and fetches it again on resume, and a task with
	// one busy input stalls for that refetch unless half the bound covers
	// it: measured (bench/README.md, "Defaults"; 1 M records on one
	// partition), count ran at 0.08-0.10x the raw baseline with 10,000,
	// 0.45-0.83x with 50,000, 0.64-1.01x with 100,000 and 0.72-1.10x with
	// 200,000, which also took 30-50 MiB more than 100,000. Memory is
	// bounded by InputBufferMaxBytes, not by this bound.
	BufferedRecordsPerPartition int
	// InputBufferMaxBytes bounds the bytes of the input records the
	// instance holds fetched and not yet processed, over all its input
	// partitions together: input.buffer.max.bytes as KIP-770 specifies it
	// for Kafka Streams (one instance here is one stream thread there).
	// It bounds memory whatever the records' size or the partitions'
	// count, which BufferedRecordsPerPartition does not. Past it, every
	// partition with records buffered is paused at the consumer (an empty
	// one is not, so a task waiting for that input is never held by the
	// bound), and each is resumed once the total drained to half the
	// bound, or its own records are all processed. Both bounds apply:
	// whichever pauses first. The bound may be passed by what one pass of
	// the poll loop reads (1,024 records at most, and no more than
	// librdkafka's fetch queue holds). Sizes are
	// record.ConsumerRecord.SizeInBytes: key, value, headers and a fixed
	// per-record overhead. 0 means the default, DefaultInputBufferMaxBytes
	// (512 MiB, KIP-770's figure); negative is an error.
	InputBufferMaxBytes int64
	// CacheMaxBytes is the instance's record-cache budget; default 10 MiB.
	CacheMaxBytes int64
	// StoreMemoryBytes is the instance's RocksDB memory budget: one block
	// cache of this size, shared by every RocksDB store of its tasks and
	// global stores (DSL-made or hand-built), which also holds their index
	// and filter blocks and is charged for their write buffers (up to
	// half of it; see rocksdb.Memory). RocksDB's memory then stays near
	// this figure however many stores and partitions the instance holds.
	// 0 means DefaultStoreMemoryBytes (256 MiB); negative gives each store
	// its own cache and write buffers (rocksdb.Config's sizes, Kafka
	// Streams' defaults: 50 MiB + 3 x 16 MiB per store); positive must be
	// at least MinStoreMemoryBytes (16 MiB). A store whose rocksdb.Config
	// sets a Memory of its own uses that one instead.
	StoreMemoryBytes int64
	// SessionTimeout of the consumer group; default 45 s.
	SessionTimeout time.Duration
	// StartupTimeout bounds how long Run waits for the cluster at start;
	// default 30 s.
	StartupTimeout time.Duration
	// TaskTimeout is how long one call into a task's processors (a
	// record, a punctuation, a store flush that forwards) may run before
	// the task counts as stuck (Kafka Streams: task.timeout.ms); default
	// 5 minutes. A task that misses a commit because it is inside such a
	// call is reported (log, metric) at once; under AtLeastOnce the other
	// tasks keep processing and committing meanwhile, under ExactlyOnceV2
	// they wait for it (their commit is one transaction with its writes).
	// Past TaskTimeout the App fails with ErrTaskStuck. A processor sees
	// the end of its task through its Context (a context.Context). It costs
	// nothing per record: a task's lateness is measured at commits.
	TaskTimeout time.Duration
	// CloseTimeout bounds the shutdown in Close, Run's return after its
	// context ends, and the commit and close of tasks on a rebalance;
	// default 30 s. A task whose processor does not return by then is
	// given up on: its context is cancelled, it can reach no output, its
	// records since the last commit are processed again by the next owner,
	// and its goroutine closes its stores when the call returns.
	CloseTimeout time.Duration
	// StateCleanupDelay is how long the state of a task no longer assigned
	// is kept before it is deleted; default 10 minutes.
	StateCleanupDelay time.Duration
	// StandbyReplicas is how many standby replicas of each stateful task
	// the application keeps (Kafka Streams' num.standby.replicas): a
	// standby task holds a copy of the task's persistent logged stores,
	// fed from their changelogs, so the instance that takes the task over
	// restores only what the standby had not fetched yet. 0 (the
	// default): none. StandbyAll: every instance keeps a standby of every
	// stateful task it does not run (goka's hot standby). See standby.go.
	StandbyReplicas int
	// ReplicationFactor of internal topics; default -1 (the broker's).
	ReplicationFactor int
	// RepartitionPurgeInterval is how often the App deletes the records of
	// internal topics declared with Purge (repartition topics) below the
	// offsets its group committed (Kafka Streams:
	// repartition.purge.interval.ms); default 30 s. Purges run on a
	// goroutine of their own, never on the poll loop; a failed purge is
	// logged and counted (Metrics.PurgeFailures)
	// and retried at the next one. Under ExactlyOnceV2 only offsets of
	// committed transactions are purged below.
	RepartitionPurgeInterval time.Duration
	// DefaultTimestampExtractor; nil means record.FailOnInvalidTimestamp().
	DefaultTimestampExtractor record.TimestampExtractor
	// DeserializationHandler, ProcessingHandler, ProductionHandler; nil
	// means fail (handler.LogAndFail). Dead letters they answer with are
	// written before the record is skipped or the App fails (see the
	// handler package). A ProductionHandler under AtLeastOnce is also
	// asked about deliveries that fail after the task moved on; for those
	// it gets the failed record's key, value and headers, which the
	// producer then copies out of librdkafka for every delivery report
	// (two or three allocations per record on the producer's event
	// goroutine, never on a task's). Without a ProductionHandler or a
	// DeadLetterQueueTopic, delivery reports carry no record bytes.
	DeserializationHandler handler.DeserializationHandler
	ProcessingHandler      handler.ProcessingHandler
	ProductionHandler      ProductionHandler
	// DeadLetterQueueTopic (Kafka Streams: errors.dead.letter.queue.topic.name)
	// is where the built-in handlers (handler.LogAndFail, the default, and
	// handler.LogAndContinue) write a dead letter for every record they
	// fail or skip: the source record's raw key, value and headers plus
	// headers naming the error and the source topic, partition and offset
	// (handler.NewDeadLetter). Empty (the default) writes none. Custom
	// handlers write the dead letters they choose, for any topic, and see
	// this name in handler.ErrorContext. The App does not create the topic
	// (neither does Kafka Streams): create it before starting. A dead
	// letter that cannot be written stops the App with an error wrapping
	// handler.ErrDeadLetterWrite naming the topic. Under ExactlyOnceV2
	// dead letters are part of the task's transaction; under AtLeastOnce
	// they are acknowledged before the offsets of their records are
	// committed. It must be a valid topic name and not one the topology
	// reads (its dead letters would be read again).
	DeadLetterQueueTopic string
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Hooks are values implementing any of the Hook interfaces
	// (HookProcessBatch, HookCommit, StateRestoreListener, ...), called on
	// the events they name; see Hook. A metrics exporter is one
	// (metrics/prometheus); so is a restoration progress line
	// (NewRestorePrinter). Each must implement at least one.
	Hooks []Hook
	// MetricsRecordingLevel is how much the App measures; default
	// RecordInfo (see RecordingLevel). App.Metrics reads what it measured.
	MetricsRecordingLevel RecordingLevel
	// StateListener is called on every App state change, from the App's
	// goroutines; it must not block.
	StateListener func(from, to State)
	// ConsumerConfig, ProducerConfig and AdminConfig are extra librdkafka
	// properties (security, tuning) applied over Millrace's own.
	// ConsumerConfig applies to the group consumer and to the consumers
	// that restore changelogs and global stores. New checks every property
	// with librdkafka. The producer's delivery.timeout.ms (default 120 s,
	// Kafka Streams' value) and, under ExactlyOnceV2, transaction.timeout.ms
	// (default 10 s, likewise; it also caps the delivery timeout) set how
	// long the App waits for acknowledgements before it fails.
	ConsumerConfig map[string]any
	ProducerConfig map[string]any
	AdminConfig    map[string]any

	// produceRecordByRecord makes tasks produce each record with its own
	// call instead of in batches (tests of the fallback path).
	produceRecordByRecord bool
	// producerClient picks the client the App produces through. By
	// default that is Millrace's own (internal/rdkbatch.Producer: delivery
	// reports served in C); the bench's +wrapper rows (through
	// internal/streamsopt) and tests of that path choose
	// confluent-kafka-go's producer instead.
	producerClient producerClient
}

// producerClient is the App producer's client.
type producerClient uint8

const (
	defaultProducerClient producerClient = iota // own, unless the tests say otherwise
	ownProducerClient                           // internal/rdkbatch.Producer
	wrapperProducerClient                       // confluent-kafka-go's kafka.Producer
)

func init() {
	streamsopt.WrapperProducer = func(cfg any, on bool) {
		if c, ok := cfg.(*Config); ok {
			c.producerClient = ownProducerClient
			if on {
				c.producerClient = wrapperProducerClient
			}
		}
	}
}

// wrapperProducerForTests gives every App that does not choose its client
// confluent-kafka-go's producer (set by the package's tests when
// MILLRACE_WRAPPER_PRODUCER=1).
var wrapperProducerForTests bool

// usesOwnProducer reports whether cfg's App produces through the own
// client.
func usesOwnProducer(cfg *Config) bool {
	switch cfg.producerClient {
	case ownProducerClient:
		return true
	case wrapperProducerClient:
		return false
	}
	return !wrapperProducerForTests
}

// ProductionHandler decides about a record the producer could not write;
// see handler.ProductionHandler.
type ProductionHandler = handler.ProductionHandler

// ErrConfig is wrapped by New's error for an invalid Config.
var ErrConfig = errors.New("streams: invalid config")

// DefaultBufferedRecordsPerPartition is BufferedRecordsPerPartition's
// default (see there for the measurements behind it).
const DefaultBufferedRecordsPerPartition = 100_000

// DefaultInputBufferMaxBytes is InputBufferMaxBytes's default: Kafka
// Streams' input.buffer.max.bytes default (KIP-770).
const DefaultInputBufferMaxBytes = 512 << 20

// DefaultMaxTaskIdle bounds the wait for an input whose records are on
// the broker but not yet fetched: long enough for librdkafka's fetch cycle
// (fetch.wait.max.ms 500 ms, plus the fetch queue's back-off), short
// enough that an input that cannot be fetched holds its task for at most
// a second at a time.
const DefaultMaxTaskIdle = time.Second

func (c *Config) withDefaults() {
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "millrace")
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 30 * time.Second
		if c.ProcessingGuarantee == ExactlyOnceV2 {
			c.CommitInterval = 100 * time.Millisecond
		}
	}
	if c.MaxTaskIdle == 0 {
		c.MaxTaskIdle = DefaultMaxTaskIdle
	}
	if c.BufferedRecordsPerPartition == 0 {
		c.BufferedRecordsPerPartition = DefaultBufferedRecordsPerPartition
	}
	if c.InputBufferMaxBytes == 0 {
		c.InputBufferMaxBytes = DefaultInputBufferMaxBytes
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = 10 << 20
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = 30 * time.Second
	}
	if c.TaskTimeout == 0 {
		c.TaskTimeout = 5 * time.Minute
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.StateCleanupDelay == 0 {
		c.StateCleanupDelay = 10 * time.Minute
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.RepartitionPurgeInterval == 0 {
		c.RepartitionPurgeInterval = 30 * time.Second
	}
	if c.DefaultTimestampExtractor == nil {
		c.DefaultTimestampExtractor = record.FailOnInvalidTimestamp()
	}
	if c.DeserializationHandler == nil {
		c.DeserializationHandler = handler.LogAndFail{}
	}
	if c.ProcessingHandler == nil {
		c.ProcessingHandler = handler.LogAndFail{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// validate returns every problem, joined.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.ApplicationID == "":
		bad("ApplicationID is required")
	case strings.IndexFunc(c.ApplicationID, func(r rune) bool { return !topicRune(r) }) >= 0:
		bad("ApplicationID %q may only hold letters, digits, '.', '_' and '-' (it names topics and a directory)", c.ApplicationID)
	case c.ApplicationID == "." || c.ApplicationID == "..":
		bad("ApplicationID %q is not a valid directory name", c.ApplicationID)
	}
	if strings.TrimSpace(c.BootstrapServers) == "" {
		bad("BootstrapServers is required")
	} else if err := checkBootstrap(c.BootstrapServers); err != nil {
		errs = append(errs, err)
	}
	if c.ApplicationServer != "" {
		if _, err := parseHostInfo(c.ApplicationServer); err != nil {
			bad("ApplicationServer %v", err)
		}
		if t := metadataTopic(c.ApplicationID); len(t) > maxTopicName {
			bad("ApplicationID %q is too long for the instance-metadata topic %q (%d characters, Kafka allows %d)",
				c.ApplicationID, t, len(t), maxTopicName)
		}
	}
	if c.ProcessingGuarantee != AtLeastOnce && c.ProcessingGuarantee != ExactlyOnceV2 {
		bad("ProcessingGuarantee %d is neither AtLeastOnce nor ExactlyOnceV2", c.ProcessingGuarantee)
	}
	if c.CommitInterval < 0 {
		bad("CommitInterval %v is negative", c.CommitInterval)
	}
	if c.BufferedRecordsPerPartition < 0 {
		bad("BufferedRecordsPerPartition %d is negative", c.BufferedRecordsPerPartition)
	}
	if c.InputBufferMaxBytes < 0 {
		bad("InputBufferMaxBytes %d is negative", c.InputBufferMaxBytes)
	}
	if c.CacheMaxBytes < 0 {
		bad("CacheMaxBytes %d is negative", c.CacheMaxBytes)
	}
	if c.StoreMemoryBytes > 0 && c.StoreMemoryBytes < MinStoreMemoryBytes {
		bad("StoreMemoryBytes %d is below the minimum %d (16 MiB); 0 means the default, negative a cache per store",
			c.StoreMemoryBytes, MinStoreMemoryBytes)
	}
	if c.SessionTimeout < 0 || (c.SessionTimeout > 0 && c.SessionTimeout < time.Millisecond) {
		bad("SessionTimeout %v is under 1ms", c.SessionTimeout)
	}
	switch c.GroupProtocol {
	case "", ClassicProtocol:
	case ConsumerProtocol:
		if c.InstanceID == "" {
			bad("GroupProtocol %q needs InstanceID: with the consumer protocol the broker's range assignor places tasks "+
				"by sorted instance ids (without one, by random member ids that change at every restart)", c.GroupProtocol)
		}
	default:
		bad("GroupProtocol %q is neither %q nor %q", c.GroupProtocol, ClassicProtocol, ConsumerProtocol)
	}
	if c.StartupTimeout < 0 {
		bad("StartupTimeout %v is negative", c.StartupTimeout)
	}
	if c.TaskTimeout < 0 {
		bad("TaskTimeout %v is negative", c.TaskTimeout)
	}
	if c.CloseTimeout < 0 {
		bad("CloseTimeout %v is negative", c.CloseTimeout)
	}
	if c.StateCleanupDelay < 0 {
		bad("StateCleanupDelay %v is negative", c.StateCleanupDelay)
	}
	if c.StandbyReplicas > 2 {
		bad("StandbyReplicas %d: standbys are placed by predicting the range assignment, which gives each task at most 2 "+
			"places to go when one member leaves or joins (its neighbours); use 1, 2, or StandbyAll (%d) to keep a standby "+
			"of every task on every instance", c.StandbyReplicas, StandbyAll)
	}
	if c.StandbyReplicas < 0 && c.StandbyReplicas != StandbyAll {
		bad("StandbyReplicas %d is negative (StandbyAll, %d, keeps a standby of every task on every instance)", c.StandbyReplicas, StandbyAll)
	}
	if c.RepartitionPurgeInterval < 0 {
		bad("RepartitionPurgeInterval %v is negative", c.RepartitionPurgeInterval)
	}
	if c.DeadLetterQueueTopic != "" {
		if err := checkTopicName("DeadLetterQueueTopic", c.DeadLetterQueueTopic); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MetricsRecordingLevel != RecordInfo && c.MetricsRecordingLevel != RecordDebug {
		bad("MetricsRecordingLevel %d is neither RecordInfo nor RecordDebug", c.MetricsRecordingLevel)
	}
	if _, herrs := findHooks(c.Hooks); len(herrs) > 0 {
		errs = append(errs, herrs...)
	}
	if c.ReplicationFactor < -1 {
		bad("ReplicationFactor %d must be -1 (broker default) or positive", c.ReplicationFactor)
	}
	ownedOK := true
	for _, m := range []struct {
		name  string
		props map[string]any
	}{{"ConsumerConfig", c.ConsumerConfig}, {"ProducerConfig", c.ProducerConfig}, {"AdminConfig", c.AdminConfig}} {
		for _, k := range slices.Sorted(maps.Keys(m.props)) {
			field, isOwned := owned[k]
			switch {
			case !isOwned:
			case field != "":
				bad("%s sets %q, which Millrace manages: set Config.%s instead", m.name, k, field)
				ownedOK = false
			default:
				bad("%s sets %q, which Millrace manages (its guarantees depend on it)", m.name, k)
				ownedOK = false
			}
		}
	}
	if ownedOK && len(errs) == 0 {
		// librdkafka's own checks, once everything else is sound.
		errs = append(errs, validateClients(c)...)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %w", ErrConfig, joinLines(errs))
}

// checkBootstrap parses a bootstrap.servers list: host:port entries
// separated by commas, each with an optional security-protocol prefix
// (SSL://host:port) and IPv6 hosts in brackets.
func checkBootstrap(list string) error {
	var bad []string
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if _, rest, ok := strings.Cut(entry, "://"); ok {
			entry = rest
		}
		host, port, err := net.SplitHostPort(entry)
		if err == nil {
			var n int
			n, err = strconv.Atoi(port)
			switch {
			case err != nil || n < 1 || n > 65535:
				err = fmt.Errorf("port %q is not a number from 1 to 65535", port)
			case host == "":
				err = errors.New("no host")
			case strings.ContainsAny(host, " /\\"):
				err = fmt.Errorf("host %q is not a host name or address", host)
			}
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q (%v)", entry, err))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("BootstrapServers %q is not a list of host:port: %s", list, strings.Join(bad, ", "))
}

// maxTopicName is Kafka's limit on topic names.
const maxTopicName = 249

// checkTopology checks what of the Config only the topology can tell:
// the internal topics named after the application id must be valid Kafka
// topic names.
func (c *Config) checkTopology(topo *processor.Topology) error {
	var errs []error
	for _, ls := range loggedStores(topo) {
		name := ls.name
		topic := store.ChangelogTopic(c.ApplicationID, name)
		if len(topic) > maxTopicName {
			errs = append(errs, fmt.Errorf("ApplicationID %q is too long for store %q: its changelog topic %q has %d characters, Kafka allows %d",
				c.ApplicationID, name, topic, len(topic), maxTopicName))
		}
		if i := strings.IndexFunc(name, func(r rune) bool { return !topicRune(r) }); i >= 0 {
			errs = append(errs, fmt.Errorf("store %q names a changelog topic, which may only hold letters, digits, '.', '_' and '-' (found %q)",
				name, name[i:i+1]))
		}
	}
	sourced := sourceStores(topo)
	for _, name := range slices.Sorted(maps.Keys(sourced)) {
		ss := sourced[name]
		if sub, ok := topo.SubtopologyOf(ss.topic); !ok || sub != ss.sub {
			errs = append(errs, fmt.Errorf("store %q is restored from source topic %q, which its sub-topology %d does not read "+
				"(a source of that topic must be in the sub-topology of the processors using the store)", name, ss.topic, ss.sub))
		}
	}
	for _, it := range topo.InternalTopics() {
		if len(it.Name) > maxTopicName {
			errs = append(errs, fmt.Errorf("ApplicationID %q is too long for internal topic %q (%d characters, Kafka allows %d)",
				c.ApplicationID, it.Name, len(it.Name), maxTopicName))
		}
		if i := strings.IndexFunc(it.Declared, func(r rune) bool { return !topicRune(r) }); i >= 0 {
			errs = append(errs, fmt.Errorf("internal topic %q may only hold letters, digits, '.', '_' and '-' (found %q): rename the operator that names it",
				it.Name, it.Declared[i:i+1]))
		}
	}
	if dlq := c.DeadLetterQueueTopic; dlq != "" {
		if sub, ok := topo.SubtopologyOf(dlq); ok {
			errs = append(errs, fmt.Errorf("DeadLetterQueueTopic %q is read by sub-topology %d: every dead letter would be read (and fail) again", dlq, sub))
		}
		for _, g := range topo.GlobalStores() {
			if g.Topic == dlq {
				errs = append(errs, fmt.Errorf("DeadLetterQueueTopic %q feeds global store %q: dead letters would be read into it", dlq, g.Name))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %w", ErrConfig, joinLines(errs))
}

// checkTopicName checks a topic name given in field: Kafka's rules.
func checkTopicName(field, name string) error {
	switch {
	case len(name) > maxTopicName:
		return fmt.Errorf("%s %q has %d characters, Kafka allows %d", field, name, len(name), maxTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%s %q is not a valid topic name", field, name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !topicRune(r) }); i >= 0 {
		return fmt.Errorf("%s %q may only hold letters, digits, '.', '_' and '-' (found %q)", field, name, name[i:i+1])
	}
	return nil
}

func topicRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

type lines []error

func (l lines) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString("\n  - ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (l lines) Unwrap() []error { return l }

func joinLines(errs []error) error { return lines(errs) }
