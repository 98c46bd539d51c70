package store

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// Composite keys of window and session stores. The user key is escaped so
// that byte order of the composite equals (key bytes, then time): each 0x00
// becomes 0x00 0xFF and the key ends with 0x00 0x00, which sorts before any
// continuation. Times are 8 bytes big-endian with the sign bit flipped, so
// negative times order correctly too.

var errBadCompositeKey = errors.New("store: malformed composite key")

const keyTerminatorLen = 2

func appendEscaped(dst, key []byte) []byte {
	// The runs between zero bytes are copied whole: keys rarely hold a
	// zero, so this is one copy per key on the window stores' every read
	// and write.
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return append(append(dst, key...), 0, 0)
		}
		dst = append(append(dst, key[:i]...), 0, 0xFF)
		key = key[i+1:]
	}
}

// splitEscaped decodes the escaped key at the start of c and returns it and
// the rest of c after the terminator.
func splitEscaped(c []byte) (key, rest []byte, err error) {
	key = make([]byte, 0, len(c))
	for i := 0; i < len(c); i++ {
		if c[i] != 0 {
			key = append(key, c[i])
			continue
		}
		if i+1 >= len(c) {
			return nil, nil, errBadCompositeKey
		}
		switch c[i+1] {
		case 0:
			return key, c[i+2:], nil
		case 0xFF:
			key = append(key, 0)
			i++
		default:
			return nil, nil, errBadCompositeKey
		}
	}
	return nil, nil, errBadCompositeKey
}

func appendTime(dst []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t)^(1<<63))
}

func readTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// Window keys: escaped key, window start, sequence number (4 bytes).
const windowSuffixLen = 8 + 4

func windowKey(dst, key []byte, start int64, seq uint32) []byte {
	dst = appendEscaped(dst, key)
	dst = appendTime(dst, start)
	return binary.BigEndian.AppendUint32(dst, seq)
}

// windowKeyBound is the smallest (or, with high, largest) window key of key
// at start.
func windowKeyBound(dst, key []byte, start int64, high bool) []byte {
	seq := uint32(0)
	if high {
		seq = ^uint32(0)
	}
	return windowKey(dst, key, start, seq)
}

// windowStartOf reads the window start of a window key without decoding the
// user key.
func windowStartOf(c []byte) int64 {
	return readTime(c[len(c)-windowSuffixLen:])
}

func parseWindowKey(c []byte) (key []byte, start int64, seq uint32, err error) {
	key, rest, err := splitEscaped(c)
	if err != nil || len(rest) != windowSuffixLen {
		return nil, 0, 0, errBadCompositeKey
	}
	return key, readTime(rest), binary.BigEndian.Uint32(rest[8:]), nil
}

// Session keys: escaped key, session end, session start. Segments go by end.
const sessionSuffixLen = 16

func sessionKey(dst, key []byte, start, end int64) []byte {
	dst = appendEscaped(dst, key)
	dst = appendTime(dst, end)
	return appendTime(dst, start)
}

func sessionEndOf(c []byte) int64 { return readTime(c[len(c)-sessionSuffixLen:]) }

func parseSessionKey(c []byte) (key []byte, start, end int64, err error) {
	key, rest, err := splitEscaped(c)
	if err != nil || len(rest) != sessionSuffixLen {
		return nil, 0, 0, errBadCompositeKey
	}
	return key, readTime(rest[8:]), readTime(rest), nil
}
