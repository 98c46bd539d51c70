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
//   - No call panics: every call on a store before Init fails with
//     ErrNotOpen, and after Close with ErrClosed (a cache refuses writes
//     too, rather than keep them for a flush that cannot happen); a byte
//     key too short for a window or session store's composite layout (say,
//     garbage restored from a changelog) is an error; a store or builder
//     made from nil or zero parts fails its calls; functions that need a
//     store this package built (GlobalView, the flush listeners) say so in
//     an error naming the store and its type.
//   - Putting a null value (a value whose serializer returns nil) deletes the
//     key, as in Kafka Streams.
//   - Batches are all or nothing: PutAll serializes every entry, and every
//     layer's Write checks every key, before anything is written, so a
//     refused batch leaves the store, its cache and its changelog as they
//     were.
//   - Iterators see a snapshot of the keys in range when they are created,
//     must be closed, and are used by one goroutine.
//   - A changelog record carries the timestamp of the write it logs: the
//     record time when the store was written, also when a cache flushes the
//     entry later (each cache entry keeps the time of its last write).
//   - A logged store writes its changelog before its local store, so a
//     write the ChangelogWriter refuses fails with an error wrapping
//     ErrChangelogWrite and leaves the local store as it was: the local
//     store never holds a write its changelog lacks (restoring from the
//     changelog repairs the other way round; nothing would repair this
//     one). A cache keeps refused entries dirty for the next flush.
//   - A store built WithSourceChangelog has no changelog layer: it logs
//     nothing (LoggingEnabled is false), and a runtime restores it from
//     the topic its table is read from, through SourceChangelog.Convert.
//     Restoration writes into RestoreTarget, under every cache and
//     changelog layer, so it logs nothing and forwards nothing through
//     flush listeners.
//   - A store instance belongs to one task and is used from that task's
//     goroutine only, unless its documentation says otherwise. Reads
//     through the read-only views may come from any goroutine; they never
//     flush a cache (only writes and Flush do), so flush listeners run on
//     the task's goroutine only.
//   - A store shares no memory with its callers. Byte stores copy the keys
//     and values they keep, so callers may reuse their buffers after a call
//     returns, and copy what they return (Get, Delete's old value), so
//     callers may write into it. Iterators copy each entry into buffers of
//     their own as Next reaches it: byte-level Key and Value are valid until
//     the next Next. Typed stores decode from a copy when the deserializer
//     may keep references into its input (record.Retains: the Bytes serde),
//     so their values and keys, flush listeners' included, are the
//     caller's; with the other built-in serdes they decode the store's bytes
//     in place, allocating nothing. Stores never write into a slice that
//     anything outside them holds: each write keeps a fresh copy, except
//     that a cache rewrites a dirty entry's own buffer in place while it
//     is the cache's alone (no flush has handed it to the store and the
//     listeners, no Range or PrefixScan snapshot holds it).
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
