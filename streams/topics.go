package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/store"
)

// ErrCoPartitioning is wrapped by the error for a sub-topology whose
// source topics have different partition counts.
var ErrCoPartitioning = errors.New("streams: co-partitioned topics have different partition counts")

// ErrMissingSourceTopic is wrapped by the error for source topics that do
// not exist.
var ErrMissingSourceTopic = errors.New("streams: source topic missing")

// ErrInternalTopic is wrapped by the error for an internal topic that
// exists with the wrong partition count.
var ErrInternalTopic = errors.New("streams: internal topic has the wrong partition count")

// ErrUnreachable is wrapped by the error when the cluster cannot be reached
// within Config.StartupTimeout.
var ErrUnreachable = errors.New("streams: Kafka cluster unreachable")

// changelogSpec is one store's changelog topic.
type changelogSpec struct {
	store      string
	topic      string
	partitions int32
	config     map[string]string
	sub        int
}

// loggedStore is a store with a changelog, in the sub-topology using it.
type loggedStore struct {
	sub    int
	name   string
	logged store.Logged
}

// loggedStores returns the topology's stores that have a changelog.
func loggedStores(topo *processor.Topology) []loggedStore {
	var out []loggedStore
	for _, st := range topo.Subtopologies() {
		for _, name := range st.Stores {
			sb, _ := topo.StoreBuilder(name)
			if lg, ok := sb.(store.Logged); ok && lg.LoggingEnabled() {
				out = append(out, loggedStore{sub: st.ID, name: name, logged: lg})
			}
		}
	}
	return out
}

// sourceStore is a store whose changelog is the topic its table is read
// from (store.SourceChangelog), in the sub-topology reading it.
type sourceStore struct {
	sub     int
	name    string
	topic   string // as run
	convert func(*record.ConsumerRecord) ([]byte, []byte, string, error)
}

// sourceStores returns the topology's stores restored from a source topic,
// by name. A topic named as declared that the topology runs under another
// name (an internal topic) is given its name as run.
func sourceStores(topo *processor.Topology) map[string]sourceStore {
	out := map[string]sourceStore{}
	for _, st := range topo.Subtopologies() {
		for _, name := range st.Stores {
			sb, _ := topo.StoreBuilder(name)
			sl, ok := sb.(store.SourceLogged)
			if !ok {
				continue
			}
			sc, ok := sl.SourceChangelog()
			if !ok {
				continue
			}
			topic := sc.Topic
			if _, ok := topo.InternalTopic(topic); !ok {
				for _, it := range topo.InternalTopics() {
					if it.Declared == topic {
						topic = it.Name
					}
				}
			}
			out[name] = sourceStore{sub: st.ID, name: name, topic: topic, convert: sc.Convert}
		}
	}
	return out
}

// plan is what the App learned about the cluster at start.
type plan struct {
	partitions map[string]int32 // source topic -> partition count
	internal   map[string]int32 // internal topic (as run) -> partition count
	subParts   map[int]int32    // sub-topology -> partition count
	changelogs []changelogSpec
	byStore    map[string]changelogSpec
	sources    map[string]sourceStore // stores restored from their source topic, by name
}

