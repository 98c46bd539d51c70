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
//   - Emit final (AggregateFinal, CountFinal, ReduceFinal: Kafka Streams'
//     EmitStrategy.onWindowClose) forwards each time window once, when it
//     closes, from the window store itself: no suppression buffer;
//     AggregateSlidingFinal, CountSlidingFinal and ReduceSlidingFinal do
//     the same for sliding windows, AggregateSessionsFinal,
//     CountSessionsFinal and ReduceSessionsFinal for sessions (both closed
//     once stream time > end + grace; merged-away sessions are never
//     emitted). Its
//     watermark (the last window emitted) lives in a changelogged store, so
//     restarts neither repeat nor skip a window.
//   - The two halves of a windowed computation cannot silently disagree:
//     an aggregation fails Init when its store was built for another window
//     size or a retention under size + grace, and a window suppression
//     stops the App when an update arrives for a window it already closed
//     (the windows upstream have more grace than it was given). Both wrap
//     ErrWindowMismatch. The store helpers derive everything from the
//     window definition.
//   - Stream-stream joins buffer both sides in window stores that keep
//     duplicates; every pair within the join window joins, the output
//     timestamp is the larger of the two, and left/outer results for
//     unmatched records are emitted only once their window has closed.
//
// Time runs out at math.MaxInt64: every timestamp from 0 to math.MaxInt64 is
// valid, durations go up to the largest time.Duration, and no time
// computation here wraps around (a wrapped end, close time or bound lands
// in the distant past: windows that never end, "late" records, unmatched
// join results emitted at once). Per computation:
//   - Window ends saturate: a time window starting in the last size ms
//     before math.MaxInt64 ends at math.MaxInt64 (End, and Windowed.End as
//     forwarded and as TimeWindowedSerde reads it back); sliding windows
//     likewise. Saturation keeps the meaning, as no later time exists, and
//     the close rule (end + grace <= stream time) applies to the clamped
//     end. Normal timestamps are unaffected.
//   - A record at math.MaxInt64 fits in no time window: every window that
//     would hold it ends past math.MaxInt64, and the end is exclusive.
//     Aggregate, Count and Reduce drop it, log it at warn level and count
//     it as DropTimestampOutOfRange ("window-timestamp-out-of-range").
//     StartsFor returns no start for it. Session and sliding windows are
//     inclusive at both ends and do hold it.
//   - Search bounds saturate: a session's merge range ts ± gap, a join's
//     range of the other side [ts - before, ts + after], a sliding window's
//     fetch up to ts + 1 (a record at math.MaxInt64 has no right window).
//   - Close times saturate: a join window whose close time ts + lookahead +
//     grace is past math.MaxInt64 never closes, so its unmatched result
//     waits like any other; comparisons that a clamp would make one-sided
//     are written the other way round (start <= t - size, not start + size
//     <= t).
//   - Suppression due times do not saturate: a window that would close past
//     math.MaxInt64 never closes, so no final result of it can come out,
//     and a clamped due time would emit one at stream time math.MaxInt64,
//     and again for every later update. Suppression drops such an update,
//     logs it at warn level and counts it as DropSuppressionDueOutOfRange
//     ("suppression-due-out-of-range"); an update due exactly at
//     math.MaxInt64 is buffered and emitted then. UntilTimeLimit follows
//     the same rule.
//   - Retentions (size + grace, and the like) saturate at the largest
//     time.Duration instead of wrapping into a negative retention.
package window
