package appadmin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/millrace/millrace/processor"
)

// ResetOptions configures Reset. ApplicationID and BootstrapServers are
// required; the zero value of everything else is Kafka Streams' default.
type ResetOptions struct {
	// ApplicationID is the application's id: its consumer group and the
	// prefix of its internal topics (streams.Config.ApplicationID).
	ApplicationID string
	// BootstrapServers is a comma-separated host:port list.
	BootstrapServers string
	// InputTopics are the topics whose committed offsets move to Position.
	// Empty: the topology's input topics when Topology is set, else the
	// topics the group has committed offsets for, internal topics
	// excepted. Every one given must exist.
	InputTopics []string
	// InternalTopics restricts the internal topics deleted to these; each
	// must be one the tool finds (a dry run lists them). Empty: all.
	InternalTopics []string
	// Position is where the input offsets go; the zero value is Earliest.
	Position Position
	// DryRun computes and reports everything and changes nothing.
	DryRun bool
	// Force removes the group's members instead of refusing; use it only
	// for instances that are stopped but still listed (static members
	// stay until their session times out). A running instance rejoins.
	Force bool
	// StateDir, when set, is the application's state directory root
	// (streams.Config.StateDir): <StateDir>/<ApplicationID> is deleted,
	// unless a running instance holds its lock. Empty leaves local state
	// alone.
	StateDir string
	// Topology, when set, is the application's topology: its input topics
	// and internal topics (those declared by hand on a Processor API
	// topology included) are known without guessing.
	Topology *processor.Topology
	// Timeout bounds connecting and each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// TopicSource says where a list of topics came from.
type TopicSource string

// Where the input and internal topics of a reset or a description come
// from.
const (
	FromOptions          TopicSource = "given"                               // InputTopics or InternalTopics
	FromTopology         TopicSource = "the topology"                        // ResetOptions.Topology
	FromCommittedOffsets TopicSource = "the group's committed offsets"       // inferred: committed topics, internal ones excepted
	FromGroup            TopicSource = "the group's offsets and assignments" // describe: committed or assigned topics, internal ones excepted
	FromNames            TopicSource = "their names"                         // internal topics found by name (IsInternalTopic)
	FromNamesAndTopology TopicSource = "their names and the topology"        // both
)

// OffsetChange is the move of one input partition's committed offset.
type OffsetChange struct {
	TopicPartition
	// From is the committed offset before the reset; -1 when none.
	From int64
	// To is the committed offset after it.
	To int64
	// Note explains a target brought within the partition's range.
	Note string
}

// ResetReport is what Reset did, or in a dry run would do.
type ResetReport struct {
	ApplicationID string
	DryRun        bool
	Position      Position
	// Group is the consumer group as found before the reset.
	Group Group
	// RemovedMembers are the members Force removes.
	RemovedMembers []Member
	// InputTopics are the topics rewound, sorted, and where they came from.
	InputTopics     []string
	InputTopicsFrom TopicSource
	// MissingInputs are input topics of the topology, or topics with
	// committed offsets, that do not exist in the cluster: nothing to
	// rewind there.
	MissingInputs []string
	// Offsets are the moves of every partition of the input topics, sorted.
	Offsets []OffsetChange
	// Untouched are topics with committed offsets that are neither inputs
	// nor deleted internal topics: their offsets stay.
	Untouched []string
	// InternalTopics are the internal topics deleted, sorted, and how they
	// were found.
	InternalTopics     []string
	InternalTopicsFrom TopicSource
	// DeletedOffsets are the group's committed offsets of the deleted
	// internal topics (repartition topics), deleted with them.
	DeletedOffsets []TopicPartition
	// State is the local state directory deleted; nil without StateDir.
	State *LocalState
}

// changes counts what the reset changes.
func (r *ResetReport) changes() int {
	n := len(r.RemovedMembers) + len(r.InternalTopics) + len(r.DeletedOffsets)
	for _, o := range r.Offsets {
		if o.From != o.To {
			n++
		}
	}
	if r.State != nil && r.State.Exists {
		n++
	}
	return n
}

// Reset resets an application, as Kafka Streams' application reset tool
// does, so that its next run processes its input again from Position:
//
//  1. It refuses while the consumer group has members (ErrGroupNotEmpty,
//     listing them), unless Force, which removes them.
//  2. It moves the group's committed offsets of every partition of the
//     input topics to Position.
//  3. It deletes the committed offsets of the internal topics, then the
//     internal topics themselves (changelogs, repartition and foreign-key
//     topics), which the App creates again, empty, at its next start.
//  4. With StateDir, it deletes the application's local state directory,
//     unless a running instance holds it (ErrStateDirLocked).
//
// Everything is read and checked before anything changes: a problem (a
// missing input topic, members, a locked state directory) changes
// nothing. The report is returned with ErrNothingToDo when there is
// nothing to change, and with a failure part-way (running Reset again is
// then safe: it picks up what is left). Output topics are never touched.
func Reset(ctx context.Context, opts ResetOptions) (*ResetReport, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c, err := connect(ctx, opts.BootstrapServers, opts.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	r, err := plan(ctx, c, opts)
	if err != nil {
		return r, err
	}
	if opts.DryRun {
		return r, nil
	}
	return r, apply(ctx, c, opts, r)
}

// validate reports every problem of the options at once.
func (o *ResetOptions) validate() error {
	var problems []string
	if err := checkApplicationID(o.ApplicationID); err != nil {
		problems = append(problems, err.Error())
	}
	if len(splitList(o.BootstrapServers)) == 0 {
		problems = append(problems, "no bootstrap servers (e.g. localhost:9092)")
	}
	inputs := map[string]bool{}
	for _, t := range o.InputTopics {
		inputs[t] = true
	}
	for _, t := range o.InternalTopics {
		if inputs[t] {
			problems = append(problems, fmt.Sprintf("topic %s is given both as an input and as an internal topic", t))
		}
	}
	if o.Position.kind == posDuration && o.Position.ago < 0 {
		problems = append(problems, fmt.Sprintf("negative duration %v", o.Position.ago))
	}
	if o.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("negative timeout %v", o.Timeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	return nil
}

// checkApplicationID accepts what streams.Config accepts: letters,
// digits, '.', '_' and '-'.
func checkApplicationID(id string) error {
	if id == "" {
		return errors.New("no application id")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("application id %q: letters, digits, '.', '_' and '-' only", id)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("application id %q is not a name", id)
	}
	return nil
}

// plan reads the cluster and the local state and decides everything.
func plan(ctx context.Context, c *cluster, opts ResetOptions) (*ResetReport, error) {
	app := opts.ApplicationID
	r := &ResetReport{ApplicationID: app, DryRun: opts.DryRun, Position: opts.Position}
	var err error
	if r.Group, err = c.group(ctx, app); err != nil {
		return nil, err
	}
	if len(r.Group.Members) > 0 {
		if !opts.Force {
			return nil, notEmpty(r.Group)
		}
		r.RemovedMembers = slices.Clone(r.Group.Members)
	}
	committed, err := c.committed(ctx, app)
	if err != nil {
		return nil, err
	}
	topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	topo := TopicsOf(opts.Topology, app)
	explicit := map[string]bool{}
	for _, t := range opts.InputTopics {
		explicit[t] = true
	}

	// Internal topics: found by name, and the topology's.
	byName, byTopo := map[string]bool{}, map[string]bool{}
	for t := range topics {
		if IsInternalTopic(app, t) && !explicit[t] {
			byName[t] = true
		}
	}
	for _, t := range topo.Internal {
		if _, ok := topics[t]; ok && !explicit[t] {
			byTopo[t] = true
		}
	}
	found := map[string]bool{}
	maps.Copy(found, byName)
	maps.Copy(found, byTopo)
	internalNamed := func(t string) bool { return IsInternalTopic(app, t) || slices.Contains(topo.Internal, t) }
	switch {
	case len(opts.InternalTopics) > 0:
		var wrong []string
		for _, t := range opts.InternalTopics {
			if !found[t] {
				wrong = append(wrong, t)
			}
		}
		if len(wrong) > 0 {
			return nil, fmt.Errorf("%w: not an existing internal topic of %s: %s (the internal topics found are: %s)",
				ErrInvalidOptions, app, strings.Join(wrong, ", "), listOrNone(slices.Sorted(maps.Keys(found))))
		}
		r.InternalTopics = slices.Clone(opts.InternalTopics)
		r.InternalTopicsFrom = FromOptions
	default:
		r.InternalTopics = slices.Collect(maps.Keys(found))
		switch {
		case len(byTopo) == 0:
			r.InternalTopicsFrom = FromNames
		case len(byName) == 0:
			r.InternalTopicsFrom = FromTopology
		default:
			r.InternalTopicsFrom = FromNamesAndTopology
		}
	}
	slices.Sort(r.InternalTopics)
	r.InternalTopics = slices.Compact(r.InternalTopics)
	deleting := map[string]bool{}
	for _, t := range r.InternalTopics {
		deleting[t] = true
	}

	// Input topics: given, else the topology's, else inferred.
	var committedTopics []string
	for tp := range committed {
		committedTopics = append(committedTopics, tp.Topic)
	}
	slices.Sort(committedTopics)
	committedTopics = slices.Compact(committedTopics)
	switch {
	case len(opts.InputTopics) > 0:
		r.InputTopicsFrom = FromOptions
		var missing []string
		for _, t := range opts.InputTopics {
			if _, ok := topics[t]; !ok {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return nil, fmt.Errorf("%w: input topic not in the cluster: %s", ErrInvalidOptions, strings.Join(slices.Compact(missing), ", "))
		}
		r.InputTopics = slices.Clone(opts.InputTopics)
	case opts.Topology != nil:
		r.InputTopicsFrom = FromTopology
		r.InputTopics = slices.Clone(topo.Inputs)
	default:
		r.InputTopicsFrom = FromCommittedOffsets
		for _, t := range committedTopics {
			if !internalNamed(t) && !deleting[t] {
				r.InputTopics = append(r.InputTopics, t)
			}
		}
	}
	slices.Sort(r.InputTopics)
	r.InputTopics = slices.Compact(r.InputTopics)
	var inputs []string
	for _, t := range r.InputTopics {
		if _, ok := topics[t]; ok {
			inputs = append(inputs, t)
		} else {
			r.MissingInputs = append(r.MissingInputs, t)
		}
	}
	isInput := map[string]bool{}
	for _, t := range r.InputTopics {
		isInput[t] = true
	}
	for _, t := range committedTopics {
		if !isInput[t] && !deleting[t] {
			r.Untouched = append(r.Untouched, t)
		}
	}
	if r.Offsets, err = targets(ctx, c, opts.Position, inputs, topics, committed); err != nil {
		return nil, err
	}
	for tp := range committed {
		if deleting[tp.Topic] {
			r.DeletedOffsets = append(r.DeletedOffsets, tp)
		}
	}
	slices.SortFunc(r.DeletedOffsets, compareTP)

	if opts.StateDir != "" {
		st, err := inspectState(opts.StateDir, app)
		if err != nil {
			return nil, err
		}
		r.State = &st
	}
	if !r.Group.Exists && len(committed) == 0 && len(found) == 0 && len(opts.InputTopics) == 0 &&
		(r.State == nil || !r.State.Exists) {
		return nil, fmt.Errorf("%w: %s: the cluster at %s has no consumer group %s (no members, no committed offsets) "+
			"and no internal topic named %s-...; check --application-id", ErrUnknownGroup, app, c.bootstrap, app, app)
	}
	if r.changes() == 0 {
		local := ""
		if r.State != nil {
			local = " and no local state in " + opts.StateDir
		}
		return r, fmt.Errorf("%w: application %s is already reset: its input offsets are at %v, it has no internal topics%s",
			ErrNothingToDo, app, opts.Position, local)
	}
	return r, nil
}

// notEmpty is the error for a group with members.
func notEmpty(g Group) error {
	var ms []string
	for _, m := range g.Members {
		ms = append(ms, m.String())
	}
	return fmt.Errorf("%w: group %s is %s with %d member(s): %s; stop every instance of the application "+
		"(a stopped static member stays until its session times out), or pass --force to remove them",
		ErrGroupNotEmpty, g.ID, g.State, len(g.Members), strings.Join(ms, "; "))
}

// targets computes the new committed offset of every partition of the
// input topics.
func targets(ctx context.Context, c *cluster, pos Position, inputs []string, topics map[string]topicInfo,
	committed map[TopicPartition]int64) ([]OffsetChange, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	start, err := c.startOffsets(ctx, inputs)
	if err != nil {
		return nil, err
	}
	end, err := c.endOffsets(ctx, inputs)
	if err != nil {
		return nil, err
	}
	var at map[TopicPartition]int64
	switch pos.kind {
	case posTime:
		at, err = c.offsetsAt(ctx, ceilMilli(pos.at), inputs)
	case posDuration:
		at, err = c.offsetsAt(ctx, ceilMilli(time.Now().Add(-pos.ago)), inputs)
	}
	if err != nil {
		return nil, err
	}
	var out []OffsetChange
	for _, t := range inputs {
		for p := range topics[t].partitions {
			tp := TopicPartition{t, p}
			lo, okLo := start[tp]
			hi, okHi := end[tp]
			if !okLo || !okHi {
				return nil, fmt.Errorf("appadmin: no start or end offset listed for %s", tp)
			}
			from, ok := committed[tp]
			if !ok {
				from = -1
			}
			oc := OffsetChange{TopicPartition: tp, From: from}
			want := lo
			switch pos.kind {
			case posLatest:
				want = hi
			case posOffset:
				want = pos.offset
			case posShift:
				base := from
				if base < 0 {
					base = lo
				}
				want = base + pos.offset
			case posTime, posDuration:
				want = hi
				if o, ok := at[tp]; ok && o >= 0 {
					want = o
				}
			}
			switch {
			case want < lo:
				oc.Note = fmt.Sprintf("%d is before the partition's start; moved to its start", want)
				want = lo
			case want > hi:
				oc.Note = fmt.Sprintf("%d is past the partition's end; moved to its end", want)
				want = hi
			}
			oc.To = want
			out = append(out, oc)
		}
	}
	slices.SortFunc(out, func(a, b OffsetChange) int { return compareTP(a.TopicPartition, b.TopicPartition) })
	return out, nil
}

// ceilMilli is t in milliseconds, Kafka's unit, rounded up (the first
// record at or after 104.5 ms is the first at or after 105 ms), and not
// below 0: Kafka reads negative timestamps in ListOffsets as "earliest",
// "latest" and other special positions.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return max(ms, 0)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