// preparePlan reads metadata, checks source topics, derives the partition
// counts of internal topics, checks co-partitioning, and creates or checks
// the internal topics and the changelog topics.
func preparePlan(ctx context.Context, cl *clients, cfg *Config, topo *processor.Topology) (*plan, error) {
	admin, closeAdmin, err := cl.admin()
	if err != nil {
		return nil, err
	}
	defer closeAdmin()
	timeout := cfg.StartupTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	md, err := metadataWithin(ctx, admin, timeout)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err() // stopped while starting
		}
		return nil, fmt.Errorf("%w: no answer from %s within %v: %v", ErrUnreachable, cfg.BootstrapServers, timeout, err)
	}
	count := func(topic string) (int32, bool) {
		t, ok := md.Topics[topic]
		if !ok || t.Error.Code() != kafka.ErrNoError || len(t.Partitions) == 0 {
			return 0, false
		}
		return int32(len(t.Partitions)), true
	}
	p := &plan{partitions: map[string]int32{}, subParts: map[int]int32{}, byStore: map[string]changelogSpec{},
		sources: sourceStores(topo)}
	// Internal topics are created below: never missing, their counts
	// derived once every external source topic is known.
	var missing []string
	for _, t := range topo.SourceTopics() {
		if _, isInternal := topo.InternalTopic(t); !isInternal {
			if _, ok := count(t); !ok {
				missing = append(missing, t)
			}
		}
	}
	for _, g := range topo.GlobalStores() {
		if _, ok := count(g.Topic); !ok {
			missing = append(missing, g.Topic)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: %s (create them before starting)", ErrMissingSourceTopic, strings.Join(slices.Compact(missing), ", "))
	}
	internal, err := deriveInternal(topo, count)
	if err != nil {
		return nil, err
	}
	p.internal = internal
	countOf := func(topic string) (int32, bool) {
		if n, ok := internal[topic]; ok {
			return n, true
		}
		return count(topic)
	}
	var copart []string
	for _, st := range topo.Subtopologies() {
		var counts []string
		var n int32 = -1
		equal := true
		for _, t := range st.SourceTopics {
			c, _ := countOf(t)
			p.partitions[t] = c
			counts = append(counts, fmt.Sprintf("%s=%d", t, c))
			if n >= 0 && c != n {
				equal = false
			}
			n = max(n, c)
		}
		if !equal {
			msg := fmt.Sprintf("sub-topology %d reads %s", st.ID, strings.Join(counts, ", "))
			var fixed []string
			for _, t := range st.SourceTopics {
				if it, ok := topo.InternalTopic(t); ok && it.Partitions > 0 {
					fixed = append(fixed, fmt.Sprintf("%s=%d", t, it.Partitions))
				}
			}
			if len(fixed) > 0 {
				msg += fmt.Sprintf(" (internal topics with a fixed partition count: %s)", strings.Join(fixed, ", "))
			}
			copart = append(copart, msg)
		}
		p.subParts[st.ID] = max(n, 0)
	}
	if len(copart) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrCoPartitioning, strings.Join(copart, "; "))
	}

	// Changelog topics, one partition per task of the store's sub-topology.
	for _, ls := range loggedStores(topo) {
		spec := changelogSpec{store: ls.name, topic: store.ChangelogTopic(cfg.ApplicationID, ls.name),
			partitions: p.subParts[ls.sub], config: ls.logged.ChangelogConfig(), sub: ls.sub}
		p.changelogs = append(p.changelogs, spec)
		p.byStore[ls.name] = spec
	}
	var create []kafka.TopicSpecification
	var wrong []string
	for _, it := range topo.InternalTopics() {
		want := internal[it.Name]
		if n, ok := count(it.Name); ok {
			if n != want {
				why := "derived from the topology"
				if it.Partitions > 0 {
					why = "declared"
				}
				wrong = append(wrong, fmt.Sprintf("%s has %d partitions, %d %s", it.Name, n, want, why))
			}
			continue
		}
		create = append(create, kafka.TopicSpecification{Topic: it.Name, NumPartitions: int(want),
			ReplicationFactor: cfg.ReplicationFactor, Config: it.Config})
	}
	for _, c := range p.changelogs {
		if n, ok := count(c.topic); ok {
			if n != c.partitions {
				wrong = append(wrong, fmt.Sprintf("%s has %d partitions, its sub-topology has %d", c.topic, n, c.partitions))
			}
			continue
		}
		create = append(create, kafka.TopicSpecification{Topic: c.topic, NumPartitions: int(c.partitions),
			ReplicationFactor: cfg.ReplicationFactor, Config: c.config})
	}
	if len(wrong) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInternalTopic, strings.Join(wrong, "; "))
	}
	if len(create) > 0 {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := admin.CreateTopics(cctx, create, kafka.SetAdminOperationTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("streams: create internal topics: %w", err)
		}
		for _, r := range res {
			if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
				return nil, fmt.Errorf("streams: create internal topic %s: %w", r.Topic, r.Error)
			}
		}
		cfg.Logger.Info("created internal topics", zapTopics(create))
		// A topic just created may not be in every broker's metadata yet:
		// the consumer would report it unknown, and the source-topic check
		// take that for a deleted topic.
		if err := awaitTopics(cctx, admin, create); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// awaitTopics waits until the cluster's metadata lists every topic created
// with its partitions, or ctx ends.
func awaitTopics(ctx context.Context, admin *kafka.AdminClient, created []kafka.TopicSpecification) error {
	for {
		var waiting []string
		md, err := admin.GetMetadata(nil, true, 1_000)
		for _, c := range created {
			if err != nil {
				waiting = append(waiting, c.Topic)
				continue
			}
			t, ok := md.Topics[c.Topic]
			if !ok || t.Error.Code() != kafka.ErrNoError || len(t.Partitions) != c.NumPartitions {
				waiting = append(waiting, c.Topic)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("streams: internal topics created but not visible in the cluster's metadata in time: %s: %w",
				strings.Join(waiting, ", "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// metadataWithin asks for the cluster's metadata until it answers, timeout
// passes or ctx ends; librdkafka's call ignores contexts, so it is made in
// short slices.
func metadataWithin(ctx context.Context, admin *kafka.AdminClient, timeout time.Duration) (*kafka.Metadata, error) {
	const slice = 250 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		wait := min(time.Until(deadline), slice)
		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		md, err := admin.GetMetadata(nil, true, int(wait.Milliseconds()))
		if err == nil {
			return md, nil
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return nil, err
		}
	}
}
