package testdriver

import (
	"fmt"
	"math"

	"github.com/millrace/millrace/record"
)

// InputTopic pipes typed records into a topic.
type InputTopic[K, V any] struct {
	d    *Driver
	name string
	ks   record.Serializer[K]
	vs   record.Serializer[V]
	kbuf []byte
	vbuf []byte
}

// CreateInputTopic returns a typed input for topic.
func CreateInputTopic[K, V any](d *Driver, topic string, keys record.Serializer[K], values record.Serializer[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, name: topic, ks: keys, vs: values}
}

// Pipe pipes one record with timestamp ts (milliseconds; a negative ts is
// passed on as the broker would, for the extractor to judge).
func (in *InputTopic[K, V]) Pipe(key K, value V, ts int64, headers ...record.Header) error {
	kb, err := in.ks.Serialize(make([]byte, 0, 16), key)
	if err != nil {
		return fmt.Errorf("testdriver: serialize key: %w", err)
	}
	vb, err := in.vs.Serialize(make([]byte, 0, 16), value)
	if err != nil {
		return fmt.Errorf("testdriver: serialize value: %w", err)
	}
	return in.d.pipe(in.name, kb, vb, ts, record.Headers(headers))
}

// PipeRecord pipes r, keeping a null key or value null.
func (in *InputTopic[K, V]) PipeRecord(r record.Record[K, V]) error {
	var kb, vb []byte
	var err error
	if !r.KeyIsNull() {
		if kb, err = in.ks.Serialize(make([]byte, 0, 16), r.Key()); err != nil {
			return fmt.Errorf("testdriver: serialize key: %w", err)
		}
	}
	if !r.ValueIsNull() {
		if vb, err = in.vs.Serialize(make([]byte, 0, 16), r.Value()); err != nil {
			return fmt.Errorf("testdriver: serialize value: %w", err)
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
func (o *OutputTopic[K, V]) Len() int { return len(o.d.outputs[o.name]) - o.pos }

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
	if p.key != nil {
		if k, err = o.kd.Deserialize(p.key); err != nil {
			return zero, fmt.Errorf("testdriver: topic %q record %d: key: %w", o.name, o.pos, err)
		}
	}
	if p.value != nil {
		if v, err = o.vd.Deserialize(p.value); err != nil {
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
