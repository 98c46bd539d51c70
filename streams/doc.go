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
//   - A commit never waits on a task stuck inside one processor call: it
//     waits a second, then goes on without it, holding the task's sends at
//     its collector's gate while the commit runs; the task joins the next
//     commit once it answers. Under ExactlyOnceV2 the instance's commit is
//     one transaction, so a task that wrote into it is waited for. A task
//     inside one call past TaskTimeout fails the App with ErrTaskStuck.
//   - A task closed, or given up on (past CloseTimeout), can reach no
//     output: its processors' Context is cancelled, Forward fails, and its
//     collector refuses every send before the runtime moves on (the send
//     counter and the gate are both sequentially consistent atomics, so no
//     send slips past the check).
//   - No record is dropped silently: deserialization, processing and
//     production failures go to their handlers (fail by default), every skip
//     is logged and counted in the metrics, and a changelog write that fails
//     stops the App whatever the handlers say.
//   - Fatal errors (from any client, task or store) move the App to
//     PendingError as soon as they are known; Run then returns them.
//   - Run and Close are bounded: the shutdown takes at most CloseTimeout
//     (plus the clients' own close), and Run returns after every goroutine
//     it started is gone, except a processor call that never returns (its
//     task is given up on and closes when the call returns) and a consumer
//     confluent-kafka-go v2.11.1 cannot close after a fatal error. Close is
//     idempotent.
//
// Layout: thread.go runs the poll loop (Kafka Streams' StreamThread),
// fetch.go hands fetched records to tasks, tasks.go owns the tasks'
// lifecycle (TaskManager), runner.go is a task's goroutine, commit.go the
// commit barrier, txn.go exactly-once recovery, restorer.go and global.go
// restoration, watch.go the source-topic check, clients.go every Kafka
// client's configuration, producer.go and collector.go the write path.
package streams
