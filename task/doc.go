// Package task runs one task: one sub-topology for one partition number. A
// Task owns the sub-topology's processor instances and stores (a
// processor.Graph), the PartitionGroup of its input partitions and both
// punctuation queues. All its methods are called from one goroutine (the
// runtime's task goroutine or the test driver); only Stats and Metrics may
// be read elsewhere, and Cancel called.
//
// Lifecycle (Kafka Streams' task states):
//
//	Created ──InitializeStores──▶ Restoring ──CompleteRestoration──▶ Running
//	   │                              │                                  │
//	   │                              └────────────Suspend───────────────┤
//	   │                                                                 ▼
//	   └──────────────Close───────▶ Closed ◀──────Close────────────── Suspended
//	                                                    Resume ──▶ Restoring
//
// Any other transition is an error wrapping ErrIllegalTransition. Close from
// Restoring or Running suspends first.
//
// Per record (Process): if the PartitionGroup is ready, take its next record,
// forward it through the graph, then fire due stream-time punctuators.
// Wall-clock punctuators fire on PunctuateWallClock, read from the injected
// Clock. A failure in user code (error or panic, in Process or a punctuator)
// becomes a *handler.ProcessingError naming task, node, topic, partition and
// offset, and goes to the ProcessingHandler: Continue logs it and counts the
// record as dropped; Fail (the default) returns it. The dead letters a
// handler answers with (deserialization, processing, or the production
// handler the Collector asks) are written first through the Collector
// (WriteDeadLetters; see DeadLetterWriter) and counted in
// Stats.DeadLettered; one that cannot be written fails the task whatever
// the handler said.
//
// Commit flushes the stores and reports, per input partition that consumed
// anything, the next offset to consume and the partition time.
//
// Metrics cost the per-record path no lock, no shared atomic, no
// allocation and no clock reading: Stats' counters are atomics in the
// task's own memory, and the rest (records and bytes per input partition
// and per sink, end-to-end latency at sources and sinks, record lateness)
// goes into plain fields that PublishMetrics, called by the runtime once
// per chunk of records, folds into what Metrics reads, computing latencies
// with that one clock reading.
package task
