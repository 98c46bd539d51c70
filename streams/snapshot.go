package streams

import (
	"time"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/task"
)

// Metrics is a snapshot of an App's counters and gauges, computed when
// App.Metrics is called: per task, per node, per store and per topic, with
// the instance-wide figures. docs/metrics.md lists every figure with its
// Kafka Streams name. Counters only grow for the life of the App; gauges
// are as of Time. Durations of events (commits, punctuations, rebalances,
// chunks of records) are not here: the Hook interfaces report each one.
type Metrics struct {
	ApplicationID string
	State         State
	// Time is when the snapshot was taken; the recent minimums and
	// maximums of Measures are as of then.
	Time time.Time
	// Level is Config.MetricsRecordingLevel.
	Level RecordingLevel
	// Tasks holds every task the instance runs or ran, ordered by id. A
	// task run several times on this instance (closed on a rebalance and
	// created again) adds up its runs' counters; one no longer assigned
	// keeps its final counters, with Active false and its gauges zero.
	Tasks []TaskMetrics
	// Lags are, per assigned input partition, the records on the broker
	// not yet handed to its task (when known).
	Lags []PartitionLag
	// Restore is the progress of the current, or last, round of
	// restorations.
	Restore RestoreProgress
	// Standbys are the standby tasks the instance keeps or kept
	// (Config.StandbyReplicas), ordered by id.
	Standbys []StandbyMetrics
	// RestoreSkipped counts source-topic records skipped while restoring a
	// table's store (store.SourceChangelog), by store and reason.
	RestoreSkipped []SkippedRecords
	// GlobalDropped counts the records of global stores' topics skipped,
	// by reason.
	GlobalDropped []DroppedRecords
	// ProductionDropped counts records the producer could not deliver that
	// the ProductionHandler said to drop.
	ProductionDropped int64
	// DeliveryDeadLettered counts dead letters written for records whose
	// delivery failed after their task had moved on (at-least-once: the
	// producer writes them); the tasks' own are in TaskMetrics.DeadLettered.
	DeliveryDeadLettered int64
	// Purges counts the partitions of internal topics purged below their
	// committed offsets (one per partition and purge), PurgeFailures those
	// whose purge failed.
	Purges, PurgeFailures int64
	// CacheMaxBytes is the record cache's budget (Config.CacheMaxBytes);
	// CacheUsedBytes is what the active tasks' caches hold.
	CacheMaxBytes, CacheUsedBytes int64
	// StoreMemory is the RocksDB stores' shared budget
	// (Config.StoreMemoryBytes); nil while the App runs without one (each
	// store then reports its own block cache in its DBProperties).
	StoreMemory *StoreMemoryMetrics
	// PlacementMismatches counts the times this instance's assignment
	// differed from the range prediction its standbys are placed by
	// (StandbyReplicas 1 or 2): its standbys may then not be where its
	// tasks go, which costs restore time only. Logged once per membership.
	PlacementMismatches int64
	// HookPanics counts panics recovered from hooks.
	HookPanics int64
}

