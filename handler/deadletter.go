package handler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/millrace/millrace/record"
)

// The headers NewDeadLetter adds to a dead letter, after the source
// record's own: Kafka Streams' names (ExceptionHandlerUtils), so tools
// reading Kafka Streams' dead-letter topics read Millrace's too. Values are
// UTF-8 strings.
const (
	// HeaderException names the error's kind: the Go type of the innermost
	// error of its chain that is more than a message ("*strconv.NumError",
	// not the *errors.errorString it wraps; the innermost one if all are
	// plain messages), or "panic: <type of the panic value>" for a panic.
	HeaderException = "__streams.errors.exception"
	// HeaderMessage is the error's message (Error()).
	HeaderMessage = "__streams.errors.message"
	// HeaderStacktrace is the goroutine stack of a panic; for an error, its
	// chain of causes, one "type: message" line each, outermost first (Go
	// errors carry no stack).
	HeaderStacktrace = "__streams.errors.stacktrace"
	// HeaderTopic is the source record's topic; null inside a punctuation.
	HeaderTopic = "__streams.errors.topic"
	// HeaderPartition is the source record's partition in decimal; "-1"
	// inside a punctuation.
	HeaderPartition = "__streams.errors.partition"
	// HeaderOffset is the source record's offset in decimal; "-1" inside a
	// punctuation and for a record that was never written.
	HeaderOffset = "__streams.errors.offset"
)

// DeadLetter is a record for a dead-letter topic, written as it is: raw key
// and value bytes (nil is null), headers and timestamp. The producer's
// partitioner picks the partition from the key (murmur2, as Java clients
// do; any partition for a null key).
type DeadLetter struct {
	// Topic to write to. Required: a dead letter without one stops the
	// application (ErrDeadLetterWrite).
	Topic string
	Key   []byte
	Value []byte
	// Headers, in order.
	Headers record.Headers
	// Timestamp in milliseconds; 0 or negative lets the producer stamp the
	// time of writing. One past what the client can write (2262-04-11) is
	// written as the latest it can.
	Timestamp int64
}

// ProducerRecord is a record the producer could not write, as a sink
// handed it over: serialized key and value (nil is null), headers,
// timestamp (-1 when not known: a failed delivery's report does not carry
// it). Partition is -1 when the producer's partitioner was to choose it
// and the refusal came before it did. For a refusal at once the slices are
// the sink's buffers, valid during the handler's call only: copy what you
// keep.
type ProducerRecord struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
	Headers   record.Headers
	Timestamp int64
}

// NewDeadLetter returns the dead letter Kafka Streams' built-in handlers
// write for a failure (see the package doc): for topic, the raw key, value
// and headers of ec.Source (none inside a punctuation), its timestamp
// (ec.Timestamp), and the error headers describing err and the source
// record's position.
func NewDeadLetter(topic string, ec *ErrorContext, err error) DeadLetter {
	if ec == nil {
		ec = &ErrorContext{}
	}
	return deadLetterOf(topic, ec.Source, ec.Timestamp, err)
}

// productionDeadLetter is the built-in dead letter of a production
// failure: the source record when the task was processing one, else the
// failed record itself, located at its topic and partition.
func productionDeadLetter(topic string, ec *ErrorContext, rec *ProducerRecord, err error) DeadLetter {
	if ec == nil {
		ec = &ErrorContext{}
	}
	if ec.Source != nil || rec == nil {
		return deadLetterOf(topic, ec.Source, ec.Timestamp, err)
	}
	failed := &record.ConsumerRecord{Topic: rec.Topic, Partition: rec.Partition, Offset: -1,
		Key: rec.Key, Value: rec.Value, Headers: rec.Headers}
	return deadLetterOf(topic, failed, rec.Timestamp, err)
}

func deadLetterOf(topic string, src *record.ConsumerRecord, ts int64, err error) DeadLetter {
	dl := DeadLetter{Topic: topic, Timestamp: ts}
	var srcTopic []byte
	partition, offset := "-1", "-1"
	n := 6
	if src != nil {
		dl.Key, dl.Value = src.Key, src.Value
		srcTopic = []byte(src.Topic)
		partition = strconv.FormatInt(int64(src.Partition), 10)
		offset = strconv.FormatInt(src.Offset, 10)
		n += len(src.Headers)
	}
	h := make(record.Headers, 0, n)
	if src != nil {
		h = append(h, src.Headers...)
	}
	kind, msg, trace := describe(err)
	dl.Headers = append(h,
		record.Header{Key: HeaderException, Value: []byte(kind)},
		record.Header{Key: HeaderMessage, Value: []byte(msg)},
		record.Header{Key: HeaderStacktrace, Value: []byte(trace)},
		record.Header{Key: HeaderTopic, Value: srcTopic},
		record.Header{Key: HeaderPartition, Value: []byte(partition)},
		record.Header{Key: HeaderOffset, Value: []byte(offset)},
	)
	return dl
}

// describe returns an error's kind, message and trace for the headers.
func describe(err error) (kind, msg, trace string) {
	if err == nil {
		return "<nil>", "", ""
	}
	var pe *ProcessingError
	if errors.As(err, &pe) && pe != nil && pe.Panic != nil {
		return fmt.Sprintf("panic: %T", pe.Panic), err.Error(), string(pe.Stack)
	}
	var b strings.Builder
	var inner, typed error
	for e := err; e != nil; e = errors.Unwrap(e) {
		fmt.Fprintf(&b, "%T: %s\n", e, e.Error())
		inner = e
		if !plain(e) {
			typed = e
		}
	}
	if typed == nil {
		typed = inner
	}
	return fmt.Sprintf("%T", typed), err.Error(), b.String()
}

// plain reports errors that are only a message (errors.New, fmt.Errorf):
// their type says nothing about the failure.
func plain(err error) bool {
	switch fmt.Sprintf("%T", err) {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return true
	}
	return false
}
