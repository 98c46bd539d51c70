package streams

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/millrace/millrace/processor"
)

// ErrInternalTopicPartitions is wrapped by the error for internal topics
// whose partition count the App cannot derive (see deriveInternal).
var ErrInternalTopicPartitions = errors.New("streams: cannot derive the partition count of internal topics")

// deriveInternal returns the partition count of every internal topic of
// topo, as Kafka Streams' RepartitionTopics and CopartitionedTopicsEnforcer
// choose them. count gives the partition count of an existing external
// topic (every external source topic must exist).
//
//   - An internal topic with InternalTopic.Partitions > 0 has that count.
//   - The others are derived per reading sub-topology (the topics one
//     sub-topology reads are co-partitioned). If it also reads external
//     topics or internal topics with a fixed count, its unset internal
//     topics take their count (the largest, should they differ: the
//     co-partitioning check reports that), so a repartitioned stream joined
//     with a table topic lines up with the table.
//   - Otherwise each unset internal topic's count is the largest partition
//     count of the source topics of the sub-topologies whose sinks write it,
//     and every one the sub-topology reads takes the largest of those. A
//     writer that itself reads unset internal topics is resolved first;
//     writers that wait on each other (a cycle of internal topics with no
//     fixed count in it) are an error wrapping ErrInternalTopicPartitions.
func deriveInternal(topo *processor.Topology, count func(topic string) (int32, bool)) (map[string]int32, error) {
	internal := topo.InternalTopics()
	if len(internal) == 0 {
		return nil, nil
	}
	out := make(map[string]int32, len(internal))
	unset := map[string]bool{}
	for _, it := range internal {
		if it.Partitions > 0 {
			out[it.Name] = it.Partitions
		} else {
			unset[it.Name] = true
		}
	}
	subs := topo.Subtopologies()
	// known is the count of a topic whose count is final.
	known := func(topic string) (int32, bool) {
		if n, ok := out[topic]; ok {
			return n, true
		}
		if _, isInternal := topo.InternalTopic(topic); isInternal {
			return 0, false
		}
		return count(topic)
	}
	writers := func(topic string) []processor.Subtopology {
		var ws []processor.Subtopology
		for _, st := range subs {
			if slices.Contains(st.SinkTopics, topic) {
				ws = append(ws, st)
			}
		}
		return ws
	}
	pending := func(st processor.Subtopology) []string {
		var ps []string
		for _, t := range st.SourceTopics {
			if unset[t] {
				ps = append(ps, t)
			}
		}
		return ps
	}
	for {
		progress := false
		for _, st := range subs {
			todo := pending(st)
			if len(todo) == 0 {
				continue
			}
			// Co-partitioned with topics of a fixed count: take it.
			var hard int32
			for _, t := range st.SourceTopics {
				if unset[t] {
					continue
				}
				if n, ok := known(t); ok {
					hard = max(hard, n)
				}
			}
			if hard == 0 {
				// Only unset internal topics: the largest of their writers'
				// inputs, once every writer's inputs are final.
				ready := true
				for _, t := range todo {
					for _, w := range writers(t) {
						for _, src := range w.SourceTopics {
							n, ok := known(src)
							if !ok {
								ready = false
								break
							}
							hard = max(hard, n)
						}
					}
				}
				if !ready || hard == 0 {
					continue
				}
			}
			for _, t := range todo {
				out[t] = hard
				delete(unset, t)
			}
			progress = true
		}
		if len(unset) == 0 {
			return out, nil
		}
		if !progress {
			break
		}
	}
	var problems []string
	for _, it := range internal {
		if !unset[it.Name] {
			continue
		}
		var waits []string
		for _, w := range writers(it.Name) {
			for _, src := range w.SourceTopics {
				if _, ok := known(src); !ok {
					waits = append(waits, src)
				}
			}
		}
		slices.Sort(waits)
		problems = append(problems, fmt.Sprintf("%s (its writers read %s, whose counts depend on it)",
			it.Name, strings.Join(slices.Compact(waits), ", ")))
	}
	return nil, fmt.Errorf("%w: %s: a cycle of internal topics without a fixed count; set InternalTopic.Partitions on one of them",
		ErrInternalTopicPartitions, strings.Join(problems, "; "))
}
