// Package rdkbatch consumes and produces Kafka records in batches, one cgo
// call per batch, through the librdkafka client that a confluent-kafka-go
// v2.11.x Consumer or Producer already owns. confluent-kafka-go's Poll
// hands over one message per cgo call with about eight allocations; a
// Reader hands over up to len(buf) messages per call with none, and a
// Writer takes a batch of records per call.
//
// # Reaching the wrapper's client
//
// The C code here declares the few librdkafka functions it uses
// (rdkbatch.h) and links nothing itself: the final link resolves them from
// the static archive that confluent-kafka-go's package links, so there is
// one copy of librdkafka and of its global state in the binary. The
// *rd_kafka_t is read from the wrapper's unexported field
// Consumer.handle.rk (Producer.handle.rk) through unsafe, after reflection
// has checked, once, that the field exists at that place with cgo's type
// struct rd_kafka_s; New and NewWriter then check that librdkafka is 2.11+
// and that the client found has the expected type and the name the
// wrapper cached for it. A wrapper whose layout changed makes them fail
// with an error that says so; nothing is read blindly.
//
// # Why not the batch API on the consumer queue
//
// rd_kafka_consume_batch_queue serves every non-message op it meets
// itself. The wrapper asks librdkafka for rebalances as events and sets no
// rebalance callback, so a rebalance op met by the batch call makes
// librdkafka "assign nothing" in place of the application
// (rd_kafka_poll_cb: no rebalance_cb, forced rd_kafka_assign(rk, NULL)):
// the application's rebalance callback never runs and an assignment turns
// into an unassignment. Errors would be logged instead of returned. That
// route is unsound, so the Reader never batch-reads the consumer queue.
//
// # How the Reader works
//
// The Reader owns a librdkafka queue. Add forwards each partition's fetch
// queue to it (rd_kafka_queue_forward); everything else (rebalances,
// errors, statistics, commit results, and messages of partitions never
// added) stays on the consumer queue, which the application keeps serving
// with c.Poll, so the wrapper's rebalance handling is untouched. The
// invariants:
//
//   - Positions and stored offsets move exactly as under Poll: librdkafka's
//     batch call sets each partition's application position (and, with
//     enable.auto.offset.store, its stored offset) past the last message it
//     returns, skips control records and moves past them, and drops
//     outdated messages (fetched before a seek, pause or revoke; a seek's
//     barrier also purges them from the batch being built). Every message
//     the C side takes from librdkafka is handed to Go in the same Read, so
//     the position never runs ahead of what the caller got.
//   - A stopped fetcher (revocation, or an Assign that replaces the
//     assignment) clears its fetch queue's forwarding, and librdkafka never
//     forwards a queue that an application forwarded back to the consumer
//     queue by itself (rdkafka.h, rd_kafka_queue_forward). So the Reader
//     sets every route again before each batch; without that, partitions
//     revoked and assigned again would never deliver another record (the
//     rebalance test fails that way). Setting a route that is in place only
//     swaps a reference.
//   - Add must come before the partitions are assigned (Add, then Assign,
//     in the rebalance callback): a partition already fetching would have
//     older messages on the consumer queue and newer ones on the Reader's.
//   - Read blocks on an eventfd that librdkafka writes when either queue
//     goes from empty to non-empty (rd_kafka_queue_io_event_enable), so a
//     rebalance or error on the consumer queue cuts a Read's wait short and
//     c.Poll(0) after it serves it as promptly as a Poll loop would.
//     Polling the Reader's queue counts as a consumer poll for
//     max.poll.interval.ms.
//   - Pause, Resume, Seek, Commit, CommitOffsets, Assign and Unassign are
//     the wrapper's, unchanged: they act on the client, not on a queue.
//   - A per-partition consumer error arrives as a Message with Err set
//     (under Poll the wrapper returns it as a kafka.Error event).
//   - The Reader is for the life of the consumer, used from the goroutine
//     that polls it, and closed right before it. Close routes the partitions
//     and whatever the Reader's queue holds back to the consumer queue, in
//     order, but a partition that later stops and restarts would not be
//     routed anywhere; and Close keeps its emptied queue (a few hundred
//     bytes) forwarded there instead of destroying it, because a broker
//     thread may still be enqueueing into it, and destroying a forwarded
//     queue purges the queue it points to.
//
// Keys, values and headers are copied from librdkafka into an arena: by
// default one reused arena, valid until the next Read (no allocation per
// Read in steady state); with Config.Retain a fresh arena per Read (one
// allocation per Read, two with headers), which the caller may keep.
//
// # The Writer
//
// Append copies a record into the Writer's arena (AddHeader adds headers
// to it, with string keys), and Flush gives every pending record, in one
// cgo call, to rd_kafka_producev with RD_KAFKA_MSG_F_COPY and no opaque.
// The wrapper's producer therefore sees them as records produced with
// p.Produce(m, nil): their delivery reports come on p.Events(), Flush and
// Len count them, and they belong to the producer's open transaction.
// Flush stops at the first record librdkafka refuses: Peek shows it, and
// the caller flushes again (a full queue) or drops it with Skip. Topics go
// to librdkafka by name, so the Writer holds no librdkafka object and may
// be closed before or after its producer. Write(msgs) is Append and Flush
// in one. Append, AddHeader and Flush allocate nothing once the arena has
// grown (TestAppendAndFlushAllocateNothingInSteadyState). What remains per
// record is the wrapper's delivery report path (a *kafka.Message and its
// topic and epoch, about four allocations, a channel send), which no
// public API lets us batch.
//
// # The own Producer
//
// The Writer's records still cost the wrapper's delivery-report path
// (eventPoll: a *kafka.Message per record, a channel send, their garbage).
// A Producer is a librdkafka producer client of this package's own
// (rd_kafka_new from a string map), so nothing of the wrapper runs for
// it. Its invariants:
//
//   - Event mode (RD_KAFKA_EVENT_DR | ERROR, logs to the main queue), the
//     wrapper's own choice, not a dr_msg_cb: with a callback,
//     rd_kafka_flush, which rd_kafka_commit_transaction also calls,
//     serves delivery reports on the caller's thread, concurrently with
//     the poller's. In event mode it waits for the poller instead, so one
//     goroutine (one cgo call per poll, at most 64 events, one lock per
//     poll) is the only one that ever handles a report.
//   - A successful delivery is counted and raises its partition's highest
//     offset in a C hash table (Delivered, Offset); nothing reaches Go.
//     A failure is copied (topic, partition, key, value, headers,
//     timestamp, error) into a list that TakeFailures empties. Records
//     produced with an opaque at or above TrackedOpaque (Produce) report
//     an Ack instead and count nowhere else. Client errors (TakeErrors)
//     and log lines (ProducerConfig.Log, from the poll goroutine) come
//     off the same queue. ProducerConfig.Notify says a poll had news.
//   - A Writer made by NewProducerWriter produces through the same C as
//     for the wrapper. Every call into the client is admitted by an
//     atomic count that Close waits for (one per Flush, not per record);
//     once Close has begun a call fails with ErrProducerClosed, so
//     Writers close before or after the Producer.
//   - Transactions: InitTransactions, BeginTransaction,
//     SendOffsetsToTransaction (with rd_kafka_consumer_group_metadata of
//     the consumer's own client, reached as the Reader reaches it),
//     CommitTransaction, AbortTransaction return a *TxnError with
//     kafka.Error's predicates (IsFatal, IsRetriable, TxnRequiresAbort).
//
// go test -run '^$' -bench ProduceBatches -benchtime 1000000x -count 3
// ./internal/rdkbatch/ (batches of 1024 through a Writer, idempotent,
// linger.ms 5, every report served; child-process broker, 2 cores, load
// average 2, shared with other work): wrapper 251-359 k rec/s, 1.9-2.3
// µs CPU and 4 allocations per record; own 306-498 k rec/s, 1.4-2.2 µs
// and 0 allocations. Medians: 1.95x the records/s at 0.69x the CPU.
//
// # Measured
//
// go test -run '^$' -bench . -benchtime 1000000x -count 3 ./internal/rdkbatch/
// consumes 1,000,000 preloaded records (100-byte values, 4 partitions) from
// the embedded broker (kfake) running in a child process, so allocations
// and CPU are the client's alone. Medians of 3 on a 2-core machine under
// load average 6-10 from other work (the ranges are wide; the per-record
// CPU and allocations are the steadier figures):
//
//	                        rec/s     client CPU/rec  allocs/rec
//	consume  poll (default)   119 k      1.74 µs          8
//	consume  poll (tuned)     406 k      1.70 µs          8
//	consume  Reader         1,215 k      0.25 µs          0    3.0x tuned poll
//	pass     poll (default)   113 k      4.23 µs         14
//	pass     poll (tuned)     133 k      4.97 µs         14
//	pass     Reader+Produce   199 k      3.09 µs          6    1.49x
//	pass     Reader+Writer    269 k      2.68 µs          4    2.02x
//	produce  only (Produce)   265 k      2.36 µs          6
//
// "Tuned" is fetch.queue.backoff.ms=1, queued.min.messages=200000,
// queued.max.messages.kbytes=262144, fetch.wait.max.ms=10, used by every
// variant but "default": with the default one-second backoff a fast loop
// drains a partition's queue and then waits. The pass-through produces
// each record to a 4-partition topic (murmur2_random, linger.ms=5,
// idempotence, every delivery report read, stored positions committed
// every 100 ms) and stops when all are acknowledged. Production is its
// ceiling: with per-record Produce, a pass-through on the Reader runs at
// about what production alone reaches (an earlier, quieter run of the same
// code: Reader+Produce 371 k rec/s, 2.2x the tuned Poll loop's 167 k,
// production alone 366 k). The Writer takes two allocations and about
// 0.4 µs of CPU off each record; the wrapper's delivery-report path is
// most of what is left.
//
// # Integrating it into streams
//
// The App's main consumer reads through a Reader as described here
// (streams/thread.go read, streams/fetch.go batched), and each task's
// collector produces through a Writer (streams/collector.go: flushed at
// the end of each step of the task, in a commit before the task answers,
// at close, and at 1024 records or 1 MiB). The restore consumer
// (streams/restoreread.go) and the global stores' consumer
// (streams/global.go) read through Readers too.
//
// In the thread's poll loop (streams/thread.go, loop), Read replaces the
// blocking Poll(20): n, err := reader.Read(20ms, batch); hand the n
// messages to the fetcher (fetcher.message takes a Message in place of a
// *kafka.Message: same topic-partition lookup, same drop of a revoked
// partition's records, ConsumerRecord built from the Message, headers
// converted to record.Headers only when present); then serve c.Poll(0)
// until it returns nil or 4096 events, as now, still handing any
// *kafka.Message it returns to the fetcher (partitions not added). Records
// are handed to tasks asynchronously, so the App reads with Config.Retain
// (one arena per Read, released when the tasks drop the records; a
// processor that keeps a value keeps its arena, at most one batch) and
// Config.Headers. A Message with Err goes where a kafka.Error goes in
// thread.handle today (a warning; unknown topic or partition alerts the
// source watch).
//
// In the rebalance callback, reader.Add(e.Partitions) comes before
// c.Assign(e.Partitions); revocation needs nothing (Unassign stops the
// fetchers; what the Reader's queue still holds of them is outdated and
// dropped, and records handed out just before are dropped by the
// fetcher's ownership check as today). The re-Assign after an aborted
// transaction (txn.go) needs nothing either: the partitions are added
// already and their routes are set again before the next batch. Pausing
// and resuming (fetcher.pauseResume) and the commits (CommitOffsets of the
// processed offsets, or the transaction's) are unchanged. The App closes
// the Reader right before closing the consumer. The restore and global
// consumers (assign only) can use a Reader the same way, Add before
// IncrementalAssign.
//
// For sinks, each task's collector has its own Writer (a Writer is not
// safe for concurrent use; librdkafka's produce is). A record's bytes are
// copied when the task sends it; the batch reaches the producer only
// through the collector's gate, so a commit counts exactly what was
// flushed. Records near message.max.bytes are produced on their own after
// the batch, so the usual refusal (too large) reaches the production
// handler while its source record is processed; other refusals reach it
// at the flush, with the task's error context at that time. Delivery
// reports, the production handler and the changelog offsets read from
// them stay as they were.
//
// Goka's count scenario lives in bench/ and needs the App integrated; it is
// not measured here.
package rdkbatch
