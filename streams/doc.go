// Package streams runs a processor.Topology on Kafka: the App.
//
// One App instance joins the consumer group named by its application id
// (range assignment, so equal-sized co-partitioned topics keep their
// partition numbers together; static membership with Config.InstanceID).
// Assigned partitions become tasks — a sub-topology × a partition number —
// each run by its own goroutine. Many instances with one application id
// share the partitions; a stopped instance's tasks move to the others with
// their state, restored from changelog topics.
//
// Invariants:
//   - One poller goroutine owns the consumer. It hands batches of records to
//     the tasks' input queues without ever blocking on a task, and pauses a
//     partition whose task holds more than Config.BufferedRecordsPerPartition
//     of its records until the task drained half of them.
//   - Commits are a barrier: every task stops between two records, flushes
//     its caches and stores (writing their changelogs) and reports its
//     offsets; then the producer's outputs are acknowledged and the offsets
//     committed with each partition's time as metadata (at-least-once), or
//     outputs, changelog writes and offsets commit in one transaction
//     (ExactlyOnceV2); then the tasks resume.
//   - A task processes only after its logged stores are restored up to the
//     end offsets of their changelogs; global stores are restored in full
//     before any task starts.
//   - No record is dropped silently: deserialization, processing and
//     production failures go to their handlers (fail by default), and every
//     skip is logged and counted in the metrics.
//   - Run returns only after every goroutine and client it started is gone;
//     Close is idempotent.
package streams
