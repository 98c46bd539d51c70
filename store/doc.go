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
package store
