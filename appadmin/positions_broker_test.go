package appadmin_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/kafkatest"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// commit commits offsets for group, as a stopped application leaves them.
func commit(t *testing.T, adm *kadm.Client, group string, offs map[appadmin.TopicPartition]int64) {
	t.Helper()
	o := kadm.Offsets{}
	for tp, at := range offs {
		o.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: at, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(bounded(t), group, o); err != nil {
		t.Fatal(err)
	}
}

func TestResetPositionsMoveEachPartitionWithinItsRange(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"clicks": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var recs []record.Record[string, string]
	for i := range 10 { // offset i has timestamp 100+i
		r, _ := record.New("k", "v", int64(100+i))
		recs = append(recs, r)
	}
	if err := kafkatest.Produce(cl, "clicks", record.String(), record.String(), recs...); err != nil {
		t.Fatal(err)
	}
	adm := admin(t, cl)
	tp := appadmin.TopicPartition{Topic: "clicks", Partition: 0}
	commit(t, adm, "positions", map[appadmin.TopicPartition]int64{tp: 7})
	for _, tc := range []struct {
		pos  appadmin.Position
		want int64
		note string
	}{
		{appadmin.Earliest(), 0, ""},
		{appadmin.Latest(), 10, ""},
		{appadmin.AtOffset(4), 4, ""},
		{appadmin.AtOffset(99), 10, "past the partition's end"},
		{appadmin.AtOffset(-5), 0, "before the partition's start"},
		{appadmin.AtTime(time.UnixMilli(105)), 5, ""},
		{appadmin.AtTime(time.UnixMilli(104).Add(time.Microsecond)), 5, ""}, // first record at or after
		{appadmin.AtTime(time.UnixMilli(50)), 0, ""},
		{appadmin.AtTime(time.UnixMilli(-5_000)), 0, ""},                          // negative: not one of Kafka's special timestamps
		{appadmin.AtTime(time.UnixMilli(5_000)), 10, ""},                          // no record that late: the end
		{appadmin.ByDuration(time.Hour), 10, ""},                                  // now - 1h is after every record
		{appadmin.ByDuration(time.Since(time.UnixMilli(100)) + time.Hour), 0, ""}, // before every record
		{appadmin.ShiftBy(-2), 5, ""},
		{appadmin.ShiftBy(100), 10, "past the partition's end"},
	} {
		r, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "positions",
			BootstrapServers: cl.Bootstrap(), Position: tc.pos, DryRun: true})
		if errors.Is(err, appadmin.ErrNothingToDo) && tc.want == 7 {
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.pos, err)
			continue
		}
		if len(r.Offsets) != 1 || r.Offsets[0].From != 7 || r.Offsets[0].To != tc.want || !strings.Contains(r.Offsets[0].Note, tc.note) {
			t.Errorf("%v: moves %+v, want clicks-0 from 7 to %d (note %q)", tc.pos, r.Offsets, tc.want, tc.note)
		}
	}
	if _, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "positions",
		BootstrapServers: cl.Bootstrap(), Position: appadmin.AtOffset(7)}); !errors.Is(err, appadmin.ErrNothingToDo) {
		t.Errorf("a reset to where the offsets are: %v, want ErrNothingToDo", err)
	}
	if _, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "positions",
		BootstrapServers: cl.Bootstrap(), Position: appadmin.AtTime(time.UnixMilli(102))}); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(bounded(t), "positions")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("clicks", 0); !ok || o.At != 2 {
		t.Errorf("after the reset to datetime 102 ms the group committed %+v, want offset 2", o)
	}
}

// byKeyTopology is a Processor API topology whose internal topic is named
// by hand ("by-key"): only the topology knows it is internal.
func byKeyTopology() (*processor.Topology, error) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "to-by-key", "by-key", record.String(), record.String(), "in")
	b.AddInternalTopic(processor.InternalTopic{Name: "by-key"})
	processor.AddSource(b, "from-by-key", record.String(), record.String(), "by-key")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "from-by-key")
	return b.Build()
}

