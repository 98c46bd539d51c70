package streams

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/millrace/millrace/internal/placement"
)

// describeMembership reads the members and the state of consumer group
// group with one DescribeConsumerGroups call (ConsumerGroupDescribe, with
// librdkafka's fallback to DescribeGroups for a classic group), bounded by
// ctx, and returns them as placement's plain values for the standby
// placement to predict the range assignment from. The description's
// assignments are not read (see placement.Membership). A group the
// coordinator does not know comes back Dead with no members, as Kafka
// describes it; a group-level error is returned naming the group.
func describeMembership(ctx context.Context, admin *kafka.AdminClient, group string) (placement.Membership, error) {
	if admin == nil {
		return placement.Membership{}, fmt.Errorf("streams: describe group %q: no admin client", group)
	}
	res, err := admin.DescribeConsumerGroups(ctx, []string{group})
	if err != nil {
		return placement.Membership{}, fmt.Errorf("streams: describe group %q: %w", group, err)
	}
	if n := len(res.ConsumerGroupDescriptions); n != 1 {
		return placement.Membership{}, fmt.Errorf("streams: describe group %q: %d descriptions returned, want 1", group, n)
	}
	d := res.ConsumerGroupDescriptions[0]
	if d.Error.Code() != kafka.ErrNoError {
		return placement.Membership{}, fmt.Errorf("streams: describe group %q: %w", group, d.Error)
	}
	m := placement.Membership{
		Group:    d.GroupID,
		State:    groupState(d.State),
		Protocol: groupProtocol(d.Type),
		Assignor: d.PartitionAssignor,
		Members:  make([]placement.Described, len(d.Members)),
	}
	for i, md := range d.Members {
		m.Members[i] = placement.Described{InstanceID: md.GroupInstanceID, MemberID: md.ConsumerID, ClientID: md.ClientID}
	}
	return m, nil
}

// groupState maps confluent-kafka-go's group state onto placement's.
func groupState(s kafka.ConsumerGroupState) placement.State {
	switch s {
	case kafka.ConsumerGroupStatePreparingRebalance:
		return placement.StatePreparingRebalance
	case kafka.ConsumerGroupStateCompletingRebalance:
		return placement.StateCompletingRebalance
	case kafka.ConsumerGroupStateStable:
		return placement.StateStable
	case kafka.ConsumerGroupStateDead:
		return placement.StateDead
	case kafka.ConsumerGroupStateEmpty:
		return placement.StateEmpty
	default:
		return placement.StateUnknown
	}
}

// groupProtocol maps confluent-kafka-go's group type onto placement's
// protocol.
func groupProtocol(t kafka.ConsumerGroupType) placement.Protocol {
	switch t {
	case kafka.ConsumerGroupTypeClassic:
		return placement.ProtocolClassic
	case kafka.ConsumerGroupTypeConsumer:
		return placement.ProtocolConsumer
	default:
		return placement.ProtocolUnknown
	}
}
