package streams

import (
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestFlushIsWokenByEveryLockFreeDelivery races deliveries, which count
// themselves without the lock unless a flusher waits, against flushes
// waiting for them. A lost wakeup leaves a flush waiting for records
// already delivered until its timeout timer wakes it (it then returns nil,
// everything being delivered): a flush that took seconds for a few
// records fails the test.
func TestFlushIsWokenByEveryLockFreeDelivery(t *testing.T) {
	pr := &producer{offsets: map[topicPartition]int64{}, tracked: map[string]bool{"changelog": true},
		live: map[*collector]struct{}{}, timeout: time.Minute}
	pr.cond = sync.NewCond(&pr.mu)
	out, changelog := "out", "changelog"
	const rounds = 3000
	work := make(chan int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var off int64
		for k := range work {
			for i := range k {
				topic := &out
				if i%3 == 2 {
					topic = &changelog // the locked path, mixed in
				}
				off++
				pr.delivered1(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: topic, Offset: kafka.Offset(off)}})
			}
		}
	}()
	for round := range rounds {
		k := 1 + round%4
		pr.mu.Lock()
		pr.retired += int64(k) // k more records sent
		pr.mu.Unlock()
		work <- k
		start := time.Now()
		err := pr.flush(3 * time.Second)
		if took := time.Since(start); err != nil || took > 2*time.Second {
			t.Fatalf("round %d: flush of %d records took %v (%v): a wakeup was lost", round, k, took, err)
		}
	}
	close(work)
	<-done
	if got, want := pr.delivered.Load(), pr.retired; got != want {
		t.Fatalf("delivered %d, want %d", got, want)
	}
	if pr.flushers.Load() != 0 {
		t.Fatalf("%d flushers still counted as waiting", pr.flushers.Load())
	}
}
