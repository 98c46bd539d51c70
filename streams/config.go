package streams

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
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
	// StateDir is the root of local state; default <os.TempDir>/millrace.
	StateDir string
	// ProcessingGuarantee; default AtLeastOnce.
	ProcessingGuarantee Guarantee
	// CommitInterval; default 30 s, or 100 ms under ExactlyOnceV2.
	CommitInterval time.Duration
	// MaxTaskIdle: see the partitiongroup package; default 0.
	MaxTaskIdle time.Duration
	// BufferedRecordsPerPartition is the bound above which a partition is
	// paused at the consumer until its task drains it to half; default
	// 10,000. (Kafka Streams defaults to 1,000, but librdkafka drops what
	// it already fetched for a paused partition and fetches it again, so
	// pausing often costs throughput; measured, 10,000 removes the stalls.)
	BufferedRecordsPerPartition int
	// CacheMaxBytes is the instance's record-cache budget; default 10 MiB.
	CacheMaxBytes int64
	// SessionTimeout of the consumer group; default 45 s.
	SessionTimeout time.Duration
	// StartupTimeout bounds how long Run waits for the cluster at start;
	// default 30 s.
	StartupTimeout time.Duration
	// StateCleanupDelay is how long the state of a task no longer assigned
	// is kept before it is deleted; default 10 minutes.
	StateCleanupDelay time.Duration
	// ReplicationFactor of internal topics; default -1 (the broker's).
	ReplicationFactor int
	// DefaultTimestampExtractor; nil means record.FailOnInvalidTimestamp().
	DefaultTimestampExtractor record.TimestampExtractor
	// DeserializationHandler, ProcessingHandler, ProductionHandler; nil
	// means fail (handler.LogAndFail).
	DeserializationHandler handler.DeserializationHandler
	ProcessingHandler      handler.ProcessingHandler
	ProductionHandler      ProductionHandler
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Registerer receives the App's Prometheus metrics; nil registers none.
	Registerer prometheus.Registerer
	// StateListener is called on every App state change, from the App's
	// goroutines; it must not block.
	StateListener func(from, to State)
	// ConsumerConfig, ProducerConfig and AdminConfig are extra librdkafka
	// properties (security, tuning) applied over Millrace's own.
	ConsumerConfig map[string]any
	ProducerConfig map[string]any
	AdminConfig    map[string]any
}

// ProductionHandler decides about a record the producer could not deliver
// (after librdkafka's own retries of retriable errors).
type ProductionHandler interface {
	OnProductionError(topic string, partition int32, err error) handler.Response
}

// ErrConfig is wrapped by New's error for an invalid Config.
var ErrConfig = errors.New("streams: invalid config")

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
	if c.BufferedRecordsPerPartition == 0 {
		c.BufferedRecordsPerPartition = 10_000
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
	if c.StateCleanupDelay == 0 {
		c.StateCleanupDelay = 10 * time.Minute
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
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
	case strings.IndexFunc(c.ApplicationID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) >= 0:
		bad("ApplicationID %q may only hold letters, digits, '.', '_' and '-' (it names topics and a directory)", c.ApplicationID)
	case c.ApplicationID == "." || c.ApplicationID == "..":
		bad("ApplicationID %q is not a valid directory name", c.ApplicationID)
	}
	if strings.TrimSpace(c.BootstrapServers) == "" {
		bad("BootstrapServers is required")
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
	if c.CacheMaxBytes < 0 {
		bad("CacheMaxBytes %d is negative", c.CacheMaxBytes)
	}
	if c.SessionTimeout < 0 || (c.SessionTimeout > 0 && c.SessionTimeout < time.Millisecond) {
		bad("SessionTimeout %v is under 1ms", c.SessionTimeout)
	}
	if c.StartupTimeout < 0 {
		bad("StartupTimeout %v is negative", c.StartupTimeout)
	}
	if c.StateCleanupDelay < 0 {
		bad("StateCleanupDelay %v is negative", c.StateCleanupDelay)
	}
	if c.ReplicationFactor < -1 {
		bad("ReplicationFactor %d must be -1 (broker default) or positive", c.ReplicationFactor)
	}
	for name, m := range map[string]map[string]any{"ConsumerConfig": c.ConsumerConfig, "ProducerConfig": c.ProducerConfig, "AdminConfig": c.AdminConfig} {
		for k := range m {
			if owned[k] {
				bad("%s sets %q, which Millrace manages (set it through Config)", name, k)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %w", ErrConfig, joinLines(errs))
}

// owned are librdkafka properties the App sets itself; overriding them
// would break its guarantees.
var owned = map[string]bool{
	"group.id": true, "enable.auto.commit": true, "enable.auto.offset.store": true,
	"isolation.level": true, "transactional.id": true, "enable.idempotence": true,
	"partition.assignment.strategy": true, "group.instance.id": true, "bootstrap.servers": true,
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
