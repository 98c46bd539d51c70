package task

import (
	"fmt"

	"github.com/millrace/millrace/handler"
)

// DeadLetterWriter is implemented by a Collector that writes dead letters
// apart from sink records: the App's does, so that a dead letter that fails
// stops the application instead of reaching the production handler (which
// could answer with another dead letter, and so on). A Collector without
// it gets dead letters through Send, with partition -1 and, for a
// timestamp of 0 or less, the task's wall-clock time.
type DeadLetterWriter interface {
	// WriteDeadLetter hands one dead letter to the producer, with the
	// task's outputs (in its transaction under exactly-once).
	WriteDeadLetter(dl *handler.DeadLetter) error
}

// WriteDeadLetters writes dead letters a handler answered with, in order,
// through the task's Collector, and counts each in Stats.DeadLettered. The
// first that cannot be written ends it with an error wrapping
// handler.ErrDeadLetterWrite and handler.ErrFatal (no handler may skip
// it), naming the topic. Call it from the task's goroutine.
func (t *Task) WriteDeadLetters(dls []handler.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	if !t.made() {
		return errNotMade
	}
	w, direct := t.cfg.Collector.(DeadLetterWriter)
	for i := range dls {
		dl := &dls[i]
		var err error
		switch {
		case dl.Topic == "":
			err = fmt.Errorf("dead letter %d of %d has no topic", i+1, len(dls))
		case direct:
			err = w.WriteDeadLetter(dl)
		default:
			ts := dl.Timestamp
			if ts <= 0 {
				ts = t.WallClockTime()
			}
			err = t.cfg.Collector.Send(dl.Topic, -1, dl.Key, dl.Value, dl.Headers, ts)
		}
		if err != nil {
			return handler.Fatal(fmt.Errorf("task %s: %w to topic %q: %w", t.id, handler.ErrDeadLetterWrite, dl.Topic, err))
		}
		t.stats.DeadLettered.Add(1)
	}
	return nil
}

// ErrorContext describes what the task is doing now, for a handler asked
// from outside the task's own error paths: the App's collector asks the
// production handler with it when the producer refuses a sink's record.
// Source is the record being processed (nil inside a punctuation or a
// commit's cache flush). Call it from the task's goroutine.
func (t *Task) ErrorContext() *handler.ErrorContext {
	if !t.made() {
		return &handler.ErrorContext{}
	}
	ec := &handler.ErrorContext{TaskID: t.id, Node: t.graph.CurrentNode(), DeadLetterQueueTopic: t.cfg.DeadLetterQueueTopic}
	switch {
	case t.inRecord:
		ec.Source, ec.Timestamp = t.current.Raw, t.current.Timestamp
	case t.punctuating:
		ec.Timestamp = t.punctTime
	default:
		ec.Timestamp = t.graph.RecordTimestamp()
	}
	return ec
}

// failureContext is the ErrorContext of a processing failure at node.
func (t *Task) failureContext(node string, punctuation bool) *handler.ErrorContext {
	ec := &handler.ErrorContext{TaskID: t.id, Node: node, DeadLetterQueueTopic: t.cfg.DeadLetterQueueTopic}
	if punctuation {
		ec.Timestamp = t.punctTime
	} else {
		ec.Source, ec.Timestamp = t.current.Raw, t.current.Timestamp
	}
	return ec
}
