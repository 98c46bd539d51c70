package testdriver

import (
	"errors"
	"fmt"
	"math"

	"github.com/millrace/millrace/handler"
	"github.com/millrace/millrace/record"
)

// InputTopic pipes typed records into a topic. One made with a nil Driver
// or nil serializers (or the zero InputTopic) returns an error from every
// Pipe; a panic in a serializer is an error wrapping handler.ErrPanic.
type InputTopic[K, V any] struct {
	d    *Driver
	name string
	ks   record.Serializer[K]
	vs   record.Serializer[V]
}

// CreateInputTopic returns a typed input for topic.
func CreateInputTopic[K, V any](d *Driver, topic string, keys record.Serializer[K], values record.Serializer[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, name: topic, ks: keys, vs: values}
}

// Pipe pipes one record with timestamp ts (milliseconds; a negative ts is
// passed on as the broker would, for the extractor to judge).
func (in *InputTopic[K, V]) Pipe(key K, value V, ts int64, headers ...record.Header) error {
	if err := in.usable(); err != nil {
		return err
	}
	kb, err := serialize(in.ks, key, "key")
	if err != nil {
		return err
	}
	vb, err := serialize(in.vs, value, "value")
	if err != nil {
		return err
	}
	return in.d.pipe(in.name, kb, vb, ts, record.Headers(headers))
}

func (in *InputTopic[K, V]) usable() error {
	switch {
	case in.d == nil:
		return fmt.Errorf("testdriver: input topic %q has no driver", in.name)
	case in.ks == nil || in.vs == nil:
		return fmt.Errorf("testdriver: input topic %q: %w: nil serializer", in.name, record.ErrSerde)
	}
	return nil
}

// serialize runs user serializer code, returning a panic as an error.
func serialize[T any](s record.Serializer[T], v T, part string) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("testdriver: serialize %s: %w: %v", part, handler.ErrPanic, p)
		}
	}()
	if b, err = s.Serialize(make([]byte, 0, 16), v); err != nil {
		return nil, fmt.Errorf("testdriver: serialize %s: %w", part, err)
	}
	return b, nil
}

// deserialize runs user deserializer code, returning a panic as an error.
func deserialize[T any](d record.Deserializer[T], data []byte) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, fmt.Errorf("%w: %v", handler.ErrPanic, p)
		}
	}()
	return d.Deserialize(data)
}

// PipeRecord pipes r, keeping a null key or value null.
func (in *InputTopic[K, V]) PipeRecord(r record.Record[K, V]) error {
	if err := in.usable(); err != nil {
		return err
	}
	var kb, vb []byte
	var err error
	if !r.KeyIsNull() {
		if kb, err = serialize(in.ks, r.Key(), "key"); err != nil {
			return err
		}
	}
	if !r.ValueIsNull() {
		if vb, err = serialize(in.vs, r.Value(), "value"); err != nil {
			return err
		}
	}
	return in.d.pipe(in.name, kb, vb, r.Timestamp(), r.Headers().Clone())
}

// PipeRecords pipes each record in turn (each processed before the next,
// unless inside Batch).
func (in *InputTopic[K, V]) PipeRecords(rs []record.Record[K, V]) error {
	for _, r := range rs {
		if err := in.PipeRecord(r); err != nil {
			return err
		}
	}
	return nil
}

// KV is a key and a value, as PipeKeyValues takes them.
type KV[K, V any] struct {
	Key   K
	Value V
}

// PipeKeyValues pipes key-value pairs, the first at timestamp start and each
// next one step milliseconds later. A timestamp that would pass
// math.MaxInt64 (or math.MinInt64) is an error, returned before that pair is
// piped: a wrapped timestamp would silently land in the distant past.
func (in *InputTopic[K, V]) PipeKeyValues(start, step int64, kvs ...KV[K, V]) error {
	ts := start
	for i, kv := range kvs {
		if i > 0 {
			if (step > 0 && ts > math.MaxInt64-step) || (step < 0 && ts < math.MinInt64-step) {
				return fmt.Errorf("testdriver: PipeKeyValues: timestamp %d + %d ms for pair %d is past the int64 range", ts, step, i)
			}
			ts += step
		}
		if err := in.Pipe(kv.Key, kv.Value, ts); err != nil {
			return err
		}
	}
	return nil
}

