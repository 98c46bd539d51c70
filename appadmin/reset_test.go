package appadmin_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/streams"
)

var internalTopics = []string{appID + "-counts-changelog", appID + "-counts-repartition"}

// TestResetMakesTheAppProcessItsInputAgainWithFreshState runs the App over
// the input, resets it (a dry run first, which changes nothing), runs it
// again and checks that the second run counts exactly what one run counts:
// offsets back at the start, the changelog and repartition topic gone with
// their offsets, the local state gone. Had the changelog or the state
// survived, the counts would be doubled; had the offsets not moved, the
// second run would write nothing.
func TestResetMakesTheAppProcessItsInputAgainWithFreshState(t *testing.T) {
	cl := startCluster(t)
	adm := admin(t, cl)
	stateDir := t.TempDir()
	first := startApp(t, cl, stateDir, streams.Config{})
	if got, want := readCounts(t, cl, 30), oneRun(); !maps.Equal(got, want) {
		t.Fatalf("first run counted %v, want %v", got, want)
	}
	first.close(t)
	waitMembers(t, adm, 0)

	before := committedOffsets(t, adm)
	var inputEnd int64
	for tp, off := range before {
		if tp.Topic == "in" {
			inputEnd += off
		}
	}
	if inputEnd != 30 {
		t.Fatalf("the first run committed %v, want offsets adding up to 30 on in", before)
	}
	if _, err := os.Stat(filepath.Join(stateDir, appID)); err != nil {
		t.Fatalf("the App left no state directory: %v", err)
	}

	opts := appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap(), StateDir: stateDir, DryRun: true}
	dry, err := appadmin.Reset(context.Background(), opts)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !slices.Equal(dry.InputTopics, []string{"in"}) || dry.InputTopicsFrom != appadmin.FromCommittedOffsets {
		t.Errorf("dry run inputs %v from %q, want [in] inferred from the committed offsets", dry.InputTopics, dry.InputTopicsFrom)
	}
	if !slices.Equal(dry.InternalTopics, internalTopics) || dry.InternalTopicsFrom != appadmin.FromNames {
		t.Errorf("dry run internal topics %v from %q, want %v by name", dry.InternalTopics, dry.InternalTopicsFrom, internalTopics)
	}
	if len(dry.Offsets) != 3 {
		t.Errorf("dry run moves %v, want the 3 partitions of in", dry.Offsets)
	}
	for _, o := range dry.Offsets {
		if o.To != 0 || o.From != before[o.TopicPartition] {
			t.Errorf("dry run moves %s from %d to %d, want from %d to 0", o.TopicPartition, o.From, o.To, before[o.TopicPartition])
		}
	}
	if len(dry.DeletedOffsets) == 0 || !slices.ContainsFunc(dry.DeletedOffsets, func(tp appadmin.TopicPartition) bool {
		return tp.Topic == appID+"-counts-repartition"
	}) {
		t.Errorf("dry run deletes offsets %v, want the repartition topic's", dry.DeletedOffsets)
	}
	if dry.State == nil || !dry.State.Exists || len(dry.State.Tasks) == 0 {
		t.Errorf("dry run local state %+v, want the directory with its tasks", dry.State)
	}
	text := dry.String()
	for _, want := range []string{"Dry run", "from the group's committed offsets", "would move to earliest", "would delete",
		internalTopics[0], internalTopics[1], filepath.Join(stateDir, appID)} {
		if !strings.Contains(text, want) {
			t.Errorf("dry run report lacks %q:\n%s", want, text)
		}
	}
	if got := committedOffsets(t, adm); !maps.Equal(got, before) {
		t.Errorf("the dry run changed the committed offsets: %v, were %v", got, before)
	}
	if topics := topicsOf(t, adm); !topics[internalTopics[0]] || !topics[internalTopics[1]] {
		t.Errorf("the dry run deleted internal topics: %v", topics)
	}
	if _, err := os.Stat(filepath.Join(stateDir, appID)); err != nil {
		t.Errorf("the dry run deleted the local state: %v", err)
	}

	opts.DryRun = false
	done, err := appadmin.Reset(context.Background(), opts)
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	if strings.Contains(done.String(), "would") {
		t.Errorf("the report of a real reset says what it would do:\n%s", done)
	}
	after := committedOffsets(t, adm)
	want := map[appadmin.TopicPartition]int64{{Topic: "in", Partition: 0}: 0, {Topic: "in", Partition: 1}: 0, {Topic: "in", Partition: 2}: 0}
	if !maps.Equal(after, want) {
		t.Errorf("committed offsets after the reset %v, want %v (inputs at their start, internal topics' offsets gone)", after, want)
	}
	topics := topicsOf(t, adm)
	for _, it := range internalTopics {
		if topics[it] {
			t.Errorf("internal topic %s survived the reset", it)
		}
	}
	if !topics["in"] || !topics["out"] {
		t.Errorf("the reset deleted user topics: %v", topics)
	}
	if _, err := os.Stat(filepath.Join(stateDir, appID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local state after the reset: %v, want it gone", err)
	}

	again, err := appadmin.Reset(context.Background(), opts)
	if !errors.Is(err, appadmin.ErrNothingToDo) || again == nil {
		t.Errorf("a second reset: %v, want ErrNothingToDo with its report", err)
	}

	startApp(t, cl, stateDir, streams.Config{})
	// out now holds the first run's 30 counts, then the second's.
	if got, want := readCounts(t, cl, 60), oneRun(); !maps.Equal(got, want) {
		t.Errorf("after the reset the App counted %v, want exactly one run's %v", got, want)
	}
}

