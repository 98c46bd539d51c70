// Package store holds Millrace's state stores: the interfaces processors use
// (KeyValueStore and its iterators), the byte-level stores underneath, the
// typed façade that converts between them with serdes, and the builders a
// topology registers so every task gets its own fresh store.
//
// Invariants:
//   - Every typed store is a thin façade over a byte store; ordering is by the
//     serialized key bytes (unsigned, lexicographic), so every backend
//     iterates in the same order.
//   - A null key (a key whose serializer returns nil) is rejected with an
//     error wrapping ErrNullKey, never a panic.
//   - Putting a null value (a value whose serializer returns nil) deletes the
//     key, as in Kafka Streams.
//   - Iterators see a snapshot of the keys in range when they are created,
//     must be closed, and are used by one goroutine.
//   - A store instance belongs to one task and is used from that task's
//     goroutine only, unless its documentation says otherwise.
//   - Byte stores copy keys and values they keep; callers may reuse their
//     buffers after a call returns. Slices a byte store returns must not be
//     modified.
//
// Time arithmetic in window and session stores is safe for every int64
// time (window starts and session ends may be anything from math.MinInt64
// to math.MaxInt64) and every retention up to the largest time.Duration:
//   - A window's End is Start + window size clamped at math.MaxInt64: a
//     window starting in the last size ms of time ends there (saturation
//     keeps its meaning: no later time exists).
//   - Retention bounds (observed time - retention) are clamped, so a
//     retention longer than the observed time keeps everything.
//   - Segment ids are floor(time / interval) and stay exact at both ends;
//     a segment's start, id·interval, is clamped at math.MinInt64 for the
//     segment holding math.MinInt64 (unless the interval divides 2^63), and
//     that clamped start is also the segment's name, so a persistent store
//     finds it again when it reopens. Loops over segment ids stop at the
//     last id instead of stepping past it, so a range ending at
//     math.MaxInt64 terminates.
package store