// OutputTopic reads, in order, the typed records sinks wrote to a topic.
// One made with a nil Driver (or the zero OutputTopic) is empty; reading a
// record with a nil deserializer is an error wrapping record.ErrSerde, and
// a panic in a deserializer is an error wrapping handler.ErrPanic.
type OutputTopic[K, V any] struct {
	d    *Driver
	name string
	kd   record.Deserializer[K]
	vd   record.Deserializer[V]
	pos  int
}

// CreateOutputTopic returns a typed reader of topic.
func CreateOutputTopic[K, V any](d *Driver, topic string, keys record.Deserializer[K], values record.Deserializer[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, name: topic, kd: keys, vd: values}
}

// Len returns the number of unread records.
func (o *OutputTopic[K, V]) Len() int {
	if o.d == nil {
		return 0
	}
	return len(o.d.outputs[o.name]) - o.pos
}

// IsEmpty reports whether every record has been read.
func (o *OutputTopic[K, V]) IsEmpty() bool { return o.Len() == 0 }

// ReadRecord reads the next record, or returns ErrNoRecord.
func (o *OutputTopic[K, V]) ReadRecord() (record.Record[K, V], error) {
	var zero record.Record[K, V]
	if o.IsEmpty() {
		return zero, fmt.Errorf("%w %q", ErrNoRecord, o.name)
	}
	p := o.d.outputs[o.name][o.pos]
	var k K
	var v V
	var err error
	if (p.key != nil && o.kd == nil) || (p.value != nil && o.vd == nil) {
		return zero, fmt.Errorf("testdriver: topic %q record %d: %w: nil deserializer", o.name, o.pos, record.ErrSerde)
	}
	if p.key != nil {
		if k, err = deserialize(o.kd, p.key); err != nil {
			return zero, fmt.Errorf("testdriver: topic %q record %d: key: %w", o.name, o.pos, err)
		}
	}
	if p.value != nil {
		if v, err = deserialize(o.vd, p.value); err != nil {
			return zero, fmt.Errorf("testdriver: topic %q record %d: value: %w", o.name, o.pos, err)
		}
	}
	o.pos++
	r, err := record.New(k, v, p.timestamp)
	if err != nil {
		return zero, err
	}
	r = r.WithHeaders(p.headers)
	if p.key == nil {
		r = r.WithNullKey()
	}
	if p.value == nil {
		r = r.WithNullValue()
	}
	return r, nil
}

// ReadValue reads the next record's value.
func (o *OutputTopic[K, V]) ReadValue() (V, error) {
	r, err := o.ReadRecord()
	return r.Value(), err
}

// ReadKeyValue reads the next record's key and value.
func (o *OutputTopic[K, V]) ReadKeyValue() (KV[K, V], error) {
	r, err := o.ReadRecord()
	return KV[K, V]{Key: r.Key(), Value: r.Value()}, err
}

// ReadRecords reads every unread record.
func (o *OutputTopic[K, V]) ReadRecords() ([]record.Record[K, V], error) {
	var out []record.Record[K, V]
	for !o.IsEmpty() {
		r, err := o.ReadRecord()
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadValues reads every unread record's value.
func (o *OutputTopic[K, V]) ReadValues() ([]V, error) {
	rs, err := o.ReadRecords()
	out := make([]V, len(rs))
	for i, r := range rs {
		out[i] = r.Value()
	}
	return out, err
}

// ReadKeyValuesToMap reads every unread record into a map holding the latest
// value per key; a tombstone removes its key. A null key is an error.
func ReadKeyValuesToMap[K comparable, V any](o *OutputTopic[K, V]) (map[K]V, error) {
	out := map[K]V{}
	if o == nil {
		return out, errors.New("testdriver: ReadKeyValuesToMap of a nil OutputTopic")
	}
	for !o.IsEmpty() {
		r, err := o.ReadRecord()
		if err != nil {
			return out, err
		}
		if r.KeyIsNull() {
			return out, fmt.Errorf("testdriver: topic %q holds a record with a null key; read it with ReadRecords", o.name)
		}
		if r.ValueIsNull() {
			delete(out, r.Key())
			continue
		}
		out[r.Key()] = r.Value()
	}
	return out, nil
}
