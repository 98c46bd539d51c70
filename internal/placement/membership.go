package placement

import (
	"fmt"
	"slices"
	"strings"
)

// Described is one member of a group description (the Admin API's
// DescribeConsumerGroups), as plain values.
type Described struct {
	// InstanceID is the member's group.instance.id; empty for a dynamic
	// member.
	InstanceID string
	// MemberID is the member id the coordinator knows it by (confluent-kafka-go
	// calls it ConsumerID): broker-made on the classic protocol
	// (client.id or instance id, then a UUID), client-made under KIP-848.
	MemberID string
	// ClientID is the member's client.id.
	ClientID string
}

// State is a consumer group's state as a description reports it.
type State int

// The states of a group. Under KIP-848 librdkafka 2.11.1 reports the
// broker's Assigning and Reconciling states as StateUnknown.
const (
	StateUnknown State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
	StateEmpty
)

// String returns the state's name as Kafka spells it.
func (s State) String() string {
	switch s {
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	case StateDead:
		return "Dead"
	case StateEmpty:
		return "Empty"
	default:
		return "Unknown"
	}
}

// Protocol is the group protocol a described group runs.
type Protocol int

// The group protocols.
const (
	ProtocolUnknown Protocol = iota
	// ProtocolClassic is the JoinGroup/SyncGroup protocol; the group leader
	// runs the assignor.
	ProtocolClassic
	// ProtocolConsumer is KIP-848's protocol; the broker runs the assignor.
	ProtocolConsumer
)

// String returns the protocol's name as group.protocol spells it.
func (p Protocol) String() string {
	switch p {
	case ProtocolClassic:
		return "classic"
	case ProtocolConsumer:
		return "consumer"
	default:
		return "unknown"
	}
}

// Membership is what a group description says about the group's members.
// Described assignments are left out on purpose: on the classic protocol
// they are returned only while the group is Stable, and under KIP-848 the
// embedded broker sends them without topic names; an instance knows its own
// assignment from its rebalance callbacks.
type Membership struct {
	// Group is the group id.
	Group string
	// State is the group's state.
	State State
	// Protocol is the group's protocol.
	Protocol Protocol
	// Assignor is the partition assignor the group uses ("range", ...).
	Assignor string
	// Members are the group's members in the order of the description.
	Members []Described
}

// Keys returns the members of the description in the assignor's order (see
// the package's Keys).
func (m Membership) Keys() (members []Member, predictable bool, err error) {
	members, predictable, err = Keys(m.Members)
	if err != nil {
		return nil, false, fmt.Errorf("placement: group %q: %w", m.Group, err)
	}
	return members, predictable, nil
}

// Keys returns the described members as Members sorted in the range
// assignor's order. When every member has an instance id, the keys are the
// instance ids; when none has, the member ids; in both cases the order is
// predictable. A mix of static and dynamic members gives member-id keys and
// predictable false: librdkafka's classic range compares two members by
// instance id only when both have one, which is no total order for a mix.
// An empty member id (of a dynamic member) or a key given twice is an error.
// No members give no keys, predictably.
func Keys(described []Described) (members []Member, predictable bool, err error) {
	static := 0
	for _, d := range described {
		if d.InstanceID != "" {
			static++
		}
	}
	allStatic := static == len(described)
	predictable = allStatic || static == 0
	members = make([]Member, 0, len(described))
	for _, d := range described {
		key := d.MemberID
		if allStatic {
			key = d.InstanceID
		}
		if key == "" {
			return nil, false, fmt.Errorf("placement: member with client id %q has no member id", d.ClientID)
		}
		members = append(members, Member{Key: key})
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(members); i++ {
		if members[i].Key == members[i-1].Key {
			kind := "member id"
			if allStatic {
				kind = "instance id"
			}
			return nil, false, fmt.Errorf("placement: %s %q is described for more than one member", kind, members[i].Key)
		}
	}
	return members, predictable, nil
}
