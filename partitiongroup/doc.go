// Package partitiongroup buffers a task's input partitions and decides which
// record the task processes next.
//
// Each input partition has a RecordQueue of raw records, appended in batches.
// Only a queue's head record is deserialized and timestamped (through the
// source's Head), so the group compares real event times: Next hands out the
// head with the smallest timestamp; ties go to the earlier-registered topic,
// then the lower partition, so runs are reproducible. Records of one
// partition always leave in offset order.
//
// Times:
//   - Partition time is the largest timestamp taken from a partition;
//     stream time is the largest timestamp taken from the group. Both are
//     record.UnknownTime until the first record, and only move forward. A
//     record older than stream time is still handed out; its lateness
//     (stream time minus its timestamp) is measured.
//   - Partition times can be seeded from committed metadata
//     (SetPartitionTime); stream time then starts at their maximum.
//   - Every timestamp up to math.MaxInt64 is valid. Lateness is exact (the
//     stream time exceeds the late record's non-negative timestamp, so the
//     difference fits); the LatenessSum counter saturates at math.MaxInt64
//     rather than wrapping negative.
//
// Skips (each logged at warn level and counted in Stats, never silent):
//   - a record that does not deserialize, when the DeserializationHandler
//     answers Continue (with Fail, the error stops the task); the dead
//     letters it answers with are written first (Config.DeadLetters);
//   - a record whose extracted timestamp is negative.
//
// Skipped records still advance the partition's committable offset.
//
// Readiness (Ready), following Millrace's design brief rather than Kafka
// Streams 3.x, whose KIP-695 idles on caught-up partitions instead:
//   - a group with nothing buffered is not ready;
//   - with a negative MaxTaskIdle the group is ready whenever anything is
//     buffered;
//   - otherwise every empty partition must be known to be caught up (lag 0,
//     see SetLag) or must have waited MaxTaskIdle of wall-clock time since
//     it was first seen empty; processing past such a deadline is "enforced
//     processing" and counted per record. The deadline (now + MaxTaskIdle,
//     for any MaxTaskIdle up to the largest time.Duration) saturates at
//     math.MaxInt64 ms, so a clock near the end of int64 time waits until
//     math.MaxInt64 instead of wrapping into the past and not waiting.
//
// A PartitionGroup belongs to its task's goroutine; only Stats may be read
// from other goroutines.
package partitiongroup
