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

// handleOffset is where, inside a kafka.Consumer, confluent-kafka-go keeps
// its librdkafka client pointer (Consumer.handle.rk), or layoutErr when the
// wrapper's layout is not the one this package was written against
// (v2.11.1: a struct field handle whose first-level field rk is a pointer
// to cgo's struct rd_kafka_s). It is found by reflection once, so a
// wrapper upgrade that moves or renames the field makes New fail with
// that error instead of reading the wrong word.
var handleOffset, layoutErr = findHandleOffset()

func findHandleOffset() (uintptr, error) {
	ct := reflect.TypeFor[kafka.Consumer]()
	hf, ok := ct.FieldByName("handle")
	if !ok || hf.Type.Kind() != reflect.Struct {
		return 0, fmt.Errorf("rdkbatch: kafka.Consumer has no struct field handle (confluent-kafka-go layout changed)")
	}
	rf, ok := hf.Type.FieldByName("rk")
	if !ok || rf.Type.Kind() != reflect.Pointer || rf.Type.Size() != unsafe.Sizeof(uintptr(0)) {
		return 0, fmt.Errorf("rdkbatch: kafka.Consumer.handle has no pointer field rk (confluent-kafka-go layout changed)")
	}
	if name := rf.Type.Elem().Name(); name != "_Ctype_struct_rd_kafka_s" {
		return 0, fmt.Errorf("rdkbatch: kafka.Consumer.handle.rk points to %q, not librdkafka's rd_kafka_s (confluent-kafka-go layout changed)", name)
	}
	return hf.Offset + rf.Offset, nil
}

// clientOf returns c's librdkafka client, checked three ways: the layout
// (above), the library's version (rdkb_abi_ok), and the client itself:
// librdkafka must call it a consumer and give it the name the wrapper
// cached when it created it.
func clientOf(c *kafka.Consumer) (*C.rd_kafka_t, error) {
	if layoutErr != nil {
		return nil, layoutErr
	}
	if c == nil {
		return nil, fmt.Errorf("rdkbatch: nil consumer")
	}
	if c.IsClosed() {
		return nil, fmt.Errorf("rdkbatch: consumer %s is closed", c)
	}
	if C.rdkb_abi_ok() == 0 {
		_, v := kafka.LibraryVersion()
		return nil, fmt.Errorf("rdkbatch: librdkafka %s is not the 2.11+ this package was written against", v)
	}
	rk := *(**C.rd_kafka_t)(unsafe.Add(unsafe.Pointer(c), handleOffset))
	if rk == nil {
		return nil, fmt.Errorf("rdkbatch: consumer %s has no librdkafka client", c)
	}
	if C.rd_kafka_type(rk) != 1 { // RD_KAFKA_CONSUMER
		return nil, fmt.Errorf("rdkbatch: the client of %s is not a librdkafka consumer", c)
	}
	if name := C.GoString(C.rd_kafka_name(rk)); name != c.String() {
		return nil, fmt.Errorf("rdkbatch: the client found in %s is named %q (wrong pointer?)", c, name)
	}
	return rk, nil
}
