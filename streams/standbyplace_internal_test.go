package streams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/zap/zaptest"

	"github.com/millrace/millrace/internal/placement"
	"github.com/millrace/millrace/processor"
)

// TestAPlacementMismatchThatLastsIsCountedOnceAndATransientOneIsNot
// feeds the prediction check a membership of a, b and c over six
// partitions (a is predicted {0,1}) while a runs {0,1,2}: a mismatch that
// lasts membershipEvery is counted, once per membership; one that ends
// before (a rebalance settling) is not.
func TestAPlacementMismatchThatLastsIsCountedOnceAndATransientOneIsNot(t *testing.T) {
	cfg := &Config{ApplicationID: "x", InstanceID: "a"}
	app := &App{m: newMetrics(cfg, &hooks{})}
	app.state.Store(int32(Running))
	th := &thread{a: app, cfg: cfg, logger: zaptest.NewLogger(t),
		tasks: &taskManager{plan: &plan{subParts: map[int]int32{0: 6}}, runners: map[processor.TaskID]*runner{}}}
	rs := &rangeStandbys{th: th, k: 1}
	m := &placement.Membership{State: placement.StateStable}
	keys := []placement.Member{{Key: "a"}, {Key: "b"}, {Key: "c"}}
	run := func(ps ...int32) {
		clear(th.tasks.runners)
		for _, p := range ps {
			th.tasks.runners[processor.TaskID{Partition: p}] = &runner{}
		}
	}
	run(0, 1, 2)
	rs.check(m, keys, keys[0], []int{0})
	run(0, 1) // settled: as predicted
	rs.check(m, keys, keys[0], []int{0})
	if n := app.m.placementMismatches.Load(); n != 0 {
		t.Fatalf("a transient mismatch was counted (%d)", n)
	}
	run(0, 1, 2)
	rs.check(m, keys, keys[0], []int{0})
	rs.seenSince = time.Now().Add(-membershipEvery) // it has lasted
	rs.check(m, keys, keys[0], []int{0})
	rs.check(m, keys, keys[0], []int{0})
	if n := app.m.placementMismatches.Load(); n != 1 {
		t.Fatalf("a lasting mismatch counted %d times, want once", n)
	}
}

// TestAnInstanceIDStillHeldStopsTheAppSayingWhenToStartAgain: under the
// consumer protocol a restart within the broker's session timeout finds
// the instance id held by the previous member, a fatal error librdkafka
// gives as UNRELEASED_INSTANCE_ID; the App's error names the instance id
// and says to start again after the timeout.
func TestAnInstanceIDStillHeldStopsTheAppSayingWhenToStartAgain(t *testing.T) {
	cfg := &Config{ApplicationID: "x", InstanceID: "pod-3", GroupProtocol: ConsumerProtocol}
	th := &thread{cfg: cfg, logger: zaptest.NewLogger(t)}
	th.handle(kafka.NewError(kafka.ErrUnreleasedInstanceID, "The instance ID is still used by another member", true))
	if th.fatal == nil || !th.consFatal {
		t.Fatalf("fatal = %v, consFatal = %v; want the App stopped", th.fatal, th.consFatal)
	}
	for _, want := range []string{`"pod-3"`, "session timeout", "start again"} {
		if !strings.Contains(th.fatal.Error(), want) {
			t.Errorf("error %q does not say %s", th.fatal, want)
		}
	}
	var ke kafka.Error
	if !errors.As(th.fatal, &ke) || ke.Code() != kafka.ErrUnreleasedInstanceID {
		t.Errorf("error %v does not wrap the client's error", th.fatal)
	}
}