func TestResetWithTheTopologyRewindsItsInputsAndDeletesTheInternalTopicsOnlyItKnows(t *testing.T) {
	cl := startCluster(t)
	if err := cl.CreateTopic(appID+"-by-key", 3); err != nil {
		t.Fatal(err)
	}
	adm := admin(t, cl)
	commit(t, adm, appID, map[appadmin.TopicPartition]int64{{Topic: "in", Partition: 0}: 5, {Topic: appID + "-by-key", Partition: 0}: 3})
	topo, err := byKeyTopology()
	if err != nil {
		t.Fatal(err)
	}
	opts := appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap(), DryRun: true}
	blind, err := appadmin.Reset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(blind.InternalTopics) != 0 || !slices.Contains(blind.InputTopics, appID+"-by-key") {
		t.Fatalf("without the topology: inputs %v, internal %v; the test assumes the hand-named topic looks like an input",
			blind.InputTopics, blind.InternalTopics)
	}
	opts.Topology = topo
	seeing, err := appadmin.Reset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seeing.InputTopics, []string{"in"}) || seeing.InputTopicsFrom != appadmin.FromTopology {
		t.Errorf("with the topology: inputs %v from %q, want [in] from the topology", seeing.InputTopics, seeing.InputTopicsFrom)
	}
	if !slices.Equal(seeing.InternalTopics, []string{appID + "-by-key"}) || seeing.InternalTopicsFrom != appadmin.FromTopology {
		t.Errorf("with the topology: internal %v from %q, want [%s-by-key] from the topology", seeing.InternalTopics, seeing.InternalTopicsFrom, appID)
	}
	code, out, errs := run(t, appadmin.Tool{Topology: byKeyTopology}, "reset", "--application-id", appID, "--bootstrap-servers", cl.Bootstrap())
	if code != appadmin.ExitOK || !strings.Contains(out, "Input topics, from the topology: in") || !strings.Contains(out, "found by the topology: deleted") {
		t.Errorf("the embedded reset: exit %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	if topicsOf(t, adm)[appID+"-by-key"] {
		t.Error("the embedded reset left the topology's internal topic")
	}
}

func TestResetRejectsTopicsItCannotUseBeforeChangingAnything(t *testing.T) {
	cl := startCluster(t)
	if err := cl.CreateTopic(appID+"-counts-changelog", 3); err != nil {
		t.Fatal(err)
	}
	adm := admin(t, cl)
	before := map[appadmin.TopicPartition]int64{{Topic: "in", Partition: 1}: 4}
	commit(t, adm, appID, before)
	for _, tc := range []struct {
		opts appadmin.ResetOptions
		want string
	}{
		{appadmin.ResetOptions{InputTopics: []string{"in", "nope"}}, "input topic not in the cluster: nope"},
		{appadmin.ResetOptions{InternalTopics: []string{"out"}}, "not an existing internal topic of counter: out (the internal topics found are: counter-counts-changelog)"},
	} {
		tc.opts.ApplicationID, tc.opts.BootstrapServers = appID, cl.Bootstrap()
		if _, err := appadmin.Reset(context.Background(), tc.opts); !errors.Is(err, appadmin.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalidOptions saying %q", tc.opts, err, tc.want)
		}
	}
	if got := committedOffsets(t, adm); len(got) != 1 || got[appadmin.TopicPartition{Topic: "in", Partition: 1}] != 4 {
		t.Errorf("a rejected reset changed the offsets: %v", got)
	}
	if !topicsOf(t, adm)[appID+"-counts-changelog"] {
		t.Error("a rejected reset deleted an internal topic")
	}
	// A subset that exists is deleted, and only it.
	if err := cl.CreateTopic(appID+"-counts-repartition", 3); err != nil {
		t.Fatal(err)
	}
	r, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap(),
		InternalTopics: []string{appID + "-counts-repartition"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.InternalTopicsFrom != appadmin.FromOptions || !strings.Contains(r.String(), "as given (--internal-topics)") {
		t.Errorf("report of a given subset:\n%s", r)
	}
	topics := topicsOf(t, adm)
	if topics[appID+"-counts-repartition"] || !topics[appID+"-counts-changelog"] {
		t.Errorf("after deleting the subset [repartition]: topics %v", topics)
	}
}
