package rdkbatch

/*
#include <stdlib.h>
#include "rdkbatch.h"
*/
import "C"

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TxnError is the error of a transactional call: librdkafka's
// rd_kafka_error_t, with the same predicates as kafka.Error.
type TxnError struct {
	code      kafka.ErrorCode
	msg       string
	fatal     bool
	retriable bool
	abort     bool
}

// Error returns librdkafka's description of the error.
func (e *TxnError) Error() string { return e.msg }

// Code returns the error code.
func (e *TxnError) Code() kafka.ErrorCode { return e.code }

// IsFatal reports whether the producer can no longer be used.
func (e *TxnError) IsFatal() bool { return e.fatal }

// IsRetriable reports whether the same call may be made again.
func (e *TxnError) IsRetriable() bool { return e.retriable }

// TxnRequiresAbort reports whether the transaction must be aborted.
func (e *TxnError) TxnRequiresAbort() bool { return e.abort }

// txnError converts and destroys a librdkafka error; nil stays nil.
func txnError(what string, e *C.rd_kafka_error_t) error {
	if e == nil {
		return nil
	}
	defer C.rd_kafka_error_destroy(e)
	return &TxnError{code: kafka.ErrorCode(C.rd_kafka_error_code(e)),
		msg:       what + ": " + C.GoString(C.rd_kafka_error_string(e)),
		fatal:     C.rd_kafka_error_is_fatal(e) != 0,
		retriable: C.rd_kafka_error_is_retriable(e) != 0,
		abort:     C.rd_kafka_error_txn_requires_abort(e) != 0}
}

// timeoutMs is what is left of ctx's deadline, in milliseconds (one
// minute without a deadline, at least 1).
func timeoutMs(ctx context.Context) C.int {
	d := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	return C.int(max(d.Milliseconds(), 1))
}

// InitTransactions initialises the producer's transactional id (it
// needs transactional.id), fencing any earlier producer with it.
func (p *Producer) InitTransactions(ctx context.Context) error {
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	return txnError("init transactions", C.rd_kafka_init_transactions(p.rk, timeoutMs(ctx)))
}

// BeginTransaction begins a transaction.
func (p *Producer) BeginTransaction() error {
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	return txnError("begin transaction", C.rd_kafka_begin_transaction(p.rk))
}

// SendOffsetsToTransaction adds the consumer's offsets (the next offsets
// to read) to the transaction, with the consumer's group metadata read
// from its librdkafka client.
func (p *Producer) SendOffsetsToTransaction(ctx context.Context, offsets []kafka.TopicPartition, c *kafka.Consumer) error {
	crk, err := clientOf(c)
	if err != nil {
		return err
	}
	n := len(offsets)
	if n == 0 {
		return nil
	}
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	topics := (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(topics))
	ts := unsafe.Slice(topics, n)
	parts := make([]C.int32_t, n)
	offs := make([]C.int64_t, n)
	for i, tp := range offsets {
		if tp.Topic == nil {
			for j := range i {
				C.free(unsafe.Pointer(ts[j]))
			}
			return fmt.Errorf("rdkbatch: send offsets to transaction: offset %d has no topic", i)
		}
		ts[i] = C.CString(*tp.Topic)
		parts[i], offs[i] = C.int32_t(tp.Partition), C.int64_t(tp.Offset)
	}
	defer func() {
		for i := range ts {
			C.free(unsafe.Pointer(ts[i]))
		}
	}()
	return txnError("send offsets to transaction",
		C.rdkp_send_offsets(p.rk, crk, topics, &parts[0], &offs[0], C.int(n), timeoutMs(ctx)))
}

// CommitTransaction flushes the transaction's records and commits them
// with its offsets.
func (p *Producer) CommitTransaction(ctx context.Context) error {
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	return txnError("commit transaction", C.rd_kafka_commit_transaction(p.rk, timeoutMs(ctx)))
}

// AbortTransaction aborts the transaction: its records are purged (their
// delivery reports say so) and marked aborted for read_committed readers.
func (p *Producer) AbortTransaction(ctx context.Context) error {
	if !p.enter() {
		return ErrProducerClosed
	}
	defer p.exit()
	return txnError("abort transaction", C.rd_kafka_abort_transaction(p.rk, timeoutMs(ctx)))
}
