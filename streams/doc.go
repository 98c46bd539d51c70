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
//     of its records until the task drained half of them, and every
//     partition holding records while all of them hold more than
//     Config.InputBufferMaxBytes until they drained to half of it.
//   - Commits are a barrier: every task stops between two records, flushes
//     its caches and stores (writing their changelogs) and reports its
//     offsets; then the producer's outputs are acknowledged and the offsets
//     committed with each partition's time as metadata (at-least-once), or
//     outputs, changelog writes and offsets commit in one transaction
//     (ExactlyOnceV2); then the tasks resume.
//   - A task processes only after its logged stores are restored up to the
//     end offsets of their changelogs; global stores are restored in full
//     before any task starts.
//   - A store whose changelog is its table's source topic
//     (store.SourceChangelog) has no changelog topic and logs nothing; it
//     is restored from the task's partition of that topic, from its
//     checkpoint (or the start) up to the group's committed offset of the
//     partition, never further: the records after it are processed again,
//     and the processor must not see them in the store first. Its
//     checkpoint is the committed offset at the last commit. With nothing
//     committed it restores nothing; processing starts where
//     auto.offset.reset puts it (earliest unless ConsumerConfig sets
//     "latest", in which case the table holds only the records produced
//     after the first start, as in Kafka Streams). A checkpoint past the
//     committed offset (a failed offset commit, a reset of the group's
//     offsets) wipes the store, which is then restored from the start.
//   - Internal topics (processor.InternalTopic, the DSL's repartition
//     topics) are created at start with the changelogs, named
//     <application-id>-<name>. A count left 0 is derived as Kafka Streams
//     derives it: the count of the topics the reading sub-topology is
//     co-partitioned with, if it reads external topics or internal ones
//     with a fixed count; otherwise the largest count among the inputs of
//     the sub-topologies writing it (resolved in dependency order; a cycle
//     without a fixed count is ErrInternalTopicPartitions). Fixed counts
//     that break co-partitioning are ErrCoPartitioning; an existing
//     internal topic of another count is ErrInternalTopic.
//   - Records of internal topics declared with Purge are deleted below the
//     group's committed offsets (under ExactlyOnceV2, those of committed
//     transactions) every RepartitionPurgeInterval, by a goroutine of the
//     App's that makes the admin calls, so neither the poll loop nor a task
//     waits for them; a failed purge is logged, counted and retried.
//   - A commit never waits on a task stuck inside one processor call: it
//     waits a second, then goes on without it, holding the task's sends at
//     its collector's gate while the commit runs; the task joins the next
//     commit once it answers. Under ExactlyOnceV2 the instance's commit is
//     one transaction, so a task that wrote into it is waited for. A task
//     inside one call past TaskTimeout fails the App with ErrTaskStuck.
//   - A task's records reach the producer in batches: its collector copies
//     each into a pending batch, handed to librdkafka in one call, through
//     the collector's gate, at the end of each chunk of records and
//     punctuations, in a commit before the task reports its offsets, at
//     close, and at 1024 records or 1 MiB. A record near message.max.bytes
//     goes out at once, after the batch. Until its batch is flushed a
//     record is not sent: no commit counts it, so output stays in order and
//     exactly once, and a task stuck with output still in its batch holds
//     no transaction. If the client is not one internal/rdkbatch knows,
//     each record is produced with its own call (logged at start).
//   - The App's producer is Millrace's own client
//     (internal/rdkbatch.Producer), not confluent-kafka-go's (which an
//     unexported Config switch still selects: the bench's +wrapper rows,
//     MILLRACE_WRAPPER_PRODUCER=1 in the tests): its
//     delivery reports are counted in C and only failures, errors and
//     log lines reach Go, in batches (own.go). Flushes, changelog offsets,
//     the production handler, dead letters and transactions keep the
//     wrapper's semantics: a failure goes through the same code as the
//     wrapper's report of it.
//   - A task closed, or given up on (past CloseTimeout), can reach no
//     output: its processors' Context is cancelled, Forward fails, and its
//     collector refuses every send before the runtime moves on (the send
//     counter and the gate are both sequentially consistent atomics, so no
//     send slips past the check).
//   - No record is dropped silently: deserialization, processing and
//     production failures go to their handlers (fail by default), every skip
//     is logged and counted in the metrics, and a changelog write that fails
//     stops the App whatever the handlers say.
//   - Metrics cost the per-record path nothing shared: tasks count into
//     their own memory and publish once per chunk of records; App.Metrics
//     computes a snapshot from that when asked, and hooks (Config.Hooks,
//     found once by New) hear of chunks, punctuations, commits,
//     rebalances, state changes and restorations. The package imports no
//     metrics library; metrics/prometheus is one user of both.
//   - Fatal errors (from any client, task or store) move the App to
//     PendingError as soon as they are known; Run then returns them.
//   - Run and Close are bounded: the shutdown takes at most CloseTimeout
//     (plus the clients' own close), and Run returns after every goroutine
//     it started is gone, except a processor call that never returns (its
//     task is given up on and closes when the call returns) and a consumer
//     confluent-kafka-go v2.11.1 cannot close after a fatal error. Close is
//     idempotent.
//   - Interactive queries (KeyValueStore, TimestampedKeyValueStore,
//     WindowStore, TimestampedWindowStore, SessionStore, by store name)
//     read the stores of the tasks running here (restored), or a global
//     store, while the App is Running or Rebalancing. What is asked is
//     checked against the topology first (name, kind, key and value
//     types), so those errors are the same on every instance and in every
//     state; then ErrStoreNotReady (rebalancing, restoring: retry) or
//     ErrStoreNotLocal (held elsewhere) say why a store cannot be served.
//   - Instance metadata (Config.ApplicationServer, MetadataForKey,
//     MetadataForStore, AllMetadata): librdkafka's assignment carries no
//     user data, so instances announce themselves on a compacted
//     one-partition topic, <application-id>-instance-metadata, created at
//     start. After each assignment an instance writes a claim keyed by its
//     endpoint: its tasks and, per store, the partitions it holds; a clean
//     close writes a tombstone. Every instance with an ApplicationServer
//     reads the topic from the start with an assign-only consumer; for each
//     partition the claim written last wins, so a killed instance's claim
//     (never deleted) loses each partition once its new owner announces
//     it. Metadata is eventually current: right after a rebalance a lookup
//     may name the previous owner, which answers ErrStoreNotLocal or
//     ErrStoreNotReady (Kafka Streams has the same window); a client
//     retries. Lookups fail with ErrMetadataNotReady until the instance
//     has read the topic to the end it had at start. A key's partition is
//     the default partitioner's (murmur2 of the serialized key, as the
//     App's sinks and Java clients place keys), unless a partitioner is
//     given. Instance metadata names no standby replicas yet.
//   - Standby tasks (Config.StandbyReplicas; standby.go): a standby holds a
//     task's persistent logged stores under the task directory's lock (so
//     never together with the active task), runs no processors, and is fed
//     by the restorer from the changelogs (read_committed under
//     exactly-once), paused while any active task restores. It checkpoints
//     (stores flushed first) every checkpointDelta offsets on the commit
//     tick and at a clean close; its checkpoint stays valid under
//     exactly-once. A task assigned here closes its standby cleanly first,
//     so it restores only what the standby had not applied. Placement:
//     StandbyAll keeps every task's standby on every instance; k > 0 is not
//     placed yet.
//
// Layout: thread.go runs the poll loop (Kafka Streams' StreamThread),
// fetch.go hands fetched records to tasks, tasks.go owns the tasks'
// lifecycle (TaskManager), runner.go is a task's goroutine, commit.go the
// commit barrier, txn.go exactly-once recovery, restorer.go (with
// restoreread.go, its read path, and standbyfeed.go, its standby side) and global.go restoration,
// standby.go standby tasks, watch.go the source-topic check, internal.go the internal
// topics' partition counts, purge.go their purge, clients.go every Kafka
// client's configuration, producer.go, own.go and collector.go the write path,
// query.go, windowquery.go and storeshape.go interactive queries,
// instancemeta.go, metaview.go, metadataforkey.go and hostinfo.go instance
// metadata, querystate.go what the runtime tells both.
// hooks.go the hook interfaces, metrics.go and snapshot.go App.Metrics,
// progress.go the restoration progress line.
package streams
