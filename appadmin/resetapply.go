package appadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apply carries out a plan: members, offsets, internal topics, state.
func apply(ctx context.Context, c *cluster, opts ResetOptions, r *ResetReport) error {
	var done []string
	fail := func(step string, err error) error {
		did := "nothing had changed yet"
		if len(done) > 0 {
			did = "done before it: " + strings.Join(done, ", ")
		}
		return fmt.Errorf("appadmin: reset of %s failed to %s (%s; running the reset again is safe): %w",
			r.ApplicationID, step, did, err)
	}
	if len(r.RemovedMembers) > 0 {
		if err := removeMembers(ctx, c, r.Group); err != nil {
			return fail("remove the group's members", err)
		}
		done = append(done, "members removed")
	}
	if len(r.Offsets) > 0 {
		offs := kadm.Offsets{}
		for _, o := range r.Offsets {
			offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.To, LeaderEpoch: -1})
		}
		cctx, cancel := c.bounded(ctx)
		err := c.adm.CommitAllOffsets(cctx, r.ApplicationID, offs)
		cancel()
		if err != nil {
			return fail("commit the input offsets", groupErr(r.ApplicationID, err))
		}
		done = append(done, "input offsets reset")
	}
	if len(r.DeletedOffsets) > 0 {
		set := kadm.TopicsSet{}
		for _, tp := range r.DeletedOffsets {
			set.Add(tp.Topic, tp.Partition)
		}
		cctx, cancel := c.bounded(ctx)
		resp, err := c.adm.DeleteOffsets(cctx, r.ApplicationID, set)
		cancel()
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fail("delete the committed offsets of internal topics", groupErr(r.ApplicationID, err))
		}
		done = append(done, "committed offsets of internal topics deleted")
	}
	if len(r.InternalTopics) > 0 {
		if err := deleteTopics(ctx, c, r.InternalTopics); err != nil {
			return fail("delete the internal topics", err)
		}
		done = append(done, "internal topics deleted")
	}
	if r.State != nil && r.State.Exists {
		if err := deleteState(opts.StateDir, r.ApplicationID); err != nil {
			return fail("delete the local state", err)
		}
	}
	return nil
}

// groupErr explains the broker's refusal of a change to a group that has
// members again.
func groupErr(group string, err error) error {
	if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.NonEmptyGroup) {
		return fmt.Errorf("%w: group %s has members again (an instance started meanwhile?): %w", ErrGroupNotEmpty, group, err)
	}
	return err
}

// removeMembers removes every member of g, dynamic ones by member id and
// static ones by instance id (LeaveGroup v3+, as Kafka's admin client
// does), then waits until the group has none.
func removeMembers(ctx context.Context, c *cluster, g Group) error {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = g.ID
	for _, m := range g.Members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.MemberID
		if m.InstanceID != "" {
			lm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		reason := "removed by millrace reset --force"
		lm.Reason = &reason
		req.Members = append(req.Members, lm)
	}
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	resp, err := req.RequestWith(cctx, c.kc)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, m := range resp.Members {
		// A member that left by itself meanwhile is gone either way.
		if err := kerr.ErrorForCode(m.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownMemberID) {
			return fmt.Errorf("member %s: %w", m.MemberID, err)
		}
	}
	for {
		now, err := c.group(cctx, g.ID)
		if err != nil {
			return err
		}
		if len(now.Members) == 0 {
			return nil
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("%w (they rejoined after their removal: the instances are running; stop them)", notEmpty(now))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// deleteTopics deletes topics and waits until the cluster's metadata no
// longer lists them, so an App started right after does not find them.
func deleteTopics(ctx context.Context, c *cluster, topics []string) error {
	cctx, cancel := c.bounded(ctx)
	defer cancel()
	resp, err := c.adm.DeleteTopics(cctx, topics...)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Topic, t.Err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for {
		left, err := c.topics(cctx)
		if err != nil {
			return err
		}
		var still []string
		for _, t := range topics {
			if _, ok := left[t]; ok {
				still = append(still, t)
			}
		}
		if len(still) == 0 {
			return nil
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("deleted, but still listed by the cluster after %v: %s", c.timeout, strings.Join(still, ", "))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
