package dsl

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/millrace/millrace/record"
)

// The wire formats of the foreign-key join's internal topics and of its
// subscription store. Each starts with a version byte (0), so a later
// format can be told apart; Deserialize rejects versions it does not know.
//
//	subscription (subscription-registration topic value, keyed by the
//	foreign key):
//	  version(1) instruction(1) hash(16) partition(4, big-endian) left-key bytes (the rest)
//	response (subscription-response topic value, keyed by the left key):
//	  version(1) flags(1: 1 = right value present, 2 = hash present) hash(16) partition(4) right-value bytes (the rest)
//	stored subscription (subscription store value):
//	  version(1) hash(16) partition(4)
//	subscription store key (prefix-scannable by foreign key):
//	  length of the foreign-key bytes(4, big-endian) foreign-key bytes left-key bytes
//
// The left key travels as its own serde's bytes and is decoded with the
// same serde (or kept as raw bytes where the right side only passes it
// on), so the right side's sub-topology never needs the left key's type.

const fkWireVersion byte = 0

// fkInstruction says what a subscription asks of the right side.
type fkInstruction byte

const (
	// fkSubscribe stores (or replaces) the subscription of a left key to a
	// foreign key and asks for a response with the right value, present or
	// not (Kafka Streams' PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE, used for
	// every subscription: see JoinByForeignKey).
	fkSubscribe fkInstruction = 1
	// fkUnsubscribe deletes the subscription; no response (Kafka Streams'
	// DELETE_KEY_NO_PROPAGATE).
	fkUnsubscribe fkInstruction = 2
)

const (
	fkHasValue byte = 1 << 0
	fkHasHash  byte = 1 << 1
)

// fkHash is the 128-bit murmur3 hash of a left value's serialized bytes.
type fkHash [16]byte

const fkHashSeed = 104729 // Kafka Streams' Murmur3 default seed

// hashValue returns the hash of a left value's serialized bytes.
func hashValue(data []byte) fkHash {
	h1, h2 := murmur3x64_128(data, fkHashSeed)
	var h fkHash
	binary.LittleEndian.PutUint64(h[:8], h1)
	binary.LittleEndian.PutUint64(h[8:], h2)
	return h
}

// fkSubscription is a left key's (un)subscription to a foreign key: the
// hash of the left value that made it (zero for fkUnsubscribe) and the
// left key's partition, so the response finds its way back.
type fkSubscription[K any] struct {
	instruction fkInstruction
	hash        fkHash
	partition   int32
	key         K
}

const fkSubscriptionHeader = 1 + 1 + 16 + 4

type fkSubscriptionSerde[K any] struct{ keys record.Serde[K] }

func (s fkSubscriptionSerde[K]) Serialize(dst []byte, v fkSubscription[K]) ([]byte, error) {
	dst = append(dst, fkWireVersion, byte(v.instruction))
	dst = append(dst, v.hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.partition))
	out, err := s.keys.Serialize(dst, v.key)
	if err != nil {
		return nil, fmt.Errorf("foreign-key subscription: left key: %w", err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: foreign-key subscription: the left key serialized to null", record.ErrSerde)
	}
	return out, nil
}

func (s fkSubscriptionSerde[K]) Deserialize(data []byte) (v fkSubscription[K], err error) {
	if len(data) < fkSubscriptionHeader {
		return v, fmt.Errorf("%w: foreign-key subscription: %d bytes, want at least %d", record.ErrSerde, len(data), fkSubscriptionHeader)
	}
	if data[0] != fkWireVersion {
		return v, fmt.Errorf("%w: foreign-key subscription: unknown version %d", record.ErrSerde, data[0])
	}
	switch in := fkInstruction(data[1]); in {
	case fkSubscribe, fkUnsubscribe:
		v.instruction = in
	default:
		return v, fmt.Errorf("%w: foreign-key subscription: unknown instruction %d", record.ErrSerde, data[1])
	}
	copy(v.hash[:], data[2:18])
	v.partition = int32(binary.BigEndian.Uint32(data[18:22]))
	defer func() {
		if p := recover(); p != nil {
			v, err = fkSubscription[K]{}, fmt.Errorf("%w: foreign-key subscription: left key deserializer panicked: %v", record.ErrSerde, p)
		}
	}()
	if v.key, err = s.keys.Deserialize(data[fkSubscriptionHeader:]); err != nil {
		return fkSubscription[K]{}, fmt.Errorf("%w: foreign-key subscription: left key: %w", record.ErrSerde, err)
	}
	return v, nil
}

// Retains is the key deserializer's.
func (s fkSubscriptionSerde[K]) Retains() bool { return record.Retains[K](s.keys) }

// fkResponse is the right side's answer to a subscription, or its news of
// a right-side change, for one left key: the hash the subscription carried
// (absent only in the left side's own responses for a deleted left value),
// the right value (absent: the foreign key has none) and the left key's
// partition.
type fkResponse[V any] struct {
	hash      fkHash
	hasHash   bool
	value     V
	hasValue  bool
	partition int32
}

const fkResponseHeader = 1 + 1 + 16 + 4

type fkResponseSerde[V any] struct{ values record.Serde[V] }

func (s fkResponseSerde[V]) Serialize(dst []byte, v fkResponse[V]) ([]byte, error) {
	start := len(dst)
	dst = append(dst, fkWireVersion, 0)
	dst = append(dst, v.hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.partition))
	var flags byte
	if v.hasHash {
		flags |= fkHasHash
	}
	if v.hasValue {
		out, err := s.values.Serialize(dst, v.value)
		if err != nil {
			return nil, fmt.Errorf("foreign-key response: right value: %w", err)
		}
		if out != nil { // a value serializing to null is an absent one
			dst, flags = out, flags|fkHasValue
		}
	}
	dst[start+1] = flags
	return dst, nil
}