func TestResetRefusesWhileTheAppRunsAndChangesNothing(t *testing.T) {
	cl := startCluster(t)
	adm := admin(t, cl)
	stateDir := t.TempDir()
	startApp(t, cl, stateDir, streams.Config{})
	readCounts(t, cl, 30)
	waitMembers(t, adm, 1)
	before := committedOffsets(t, adm)

	_, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap(), StateDir: stateDir})
	if !errors.Is(err, appadmin.ErrGroupNotEmpty) {
		t.Fatalf("reset of a running App: %v, want ErrGroupNotEmpty", err)
	}
	for _, want := range []string{"1 member(s)", "client " + appID + "-", "--force", "stop every instance"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	// Past the group check (--force in a dry run), the state directory
	// the running App holds is refused too.
	_, err = appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap(),
		StateDir: stateDir, Force: true, DryRun: true})
	if !errors.Is(err, appadmin.ErrStateDirLocked) || !strings.Contains(err.Error(), filepath.Join(stateDir, appID)) {
		t.Errorf("reset with the state directory of a running App: %v, want ErrStateDirLocked naming it", err)
	}
	if got := committedOffsets(t, adm); !maps.Equal(got, before) {
		t.Errorf("a refused reset changed the committed offsets: %v, were %v", got, before)
	}
	if topics := topicsOf(t, adm); !topics[internalTopics[0]] || !topics[internalTopics[1]] {
		t.Errorf("a refused reset deleted internal topics: %v", topics)
	}
}

// A static member (InstanceID) does not leave the group when its App
// closes: the broker keeps it until its session times out. --force removes
// it, as Kafka Streams' tool does.
func TestResetForceRemovesTheStoppedStaticMemberTheBrokerStillLists(t *testing.T) {
	cl := startCluster(t)
	adm := admin(t, cl)
	app := startApp(t, cl, t.TempDir(), streams.Config{InstanceID: "counter-1", SessionTimeout: 60 * time.Second})
	readCounts(t, cl, 30)
	waitMembers(t, adm, 1)
	app.close(t)
	if g := waitMembers(t, adm, 1); g.Members[0].InstanceID == nil || *g.Members[0].InstanceID != "counter-1" {
		t.Fatalf("after close the group lists %+v, want the static member counter-1 (the test needs it)", g.Members)
	}
	opts := appadmin.ResetOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap()}
	if _, err := appadmin.Reset(context.Background(), opts); !errors.Is(err, appadmin.ErrGroupNotEmpty) ||
		!strings.Contains(err.Error(), "static instance counter-1") {
		t.Fatalf("reset with a stopped static member: %v, want ErrGroupNotEmpty naming counter-1", err)
	}
	opts.Force = true
	r, err := appadmin.Reset(context.Background(), opts)
	if err != nil {
		t.Fatalf("reset --force: %v", err)
	}
	if len(r.RemovedMembers) != 1 || r.RemovedMembers[0].InstanceID != "counter-1" {
		t.Errorf("removed %+v, want counter-1", r.RemovedMembers)
	}
	waitMembers(t, adm, 0)
	for tp, off := range committedOffsets(t, adm) {
		if tp.Topic != "in" || off != 0 {
			t.Errorf("after reset --force: committed %s at %d, want only in's partitions at 0", tp, off)
		}
	}
}

