// Package record holds the values that flow through a Millrace topology: the
// typed Record, its Headers, the raw ConsumerRecord read from Kafka, the Serde
// contract that turns one into the other, and the TimestampExtractor that
// gives a consumed record its event time.
//
// Invariants:
//   - A Record's timestamp is never negative: New and WithTimestamp reject a
//     negative timestamp with ErrNegativeTimestamp, and the zero Record has
//     timestamp 0.
//   - A Record is a value. Forwarding it hands each child its own copy, and the
//     With* helpers return changed copies, so a forwarded record is never
//     modified behind the receiver's back. Headers are copied on change too.
//   - Null is a property of the record, not of the Go type: KeyIsNull and
//     ValueIsNull tell a null key from an empty one even for string keys.
//     Null bytes read from Kafka become a null key or value without calling
//     the deserializer, and a null key or value is written as null bytes
//     without calling the serializer. Serializers that return a nil slice
//     write null as well (the built-in Bytes serde does so for a nil slice).
//   - Timestamps are milliseconds since the Unix epoch; every int64 from 0 to
//     math.MaxInt64 is a valid one. Code that adds a duration to a timestamp
//     (a window end, a deadline, a grid point) uses SaturatingAdd and
//     SaturatingSub, which clamp at the int64 bounds instead of wrapping
//     into the past; each package documents what a clamped time means there.
package record
