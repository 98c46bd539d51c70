package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap"
)

// isTxnFailure reports whether a task failed because its transaction
// did (the producer was fenced or the transaction must be aborted) rather
// than because of its records.
func isTxnFailure(err error) bool {
	return errors.As(err, new(txnFenced)) || errors.As(err, new(txnAbortable))
}

// recoverTxn recovers from a transaction failure under exactly-once: the
// transaction is aborted (or the fenced producer replaced), every task
// closes dirty (its state is wiped and restored from committed changelogs)
// and starts over from the committed offsets. Failures other tasks reported
// for the same transaction are dropped; any other failure is returned.
func (th *thread) recoverTxn(cause error) error {
	var err error
	if errors.As(cause, new(txnFenced)) {
		err = th.recoverFromFencing(cause)
	} else {
		err = th.recoverFromAbort(cause)
	}
	if err != nil {
		return err
	}
	for {
		select {
		case f := <-th.failures:
			if !isTxnFailure(f.err) {
				return fmt.Errorf("streams: task %s failed: %w", f.id, f.err)
			}
		default:
			return nil
		}
	}
}

// recoverFromAbort closes the tasks dirty, aborts the failed transaction
// and starts over from the committed offsets. The tasks close first: the
// abort begins the next transaction, and a task still running would write
// into it what its successor writes again.
func (th *thread) recoverFromAbort(cause error) error {
	th.logger.Warn("transaction failed; aborting and resuming from the last commit", zap.Error(cause))
	assigned := slices.Clone(th.assignment)
	th.closeTasks(false, time.Now().Add(th.cfg.CloseTimeout))
	th.assignment = assigned
	ctx, cancel := context.WithTimeout(context.Background(), th.prod.ackTimeout())
	defer cancel()
	if err := th.prod.abortTransaction(ctx); err != nil {
		if errors.As(err, new(txnFenced)) {
			// Fenced before the abort: the transaction is lost either way.
			return th.recoverFromFencing(err)
		}
		return fmt.Errorf("%w (after %v)", err, cause)
	}
	return th.restartTasks("abort")
}

// recoverFromFencing replaces a producer that another instance with the
// same transactional id fenced: its open transaction is lost, so the tasks
// close dirty and start over from the committed offsets with a new
// producer (whose InitTransactions fences the other in turn).
func (th *thread) recoverFromFencing(cause error) error {
	th.logger.Warn("producer fenced; replacing it and resuming from the last commit", zap.Error(cause))
	assigned := slices.Clone(th.assignment)
	th.closeTasks(false, time.Now().Add(th.cfg.CloseTimeout))
	th.assignment = assigned
	if err := th.replaceProducer(cause); err != nil {
		return err
	}
	return th.restartTasks("fencing")
}

// replaceProducer closes the producer (every task is closed) and starts a
// new transactional one.
func (th *thread) replaceProducer(cause error) error {
	old := th.prod
	old.purge()
	if err := old.close(th.cfg.CloseTimeout); err != nil {
		th.logger.Warn("close fenced producer", zap.Error(err))
	}
	pid, err := processID(th.dir.Path())
	if err != nil {
		return err
	}
	if th.prod, err = newProducer(th.clients, pid, old.tracked, th.a.m, th.a.failing); err != nil {
		return err
	}
	th.tasks.prod = th.prod
	ctx, cancel := context.WithTimeout(th.ctx, th.prod.ackTimeout())
	defer cancel()
	if err := th.prod.initTransactions(ctx); err != nil {
		return fmt.Errorf("%w (after %v)", err, cause)
	}
	return nil
}

// restartTasks closes every task dirty and creates them again from the
// committed offsets of the current assignment.
func (th *thread) restartTasks(why string) error {
	assigned := slices.Clone(th.assignment)
	th.closeTasks(false, time.Now().Add(th.cfg.CloseTimeout))
	for i := range assigned {
		assigned[i].Offset = kafka.OffsetStored
	}
	if err := th.rewind(assigned); err != nil {
		return fmt.Errorf("streams: reassign after %s: %w", why, err)
	}
	if th.incremental() {
		th.assignment = assigned
		th.assignedIncrementally()
	} else {
		th.assigned(assigned)
	}
	return th.fatal
}
