package rdkbatch

/*
#include "rdkbatch.h"
*/
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// consumerOffset and producerOffset are where, inside a kafka.Consumer
// and a kafka.Producer, confluent-kafka-go keeps its librdkafka client
// pointer (the field rk of the struct field handle), or the error saying
// the wrapper's layout is not the one this package was written against
// (v2.11.1: rk is a pointer to cgo's struct rd_kafka_s). They are found by
// reflection once, so a wrapper upgrade that moves or renames the field
// makes New and NewWriter fail with that error instead of reading the
// wrong word.
var (
	consumerOffset, consumerLayoutErr = findHandleOffset(reflect.TypeFor[kafka.Consumer]())
	producerOffset, producerLayoutErr = findHandleOffset(reflect.TypeFor[kafka.Producer]())
)

func findHandleOffset(t reflect.Type) (uintptr, error) {
	hf, ok := t.FieldByName("handle")
	if !ok || hf.Type.Kind() != reflect.Struct {
		return 0, fmt.Errorf("rdkbatch: %s has no struct field handle (confluent-kafka-go layout changed)", t)
	}
	rf, ok := hf.Type.FieldByName("rk")
	if !ok || rf.Type.Kind() != reflect.Pointer || rf.Type.Size() != unsafe.Sizeof(uintptr(0)) {
		return 0, fmt.Errorf("rdkbatch: %s.handle has no pointer field rk (confluent-kafka-go layout changed)", t)
	}
	if name := rf.Type.Elem().Name(); name != "_Ctype_struct_rd_kafka_s" {
		return 0, fmt.Errorf("rdkbatch: %s.handle.rk points to %q, not librdkafka's rd_kafka_s (confluent-kafka-go layout changed)", t, name)
	}
	return hf.Offset + rf.Offset, nil
}

// client is what clientOf needs of a kafka.Consumer or kafka.Producer.
type client interface {
	IsClosed() bool
	String() string
}

// clientOf returns c's librdkafka client.
func clientOf(c *kafka.Consumer) (*C.rd_kafka_t, error) {
	if c == nil {
		return nil, fmt.Errorf("rdkbatch: nil consumer")
	}
	return rkOf(c, unsafe.Pointer(c), consumerOffset, consumerLayoutErr, 1, "consumer")
}

// producerOf returns p's librdkafka client.
func producerOf(p *kafka.Producer) (*C.rd_kafka_t, error) {
	if p == nil {
		return nil, fmt.Errorf("rdkbatch: nil producer")
	}
	return rkOf(p, unsafe.Pointer(p), producerOffset, producerLayoutErr, 0, "producer")
}

// rkOf reads the client pointer at off inside the wrapper object at base
// and checks it three ways: the layout (above), the library's version
// (rdkb_abi_ok), and the client itself: librdkafka must give it the
// wanted type (RD_KAFKA_PRODUCER 0, RD_KAFKA_CONSUMER 1) and the name the
// wrapper cached when it created it.
func rkOf(c client, base unsafe.Pointer, off uintptr, layoutErr error, typ C.rd_kafka_type_t, kind string) (*C.rd_kafka_t, error) {
	if layoutErr != nil {
		return nil, layoutErr
	}
	if c.IsClosed() {
		return nil, fmt.Errorf("rdkbatch: %s %s is closed", kind, c)
	}
	if C.rdkb_abi_ok() == 0 {
		_, v := kafka.LibraryVersion()
		return nil, fmt.Errorf("rdkbatch: librdkafka %s is not the 2.11+ this package was written against", v)
	}
	rk := *(**C.rd_kafka_t)(unsafe.Add(base, off))
	if rk == nil {
		return nil, fmt.Errorf("rdkbatch: %s %s has no librdkafka client", kind, c)
	}
	if C.rd_kafka_type(rk) != typ {
		return nil, fmt.Errorf("rdkbatch: the client of %s is not a librdkafka %s", c, kind)
	}
	if name := C.GoString(C.rd_kafka_name(rk)); name != c.String() {
		return nil, fmt.Errorf("rdkbatch: the client found in %s is named %q (wrong pointer?)", c, name)
	}
	return rk, nil
}
