// Package testdriver runs a Topology without a broker, as Kafka Streams'
// TopologyTestDriver does, using the real task, PartitionGroup and
// punctuation code (not a second implementation).
//
// Each sub-topology runs as one task on partition 0 of its topics. Piping a
// record appends it to its task's input and then, as Kafka Streams' driver
// does, processes everything processable, fires due stream-time punctuators
// after each record, and commits (flushing stores). Every input partition is
// treated as caught up, so nothing waits for MaxTaskIdle; use Batch to pipe
// several records (to several topics) before any is processed, which lets
// the PartitionGroup merge them by timestamp.
//
// Records written by sinks are kept per topic for OutputTopic to read. A
// record written to a topic that some sub-topology reads is also fed back
// into that sub-topology's input, after the record that produced it has been
// processed.
//
// Records piped (or written by a sink) to a global store's topic update that
// store at once; every processor reads it by name, as on Kafka. A record the
// store cannot take (a null key, undeserializable bytes) is logged and
// counted (SkippedGlobalRecords), as the runtime does.
//
// Wall-clock time is virtual: it starts at Config.StartTime and moves only
// with AdvanceWallClock, which fires due wall-clock punctuators. It stays
// within the times whose Unix milliseconds fit in an int64, stopping at
// math.MaxInt64 ms rather than wrapping into the past.
//
// Persistent stores live in a state directory (a temporary one unless
// Config.StateDir names one), locked per task as the runtime locks it.
//
// A Driver is not safe for concurrent use.
package testdriver
