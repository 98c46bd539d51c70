package kafkatest

import "testing"

func TestZeroAndNilClusterRunNothingAndCloseSafely(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panicked: %v", p)
		}
	}()
	var zero Cluster
	if b := zero.Bootstrap(); b != "" {
		t.Errorf("zero Cluster Bootstrap = %q", b)
	}
	zero.Close()
	var nilC *Cluster
	if b := nilC.Bootstrap(); b != "" {
		t.Errorf("nil Cluster Bootstrap = %q", b)
	}
	nilC.Close()
}

func TestStartRejectsATopicWithoutPartitions(t *testing.T) {
	c, err := Start(Config{Topics: map[string]int32{"t": 0}})
	if err == nil {
		c.Close()
		t.Fatal("Start with a topic of 0 partitions succeeded")
	}
	c.Close() // nil after a failed Start: safe, as with defer c.Close()
}
