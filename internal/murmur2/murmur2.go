// Package murmur2 is the key hash Kafka's clients partition with: the
// 32-bit MurmurHash2 of the Java client's Utils.murmur2 (seed 0x9747b28c),
// librdkafka's rd_murmur2 and its murmur2_random partitioner. It costs one
// pass over the key and allocates nothing.
package murmur2

// Hash returns the 32-bit MurmurHash2 of data, as Kafka's Java client
// computes it.
func Hash(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Positive is Hash with the sign bit cleared (the Java client's
// Utils.toPositive), never negative.
func Positive(data []byte) int32 { return int32(uint32(Hash(data)) & 0x7fffffff) }

// Partition is the partition Kafka's default partitioner gives a non-null
// key among numPartitions (> 0): Positive(key) modulo the count.
func Partition(key []byte, numPartitions int32) int32 { return Positive(key) % numPartitions }
