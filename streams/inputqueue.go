package streams

import (
	"sync"

	"github.com/millrace/millrace/record"
)

// inputQueue hands batches from the poller to a task goroutine: a
// mutex-guarded slice plus a one-slot notify channel. Pushing never blocks;
// the poller bounds what it hands over by pausing partitions.
type inputQueue struct {
	mu     sync.Mutex
	items  []inputItem
	spare  []inputItem
	notify chan struct{}
}

type inputItem struct {
	topic     string
	partition int32
	records   []record.ConsumerRecord
	lag       int64 // with no records: a lag update (-1 unknown)
}

func newInputQueue() *inputQueue { return &inputQueue{notify: make(chan struct{}, 1)} }

func (q *inputQueue) push(it inputItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain takes everything queued; the returned slice is valid until the next
// drain.
func (q *inputQueue) drain() []inputItem {
	// The spare array is the previous batch, no longer visible to push:
	// clear it before handing it to the poller, never after.
	clear(q.spare[:cap(q.spare)])
	q.mu.Lock()
	items := q.items
	q.items = q.spare[:0]
	q.mu.Unlock()
	q.spare = items
	return items
}
