// Package window holds Millrace's ready-made windowed processors: window
// definitions, windowed aggregations (count, reduce, aggregate) over time,
// session and sliding windows, suppression of intermediate results,
// stream-stream joins within join windows, and stream-table lookups.
//
// Everything here is built only on the public Processor API (processor) and
// the stores (store): a user could have written it.
//
// Semantics follow Kafka Streams:
//   - Time windows are aligned to the epoch; a window covers [start, end):
//     start inclusive, end exclusive. Tumbling windows have advance = size.
//   - Grace is never implied: every window definition takes it explicitly
//     (zero is "no grace"). A record whose window has closed — window end +
//     grace <= stream time — is dropped, logged at debug level and counted
//     as "late" (Context.Dropped). Session windows are inclusive at both
//     ends and close once end + grace < stream time, as in Kafka Streams.
//   - Stateful processors drop records with a null key, counted as
//     "null-key" and logged.
//   - Aggregations refine continuously: every update is forwarded as a
//     Change holding the new and the old aggregate. When the store is cached
//     (the default of the store helpers), updates of one window between
//     commits are compacted and forwarded once, when the cache flushes.
//   - Session merges forward a tombstone (a Change with no new value) for
//     each session merged away.
//   - Suppression emits final results: one per window, once the stream time
//     it has seen (the largest timestamp reaching it, as in Kafka Streams;
//     the task's may be ahead of what upstream caches still hold) reaches
//     window end + grace, never before; its buffer is a changelogged store,
//     so a restart neither loses nor repeats a final result.
//   - Stream-stream joins buffer both sides in window stores that keep
//     duplicates; every pair within the join window joins, the output
//     timestamp is the larger of the two, and left/outer results for
//     unmatched records are emitted only once their window has closed.
package window
