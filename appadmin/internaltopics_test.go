package appadmin_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
	"github.com/millrace/millrace/window"
)

func TestIsInternalTopicMatchesTheRuntimesShapesOnlyUnderTheApplicationsPrefix(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  bool
	}{
		{"app-counts-changelog", true},
		{"app-counts-repartition", true},
		{"app-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition", true},
		{"app-oc-subscription-registration-topic", true},
		{"app-oc-subscription-response-topic", true},
		{"app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic", true},
		{"app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000011-topic", true},
		{"app-instance-metadata", true},
		{"app-x-instance-metadata", false}, // the metadata topic has one name only
		{"other-counts-changelog", false},  // another application's
		{"app2-counts-changelog", false},   // a prefix is not enough
		{"app-counts", false},              // an ordinary topic of the application's name
		{"app-changelog", false},           // nothing between prefix and suffix
		{"counts-changelog", false},        // no prefix
		{"app-orders-topic", false},        // "-topic" alone is not internal
		{"app-KTABLE-FK-JOIN-OUTPUT-0000000012-topic", false},
		{"", false},
	} {
		if got := appadmin.IsInternalTopic("app", tc.topic); got != tc.want {
			t.Errorf("IsInternalTopic(app, %q) = %v, want %v", tc.topic, got, tc.want)
		}
	}
	if appadmin.IsInternalTopic("", "-counts-changelog") {
		t.Error("an empty application id matched")
	}
}

func mustW[W any](w W, err error) W {
	if err != nil {
		panic(err)
	}
	return w
}

// everyInternalTopicKind builds a DSL topology using every operator that
// makes the App create a topic: aggregations with repartitions, windowed,
// session and sliding stores, suppression, stream-stream and table-table
// joins, foreign-key joins named and unnamed, a grouped table, ToTable, and
// a table read from its topic (whose store has no changelog of its own).
func everyInternalTopicKind(t *testing.T) *processor.Topology {
	t.Helper()
	b := dsl.NewBuilder()
	s := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	byValue := dsl.GroupBy(s, func(_, v string) string { return v })
	dsl.To(dsl.ToStream(dsl.Count(byValue, dsl.As("counts"))), "out")
	tw := mustW(window.Tumbling(time.Minute, 0))
	windowed := dsl.CountWindows(dsl.WindowedBy(dsl.GroupBy(s, func(k, _ string) string { return k + "w" }), tw), dsl.As("per-minute"))
	final := dsl.Suppress(windowed, dsl.UntilWindowCloses(window.Unbounded()), dsl.Named("final"))
	dsl.To(dsl.Unwindow(dsl.ToStream(final)), "out-final", dsl.KeySerde(record.String()))
	sw := mustW(window.Sessions(time.Minute, 0))
	dsl.To(dsl.Unwindow(dsl.ToStream(dsl.CountSessions(dsl.SessionWindowedBy(dsl.GroupByKey(s), sw)))), "out-sessions", dsl.KeySerde(record.String()))
	sl := mustW(window.Sliding(time.Minute, 0))
	dsl.To(dsl.Unwindow(dsl.ToStream(dsl.CountSliding(dsl.SlidingWindowedBy(dsl.GroupByKey(s), sl)))), "out-sliding", dsl.KeySerde(record.String()))
	other := dsl.FromTopics(b, []string{"in2"}, record.String(), record.String())
	jw := mustW(window.JoinWithin(time.Minute, 0))
	dsl.To(dsl.Join(dsl.SelectKey(s, func(_, v string) string { return v }), other, func(l, r string) string { return l + r }, jw), "out-join")
	left := dsl.ToTable(dsl.SelectKey(other, func(_, v string) string { return v }), dsl.Named("left"))
	right := dsl.TableFrom(b, "right", record.String(), record.String(), dsl.As("right-store"))
	dsl.To(dsl.ToStream(dsl.JoinTables(left, right, func(l, r string) string { return l + r })), "out-tables")
	fk := func(v string) (string, bool) { return v, true }
	dsl.To(dsl.ToStream(dsl.JoinByForeignKey(left, right, fk, func(l, r string) string { return l + r }, dsl.Named("oc"))), "out-fk")
	dsl.To(dsl.ToStream(dsl.JoinByForeignKey(left, right, fk, func(l, r string) string { return r + l })), "out-fk2")
	dsl.To(dsl.ToStream(dsl.CountTable(dsl.GroupTableBy(right, func(k, v string) (string, string) { return v, k }))), "out-grouped")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestEveryInternalTopicOfTheDSLIsFoundByName(t *testing.T) {
	topo := everyInternalTopicKind(t)
	tt := appadmin.TopicsOf(topo, "app")
	run := topo.ForApplication("app")
	var created []string // what the App creates: internal topics and changelogs
	for _, it := range run.InternalTopics() {
		created = append(created, it.Name)
	}
	for _, sd := range run.Describe().Stores {
		if sd.Changelog != "" {
			created = append(created, store.ChangelogTopic("app", sd.Name))
		}
	}
	slices.Sort(created)
	created = slices.Compact(created)
	if !slices.Equal(tt.Internal, created) {
		t.Errorf("TopicsOf internal = %v\nwant what the App creates: %v", tt.Internal, created)
	}
	kinds := map[string]bool{}
	for _, topic := range created {
		if !appadmin.IsInternalTopic("app", topic) {
			t.Errorf("the App creates %s, which IsInternalTopic does not recognise: add its shape", topic)
		}
		for _, k := range []string{"-changelog", "-repartition", "-subscription-registration-topic", "-subscription-response-topic", "-REGISTRATION-", "-RESPONSE-"} {
			if strings.Contains(topic, k) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 6 {
		t.Errorf("the topology makes topics of kinds %v, want all six shapes (the test would prove less)", kinds)
	}
	if want := []string{"in", "in2", "right"}; !slices.Equal(tt.Inputs, want) {
		t.Errorf("TopicsOf inputs = %v, want %v", tt.Inputs, want)
	}
	if slices.Contains(tt.Internal, "right") || slices.ContainsFunc(tt.Internal, func(s string) bool { return strings.Contains(s, "right-store") }) {
		t.Errorf("the table read from its topic has no changelog of its own, yet internal = %v", tt.Internal)
	}
}

func TestTopicsOfKnowsInternalTopicsAProcessorTopologyNamesByHand(t *testing.T) {
	b := processor.NewBuilder()
	processor.AddSource(b, "in", record.String(), record.String(), "in")
	processor.AddSink(b, "to-by-key", "by-key", record.String(), record.String(), "in")
	b.AddInternalTopic(processor.InternalTopic{Name: "by-key"})
	processor.AddSource(b, "from-by-key", record.String(), record.String(), "by-key")
	processor.AddSink(b, "out", "out", record.String(), record.String(), "from-by-key")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	tt := appadmin.TopicsOf(topo, "app")
	if !slices.Equal(tt.Internal, []string{"app-by-key"}) || !slices.Equal(tt.Inputs, []string{"in"}) {
		t.Errorf("TopicsOf = %+v, want internal [app-by-key], inputs [in]", tt)
	}
	if appadmin.IsInternalTopic("app", "app-by-key") {
		t.Error("a hand-named internal topic matched by name; the test assumes only the topology knows it")
	}
}
