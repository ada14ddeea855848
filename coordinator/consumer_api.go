package coordinator

// The coordinator's KIP-848 consumer group requests; like api.go, each
// runs on the shard of the group's __consumer_offsets partition and
// answers NOT_COORDINATOR when that partition is not loaded here.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat joins, heartbeats or leaves a consumer group.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, cl Client) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	// Request slices may alias the caller's read buffer: keep copies.
	req.SubscribedTopicNames = slices.Clone(req.SubscribedTopicNames)
	if req.Topics != nil {
		ts := make([]kmsg.ConsumerGroupHeartbeatRequestTopic, len(req.Topics))
		for i, t := range req.Topics {
			ts[i] = kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.TopicID, Partitions: slices.Clone(t.Partitions)}
		}
		req.Topics = ts
	}
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	err := c.run(ctx, req.Group, func(sh *shard) { resp = sh.consumerHeartbeat(req, cl) })
	if resp == nil && err == nil {
		resp = req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
	}
	return resp, err
}

// ConsumerGroupDescribe describes one consumer group.
func (c *Coordinator) ConsumerGroupDescribe(ctx context.Context, group string, includeOps bool) (kmsg.ConsumerGroupDescribeResponseGroup, error) {
	var d kmsg.ConsumerGroupDescribeResponseGroup
	ok := false
	err := c.run(ctx, group, func(sh *shard) { d, ok = sh.consumerDescribe(group, includeOps), true })
	if !ok && err == nil {
		d = kmsg.NewConsumerGroupDescribeResponseGroup()
		d.Group, d.ErrorCode = group, kerr.NotCoordinator.Code
	}
	return d, err
}

// CheckOffsetFetchMember validates the member id and epoch of an
// OffsetFetch (v9+) of a consumer group: UNKNOWN_MEMBER_ID or
// STALE_MEMBER_EPOCH; other groups, and callers that are no member
// (empty id, negative epoch), pass.
func (c *Coordinator) CheckOffsetFetchMember(ctx context.Context, group, memberID string, epoch int32) (int16, error) {
	code := kerr.NotCoordinator.Code
	err := c.run(ctx, group, func(sh *shard) {
		code = 0
		if g := sh.groups[group]; g != nil && g.cg != nil {
			code = g.consumerCommitCheck(memberID, epoch, 9, true)
		}
	})
	return code, err
}