func (s fkResponseSerde[V]) Deserialize(data []byte) (v fkResponse[V], err error) {
	if len(data) < fkResponseHeader {
		return v, fmt.Errorf("%w: foreign-key response: %d bytes, want at least %d", record.ErrSerde, len(data), fkResponseHeader)
	}
	if data[0] != fkWireVersion {
		return v, fmt.Errorf("%w: foreign-key response: unknown version %d", record.ErrSerde, data[0])
	}
	flags := data[1]
	if flags&^(fkHasValue|fkHasHash) != 0 {
		return v, fmt.Errorf("%w: foreign-key response: invalid flags %#x", record.ErrSerde, flags)
	}
	copy(v.hash[:], data[2:18])
	v.hasHash = flags&fkHasHash != 0
	v.partition = int32(binary.BigEndian.Uint32(data[18:22]))
	body := data[fkResponseHeader:]
	if flags&fkHasValue == 0 {
		if len(body) != 0 {
			return fkResponse[V]{}, fmt.Errorf("%w: foreign-key response: %d bytes after a response without a value", record.ErrSerde, len(body))
		}
		return v, nil
	}
	defer func() {
		if p := recover(); p != nil {
			v, err = fkResponse[V]{}, fmt.Errorf("%w: foreign-key response: right value deserializer panicked: %v", record.ErrSerde, p)
		}
	}()
	if v.value, err = s.values.Deserialize(body); err != nil {
		return fkResponse[V]{}, fmt.Errorf("%w: foreign-key response: right value: %w", record.ErrSerde, err)
	}
	v.hasValue = true
	return v, nil
}

// Retains is the value deserializer's.
func (s fkResponseSerde[V]) Retains() bool { return record.Retains[V](s.values) }

// fkStored is a subscription as the subscription store keeps it.
type fkStored struct {
	hash      fkHash
	partition int32
}

const fkStoredLen = 1 + 16 + 4

type fkStoredSerde struct{}

func (fkStoredSerde) Serialize(dst []byte, v fkStored) ([]byte, error) {
	dst = append(dst, fkWireVersion)
	dst = append(dst, v.hash[:]...)
	return binary.BigEndian.AppendUint32(dst, uint32(v.partition)), nil
}

func (fkStoredSerde) Deserialize(data []byte) (fkStored, error) {
	if len(data) != fkStoredLen {
		return fkStored{}, fmt.Errorf("%w: foreign-key subscription store: %d bytes, want %d", record.ErrSerde, len(data), fkStoredLen)
	}
	if data[0] != fkWireVersion {
		return fkStored{}, fmt.Errorf("%w: foreign-key subscription store: unknown version %d", record.ErrSerde, data[0])
	}
	var v fkStored
	copy(v.hash[:], data[1:17])
	v.partition = int32(binary.BigEndian.Uint32(data[17:]))
	return v, nil
}

func (fkStoredSerde) Retains() bool { return false }

// fkPrefix appends the subscription store's key prefix of a foreign key:
// every subscription to it, and only those, start with it.
func fkPrefix(dst, foreignKey []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(foreignKey)))
	return append(dst, foreignKey...)
}

// fkLeftKey returns the left-key bytes of a subscription store key.
func fkLeftKey(combined []byte) ([]byte, bool) {
	if len(combined) < 4 {
		return nil, false
	}
	n := uint64(binary.BigEndian.Uint32(combined))
	if n > uint64(len(combined)-4) {
		return nil, false
	}
	return combined[4+n:], true
}

// murmur3x64_128 is MurmurHash3's x64 128-bit variant (Austin Appleby,
// public domain), the hash Kafka Streams' foreign-key join uses.
func murmur3x64_128(data []byte, seed uint64) (uint64, uint64) {
	const c1, c2 = 0x87c37b91114253d5, 0x4cf5ad432745937f
	h1, h2 := seed, seed
	n := len(data)
	for len(data) >= 16 {
		k1 := binary.LittleEndian.Uint64(data)
		k2 := binary.LittleEndian.Uint64(data[8:])
		data = data[16:]
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}
	var k1, k2 uint64
	switch len(data) {
	case 15:
		k2 ^= uint64(data[14]) << 48
		fallthrough
	case 14:
		k2 ^= uint64(data[13]) << 40
		fallthrough
	case 13:
		k2 ^= uint64(data[12]) << 32
		fallthrough
	case 12:
		k2 ^= uint64(data[11]) << 24
		fallthrough
	case 11:
		k2 ^= uint64(data[10]) << 16
		fallthrough
	case 10:
		k2 ^= uint64(data[9]) << 8
		fallthrough
	case 9:
		k2 ^= uint64(data[8])
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		fallthrough
	case 8:
		k1 ^= uint64(data[7]) << 56
		fallthrough
	case 7:
		k1 ^= uint64(data[6]) << 48
		fallthrough
	case 6:
		k1 ^= uint64(data[5]) << 40
		fallthrough
	case 5:
		k1 ^= uint64(data[4]) << 32
		fallthrough
	case 4:
		k1 ^= uint64(data[3]) << 24
		fallthrough
	case 3:
		k1 ^= uint64(data[2]) << 16
		fallthrough
	case 2:
		k1 ^= uint64(data[1]) << 8
		fallthrough
	case 1:
		k1 ^= uint64(data[0])
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
	}
	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1, h2 = fmix64(h1), fmix64(h2)
	h1 += h2
	h2 += h1
	return h1, h2
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
