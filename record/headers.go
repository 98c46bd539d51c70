package record

import (
	"bytes"
	"fmt"
	"strings"
)

// Header is one Kafka record header. Its value may be nil.
type Header struct {
	Key   string
	Value []byte
}

// Headers is an ordered list of headers; a key may appear more than once, as
// in Kafka. The methods that change headers return a new slice and never
// write into the receiver's backing array, so headers shared between
// forwarded records stay unchanged.
type Headers []Header

// Add returns a copy of h with the header appended.
func (h Headers) Add(key string, value []byte) Headers {
	out := make(Headers, len(h), len(h)+1)
	copy(out, h)
	return append(out, Header{Key: key, Value: value})
}

// Remove returns a copy of h without any header named key.
func (h Headers) Remove(key string) Headers {
	out := make(Headers, 0, len(h))
	for _, x := range h {
		if x.Key != key {
			out = append(out, x)
		}
	}
	return out
}

// Last returns the value of the last header named key, as Kafka's
// Headers.lastHeader does.
func (h Headers) Last(key string) ([]byte, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Key == key {
			return h[i].Value, true
		}
	}
	return nil, false
}

// Values returns the values of every header named key, in order.
func (h Headers) Values(key string) [][]byte {
	var out [][]byte
	for _, x := range h {
		if x.Key == key {
			out = append(out, x.Value)
		}
	}
	return out
}

// Clone returns a deep copy of h (values included), or nil for no headers.
func (h Headers) Clone() Headers {
	if len(h) == 0 {
		return nil
	}
	out := make(Headers, len(h))
	for i, x := range h {
		out[i] = Header{Key: x.Key, Value: bytes.Clone(x.Value)}
	}
	return out
}

// Equal reports whether h and o hold the same headers in the same order.
func (h Headers) Equal(o Headers) bool {
	if len(h) != len(o) {
		return false
	}
	for i := range h {
		if h[i].Key != o[i].Key || !bytes.Equal(h[i].Value, o[i].Value) || (h[i].Value == nil) != (o[i].Value == nil) {
			return false
		}
	}
	return true
}

// String formats the headers as [k1=v1, k2=v2].
func (h Headers) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range h {
		if i > 0 {
			b.WriteString(", ")
		}
		if x.Value == nil {
			fmt.Fprintf(&b, "%s=<null>", x.Key)
		} else {
			fmt.Fprintf(&b, "%s=%q", x.Key, x.Value)
		}
	}
	b.WriteByte(']')
	return b.String()
}
