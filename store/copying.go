package store

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/millrace/millrace/record"
)

// What a store holds is never shared with a caller that may write to it:
// byte stores copy what they keep (Put, Write) and copy what they return
// (Get, Delete's old value); iterators copy each entry into buffers of their
// own as Next reaches it, valid until the next Next. The one way around
// those copies is sharedReader, for this package's typed façades, which
// deserialize straight away: they read a stored value without a copy and
// copy it only when their deserializer may keep references into it (see
// decoder).

// sharedReader is implemented by this package's byte stores and layers that
// can hand out a stored value without copying it. getShared says whether
// it did (a layer over a store that copies cannot): a shared slice is the
// store's own, valid until the next write to the store (a cache may
// rewrite a dirty entry's buffer in place; byte stores keep a fresh copy
// per write), so the caller decodes it before writing, must not write into
// it and must not let it reach code that may keep it or write into it: a
// user, or a deserializer that retains its input.
type sharedReader interface {
	getShared(key []byte) (v []byte, ok, shared bool, err error)
}

// getShared reads key from s without a copy where s allows it (see
// sharedReader), else with s's Get, whose result is the caller's (shared
// is false).
func getShared(s KeyValueBytes, key []byte) (v []byte, ok, shared bool, err error) {
	if r, is := s.(sharedReader); is {
		return r.getShared(key)
	}
	v, ok, err = s.Get(key)
	return v, ok, false, err
}

// getDecoded reads key's value from s and decodes it with d, copying at
// most once: shared bytes are copied only if d retains them, and what Get
// returns is the caller's already. A decode error wraps the store's name.
func getDecoded[T any](s KeyValueBytes, key []byte, d decoder[T], c *copies) (T, bool, error) {
	var v T
	b, ok, shared, err := getShared(s, key)
	if err != nil || !ok {
		return v, false, err
	}
	if shared {
		v, err = d.decode(b, c)
	} else {
		v, err = d.decodeOwned(b)
	}
	if err != nil {
		return v, false, fmt.Errorf("store %q: deserialize value: %w", s.Name(), err)
	}
	return v, true, nil
}

// sharedIterator is implemented by this package's iterators that can show
// their current entry as the store holds it, without a copy (see
// sharedReader): for typed iterators, which decode it at once (from a copy
// only if the deserializer retains), and for merging. The slices are valid
// until Next and must not be written into.
type sharedIterator interface {
	sharedKey() []byte
	sharedValue() []byte
}

// currentEntry is it's current entry, shared where it allows (see
// sharedIterator), else its Key and Value.
func currentEntry(it Iterator[[]byte, []byte]) (key, value []byte) {
	if s, ok := it.(sharedIterator); ok {
		return s.sharedKey(), s.sharedValue()
	}
	return it.Key(), it.Value()
}

// stringBytes views an unchanging string as bytes, for a shared read; an
// empty string gives an empty, non-nil slice (a present empty key).
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// copyInto copies src into buf's storage and returns it: never nil, so an
// empty key or value stays present (non-nil).
func copyInto[S ~string | ~[]byte](buf []byte, src S) []byte {
	if buf == nil {
		buf = make([]byte, 0, max(len(src), 32))
	}
	return append(buf[:0], src...)
}

// decoder deserializes bytes that a store holds or that an iterator reuses.
// It copies them first when the deserializer may keep references into its
// input (record.Retains: the Bytes serde, and any deserializer that does
// not say), so a decoded value never shares memory with a store; with the
// built-in copying serdes it decodes in place and allocates nothing.
type decoder[T any] struct {
	d       record.Deserializer[T]
	retains bool
}

func newDecoder[T any](d record.Deserializer[T]) decoder[T] {
	return decoder[T]{d: d, retains: d == nil || record.Retains(d)}
}

// decode deserializes b, which the caller does not own; a copy for a
// retaining deserializer comes from c.
func (d decoder[T]) decode(b []byte, c *copies) (T, error) {
	if d.retains && b != nil {
		b = c.of(b)
	}
	return d.d.Deserialize(b)
}

// decodeOwned deserializes b, a fresh slice nobody else uses.
func (d decoder[T]) decodeOwned(b []byte) (T, error) { return d.d.Deserialize(b) }

// copyChunk is the size of the chunks copies carves small copies from.
const copyChunk = 4 << 10

// copies makes the copies a retaining deserializer gets. Small ones are
// carved from a chunk shared with the copies before them, each capped at
// its length (an append to one reallocates rather than write into the
// next), so decoding many small values costs one allocation per 4 KiB
// instead of one per value; a copy kept alive keeps its chunk alive. A
// copies belongs to one owner (a façade, an iterator, a flush listener),
// which uses it from one goroutine at a time: never copy one.
type copies struct{ chunk []byte }

// of returns a copy of b that nothing else uses.
func (c *copies) of(b []byte) []byte {
	if len(b) > copyChunk/8 {
		return bytes.Clone(b)
	}
	if cap(c.chunk)-len(c.chunk) < len(b) || c.chunk == nil {
		c.chunk = make([]byte, 0, copyChunk)
	}
	start := len(c.chunk)
	c.chunk = append(c.chunk, b...)
	return c.chunk[start:len(c.chunk):len(c.chunk)]
}
