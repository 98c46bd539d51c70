package streams

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// Committed offsets carry the partition time as metadata, in Kafka Streams'
// format (version byte 1, then the time as a big-endian int64, base64), so
// stream time survives restarts and moves with the task.
const metadataVersion = 1

func encodePartitionTime(t int64) string {
	var b [9]byte
	b[0] = metadataVersion
	binary.BigEndian.PutUint64(b[1:], uint64(t))
	return base64.StdEncoding.EncodeToString(b[:])
}

var errBadMetadata = errors.New("streams: commit metadata is not a Millrace/Kafka Streams partition time")

// decodePartitionTime reads commit metadata; ok is false for empty metadata.
func decodePartitionTime(s string) (int64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || b[0] < 1 || b[0] > 2 {
		return 0, false, errBadMetadata
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), true, nil
}
