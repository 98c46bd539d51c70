package appadmin

import (
	"regexp"
	"slices"
	"strings"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/store"
)

// Every topic the Millrace runtime creates for an application is named
// <application-id>-<something>. These are all the shapes of <something>,
// in one place: a new kind of internal topic in the runtime or the DSL
// must be added here (TestEveryInternalTopicOfTheDSLIsFoundByName fails
// until it is).
//
//	<store>-changelog                     store.ChangelogTopic: every logged store (key-value,
//	                                      window, session, suppression buffer, join and
//	                                      foreign-key subscription stores)
//	<name>-repartition                    dsl: GroupBy, SelectKey + an aggregation, ToTable,
//	                                      stream-table joins, GroupTableBy, Repartition
//	<name>-subscription-registration-topic dsl: a foreign-key join given Named
//	<name>-subscription-response-topic    dsl: a foreign-key join given Named
//	KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<10 digits>-topic  dsl: an unnamed foreign-key join
//	KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-<10 digits>-topic      dsl: an unnamed foreign-key join
//	instance-metadata                     streams: the endpoints and tasks of the instances
//	                                      (only with Config.ApplicationServer)
//
// All but the last are Kafka Streams' shapes, so the tool finds the
// internal topics of a Kafka Streams application of the same id too.
// Internal topics declared by hand on a Processor API topology
// (processor.Builder.AddInternalTopic) may have any name; only a topology
// (the embedded tool, see Tool.Topology) knows those.
var internalSuffixes = []string{
	"-changelog",
	"-repartition",
	"-subscription-registration-topic",
	"-subscription-response-topic",
}

// instanceMetadata is the topic where the instances of an App that
// advertise an ApplicationServer announce their endpoints and tasks
// (streams.Config.ApplicationServer): <application-id>-instance-metadata.
const instanceMetadata = "instance-metadata"

// generatedFKTopic matches the names the DSL generates for the topics of
// an unnamed foreign-key join.
var generatedFKTopic = regexp.MustCompile(`-KTABLE-FK-JOIN-SUBSCRIPTION-(REGISTRATION|RESPONSE)-[0-9]+-topic$`)

// IsInternalTopic reports whether topic is named as an internal topic of
// application applicationID: it starts with "<applicationID>-" and has one
// of the shapes listed above after it. It looks at the name only.
func IsInternalTopic(applicationID, topic string) bool {
	rest, ok := strings.CutPrefix(topic, applicationID+"-")
	if applicationID == "" || !ok || rest == "" {
		return false
	}
	if rest == instanceMetadata {
		return true
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(rest, s) && len(rest) > len(s) {
			return true
		}
	}
	return generatedFKTopic.MatchString("-" + rest)
}

// TopologyTopics are the topics a topology uses, named as application
// applicationID runs it.
type TopologyTopics struct {
	// Inputs are the source topics that are not internal, sorted: the
	// topics an application reset rewinds. Global stores' topics are not
	// among them (they are read without committed offsets).
	Inputs []string
	// Internal are the topics the App creates for the topology, sorted:
	// the changelogs of its logged stores and its internal topics
	// (repartition and foreign-key topics).
	Internal []string
}

// TopicsOf returns the input and internal topics of topo as application
// applicationID runs it. A nil topology has none.
func TopicsOf(topo *processor.Topology, applicationID string) TopologyTopics {
	if topo == nil {
		return TopologyTopics{}
	}
	run := topo.ForApplication(applicationID)
	var out TopologyTopics
	internal := map[string]bool{}
	for _, it := range run.InternalTopics() {
		internal[it.Name] = true
	}
	for _, s := range run.Describe().Stores {
		// Changelog is set for logged stores only (a table read with
		// TableFrom restores from its source topic and has none). It is
		// named as the App names it, whether or not ForApplication renamed
		// anything (it returns a topology without internal topics as is).
		if s.Changelog != "" {
			internal[store.ChangelogTopic(applicationID, s.Name)] = true
		}
	}
	for _, t := range run.SourceTopics() {
		if !internal[t] {
			out.Inputs = append(out.Inputs, t)
		}
	}
	for t := range internal {
		out.Internal = append(out.Internal, t)
	}
	slices.Sort(out.Inputs)
	out.Inputs = slices.Compact(out.Inputs)
	slices.Sort(out.Internal)
	return out
}