// TaskMetrics is one task's part of Metrics.
type TaskMetrics struct {
	ID processor.TaskID
	// Active: the instance runs the task now (it may still be restoring).
	Active bool
	// Restoring: its stores are being restored; it processes nothing yet.
	Restoring bool
	// Processed counts records taken and run through the graph;
	// Punctuations the punctuator callbacks run; Commits the commits;
	// EnforcedProcessing the records processed while an input was empty
	// past MaxTaskIdle; LateRecords those older than stream time.
	Processed, Punctuations, Commits, EnforcedProcessing, LateRecords int64
	// Opened counts the times this instance opened the task (created it:
	// stores opened, restored from their checkpoint or changelog); Resumed
	// the times it resumed the task after a rebalance, kept suspended with
	// its stores open (nothing reopened; nothing restored but what another
	// owner wrote meanwhile).
	Opened, Resumed int64
	// DeadLettered counts the dead letters the task wrote
	// (Config.DeadLetterQueueTopic, or a handler's own).
	DeadLettered int64
	// Dropped counts records dropped, by reason, sorted by reason: those
	// the handlers skipped (deserialization-error, invalid-timestamp,
	// processing-error) and those processors reported through
	// processor.Context.Dropped.
	Dropped []DroppedRecords
	// Lateness (ms) and ProcessLatency (ns): see task.Metrics.
	Lateness, ProcessLatency task.Measure
	// Buffered and BufferedBytes wait in the task's partition queues.
	Buffered, BufferedBytes int64
	// Blocked is how long the task has been inside one processor call
	// past a commit it was asked for (0 when it is not).
	Blocked time.Duration
	// Sources are the task's input partitions, Sinks what its sink nodes
	// sent to each topic (see task.Metrics); Sinks are measured at
	// RecordDebug only.
	Sources []task.SourceMetrics
	Sinks   []task.SinkMetrics
	// Stores are the task's stores, ordered by name.
	Stores []StoreMetrics
}

// DroppedBy returns the records dropped for reason.
func (t TaskMetrics) DroppedBy(reason string) int64 {
	for _, d := range t.Dropped {
		if d.Reason == reason {
			return d.Count
		}
	}
	return 0
}

// StoreMetrics is one store of a task: its cache's counters, its backend's
// properties (store.StoreMetrics; gauges are zero once the task is not
// active) and its restoration.
type StoreMetrics struct {
	store.StoreMetrics
	// Changelog and Partition are where the store restored from, once a
	// restoration of it began on this instance (empty before).
	Changelog string
	Partition int32
	// Restored counts changelog records written into the store by
	// restorations on this instance; Remaining is the changelog offsets
	// left to read while it restores (Kafka Streams'
	// restore-remaining-records-total), 0 otherwise.
	Restored, Remaining int64
	// Restoring: the store is being restored now.
	Restoring bool
}

// DroppedRecords is a count of records dropped for one reason.
type DroppedRecords struct {
	Reason string
	Count  int64
}

// SkippedRecords is a count of records a store's restoration skipped for
// one reason.
type SkippedRecords struct {
	Store, Reason string
	Count         int64
}

// PartitionLag is how far an input partition is behind its end offset.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// RestoreProgress follows one round of restorations: it begins when a
// store starts restoring while none was, takes in every store that starts
// until none is left restoring, and stays readable until the next round
// begins. Progress is in changelog offsets (a compacted changelog has gaps,
// and transaction markers take offsets: the records written can be fewer).
type RestoreProgress struct {
	// Active: some store is restoring now.
	Active bool
	// Stores in the round, and how many of them are done.
	Stores, StoresDone int
	// Offsets to read in the round, and how many were read.
	Offsets, OffsetsDone int64
	// Records written into the stores in the round.
	Records int64
	// Started is when the round began; Took how long it has run, or ran.
	Started time.Time
	Took    time.Duration
}

// RecordingLevel chooses how much the App measures (Kafka Streams'
// metrics.recording.level).
type RecordingLevel int

const (
	// RecordInfo (the default) records every metric that costs the
	// per-record path nothing beyond plain counters in the task's own
	// memory: process latency is timed per chunk of records.
	RecordInfo RecordingLevel = iota
	// RecordDebug also times each record (two clock readings per record),
	// so a task's ProcessLatency.Max is its slowest record, not its
	// slowest chunk's average, and meters every sink (a counting
	// collector between the sinks and the producer): records and bytes
	// produced per sink node and topic, and the end-to-end latency at
	// sinks (TaskMetrics.Sinks).
	RecordDebug
)

// String returns "INFO" or "DEBUG", as Kafka Streams names the levels.
func (l RecordingLevel) String() string {
	if l == RecordDebug {
		return "DEBUG"
	}
	return "INFO"
}