func TestDescribeShowsTheGroupItsMembersOffsetsAndInternalTopics(t *testing.T) {
	cl := startCluster(t)
	adm := admin(t, cl)
	startApp(t, cl, t.TempDir(), streams.Config{InstanceID: "counter-1"})
	readCounts(t, cl, 30)
	waitMembers(t, adm, 1)
	// Wait for the commit of the whole input: lag 0 everywhere.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		for tp, off := range committedOffsets(t, adm) {
			if tp.Topic == "in" {
				n += off
			}
		}
		if n == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the App committed %d of 30 input records within 30s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d, err := appadmin.DescribeCluster(context.Background(), appadmin.DescribeOptions{ApplicationID: appID, BootstrapServers: cl.Bootstrap()})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Group.Exists || d.Group.State != "Stable" || d.Group.Protocol != "range" || len(d.Group.Members) != 1 {
		t.Fatalf("group %+v, want Stable, range, one member", d.Group)
	}
	m := d.Group.Members[0]
	if m.InstanceID != "counter-1" || !strings.HasPrefix(m.ClientID, appID+"-") || m.Host == "" {
		t.Errorf("member %+v, want instance counter-1, a client id of the App, a host", m)
	}
	var assigned []string
	for _, tp := range m.Assigned {
		assigned = append(assigned, tp.String())
	}
	wantAssigned := []string{appID + "-counts-repartition-0", appID + "-counts-repartition-1", appID + "-counts-repartition-2", "in-0", "in-1", "in-2"}
	if !slices.Equal(assigned, wantAssigned) {
		t.Errorf("assigned %v, want %v", assigned, wantAssigned)
	}
	if !slices.Equal(d.InputTopics, []string{"in"}) {
		t.Errorf("input topics %v, want [in]", d.InputTopics)
	}
	var inputs int
	for _, o := range d.Offsets {
		if o.Topic == "in" {
			inputs++
			if o.Lag != 0 || o.Committed != o.End || o.Internal {
				t.Errorf("input partition %+v, want committed at its end, lag 0", o)
			}
		} else if !o.Internal {
			t.Errorf("offsets of %s not marked internal", o.Topic)
		}
	}
	if inputs != 3 {
		t.Errorf("offsets %+v, want the 3 input partitions", d.Offsets)
	}
	wantTopics := []appadmin.TopicDescription{
		{Name: appID + "-counts-changelog", Partitions: 3, CleanupPolicy: "compact"},
		{Name: appID + "-counts-repartition", Partitions: 3, CleanupPolicy: "delete"},
	}
	if !slices.Equal(d.InternalTopics, wantTopics) {
		t.Errorf("internal topics %+v, want %+v", d.InternalTopics, wantTopics)
	}
	text := d.String()
	for _, want := range []string{"Consumer group counter: Stable, 1 member(s), assignor range", "static instance counter-1",
		"assigned: " + strings.Join(wantAssigned, ", "), "in-0", "LAG", appID + "-counts-changelog", "compact"} {
		if !strings.Contains(text, want) {
			t.Errorf("describe output lacks %q:\n%s", want, text)
		}
	}
	code, out, errs := run(t, appadmin.Tool{}, "describe", "--application-id", appID, "--bootstrap-servers", cl.Bootstrap())
	if code != appadmin.ExitOK || out != text {
		t.Errorf("the describe command: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errs, out, text)
	}
}

func TestAnApplicationTheClusterDoesNotKnowIsAnError(t *testing.T) {
	cl := startCluster(t)
	_, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "countr", BootstrapServers: cl.Bootstrap()})
	if !errors.Is(err, appadmin.ErrUnknownGroup) || !strings.Contains(err.Error(), "countr") {
		t.Errorf("reset of an unknown application: %v, want ErrUnknownGroup naming it", err)
	}
	_, err = appadmin.DescribeCluster(context.Background(), appadmin.DescribeOptions{ApplicationID: "countr", BootstrapServers: cl.Bootstrap()})
	if !errors.Is(err, appadmin.ErrUnknownGroup) {
		t.Errorf("describe of an unknown application: %v, want ErrUnknownGroup", err)
	}
	code, _, errs := run(t, appadmin.Tool{}, "reset", "--application-id", "countr", "--bootstrap-servers", cl.Bootstrap())
	if code != appadmin.ExitError || !strings.Contains(errs, "check --application-id") {
		t.Errorf("the reset command: exit %d, stderr %q", code, errs)
	}
}
