package streams

import (
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// fetchWaker makes librdkafka fetch resumed partitions at once.
//
// librdkafka 2.11.1 resumes a paused partition by clearing a flag, without
// waking the broker thread that fetches it: a broker thread with nothing
// else to fetch sleeps until its idle timeout (one second) before it sees
// the partition again. Every resume has this cost when the thread idles:
// the App's resume of a task's partitions once it is restored, its
// resumes after the buffer bounds, and librdkafka's own pause of the
// whole assignment around every rebalance callback, which under the
// consumer protocol stopped the tasks that did not move for 0.35 to 0.6 s
// at each incremental rebalance on the embedded broker
// (TestAvailabilityFiguresJoinPause). A request to the partition's leader
// wakes its thread, so after a resume the waker asks each resumed
// partition's watermarks (ListOffsets), on a goroutine of its own: the
// answer is not used, and the poll loop never waits for it.
type fetchWaker struct {
	cons *kafka.Consumer
	reqs chan []kafka.TopicPartition
	done chan struct{}
}

// wakeQueue is how many wake requests may wait; a full queue drops the
// request (the partitions are then fetched after librdkafka's idle
// timeout, as without a waker).
const wakeQueue = 16

func newFetchWaker(c *kafka.Consumer) *fetchWaker {
	w := &fetchWaker{cons: c, reqs: make(chan []kafka.TopicPartition, wakeQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// wake asks for parts to be fetched now; it never blocks.
func (w *fetchWaker) wake(parts []kafka.TopicPartition) {
	if w == nil || len(parts) == 0 {
		return
	}
	select {
	case w.reqs <- parts:
	default:
	}
}

func (w *fetchWaker) run() {
	defer close(w.done)
	for parts := range w.reqs {
		seen := map[topicPartition]bool{}
		for _, p := range parts {
			if p.Topic == nil {
				continue
			}
			// One request per partition; its leader's thread wakes when
			// it is sent.
			k := topicPartition{*p.Topic, p.Partition}
			if seen[k] {
				continue
			}
			seen[k] = true
			_, _, _ = w.cons.QueryWatermarkOffsets(*p.Topic, p.Partition, 1000)
		}
	}
}

// close stops the waker; the consumer must still be open.
func (w *fetchWaker) close() {
	if w == nil {
		return
	}
	close(w.reqs)
	<-w.done
}
