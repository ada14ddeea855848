package coordinator

// The coordinator's requests. Each finds the shard of the group's
// __consumer_offsets partition and runs there. A group whose partition is
// not loaded gets NOT_COORDINATOR. Byte slices of requests are copied
// before they are kept, as they may alias the connection's read buffer. The returned error is non-nil only when
// ctx ends or the coordinator shuts down while the request waits.

import (
	"bytes"
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// await waits for a parked request's answer.
func await[T any](ctx context.Context, sh *shard, ch <-chan T) (T, error) {
	var zero T
	select {
	case r := <-ch:
		return r, nil
	case <-sh.ctx.Done():
		return zero, ErrClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// JoinGroup joins a member to a group; the answer waits for the
// rebalance to complete.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, cl Client) (*kmsg.JoinGroupResponse, error) {
	sh := c.shardFor(req.Group)
	if sh == nil {
		return joinErr(req, kerr.NotCoordinator.Code, req.MemberID), nil
	}
	// Request bytes may alias the caller's read buffer: keep copies.
	protocols := make([]kmsg.JoinGroupRequestProtocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protocols[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	req.Protocols = protocols
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	if !sh.post(func() { sh.join(req, cl, ch) }) {
		return joinErr(req, kerr.NotCoordinator.Code, req.MemberID), nil
	}
	return await(ctx, sh, ch)
}

// SyncGroup waits for the leader's assignment and returns the member's.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, error) {
	sh := c.shardFor(req.Group)
	assignments := make([]kmsg.SyncGroupRequestGroupAssignment, len(req.GroupAssignment))
	for i, a := range req.GroupAssignment {
		assignments[i] = kmsg.SyncGroupRequestGroupAssignment{MemberID: a.MemberID, MemberAssignment: bytes.Clone(a.MemberAssignment)}
	}
	req.GroupAssignment = assignments
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	if sh == nil || !sh.post(func() { sh.sync(req, ch) }) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return await(ctx, sh, ch)
}

// Heartbeat keeps a member alive and tells it of rebalances.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) (*kmsg.HeartbeatResponse, error) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = kerr.NotCoordinator.Code
	err := c.run(ctx, req.Group, func(sh *shard) { resp.ErrorCode = sh.heartbeat(req) })
	return resp, err
}

// LeaveGroup removes members from a group.
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) (*kmsg.LeaveGroupResponse, error) {
	var resp *kmsg.LeaveGroupResponse
	err := c.run(ctx, req.Group, func(sh *shard) { resp = sh.leave(req) })
	if resp == nil && err == nil {
		resp = req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
	}
	return resp, err
}

// CommitOffsets stores offsets; they are acknowledged once written to the
// group's __consumer_offsets partition. For v10 the caller resolves topic
// ids to names first (an unknown id is left as an empty name).
func (c *Coordinator) CommitOffsets(ctx context.Context, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, error) {
	var resp *kmsg.OffsetCommitResponse
	err := c.run(ctx, req.Group, func(sh *shard) { resp = sh.commit(req) })
	if resp == nil && err == nil {
		resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotCoordinator.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, err
}

// FetchOffsets returns a group's committed offsets for topics, or all of
// them when topics is nil. code is a group-level error (NOT_COORDINATOR).
func (c *Coordinator) FetchOffsets(ctx context.Context, group string, topics []TopicPartitions) (out []FetchedTopic, code int16, err error) {
	code = kerr.NotCoordinator.Code
	err = c.run(ctx, group, func(sh *shard) { out, code = sh.fetch(group, topics), 0 })
	return out, code, err
}

// DeleteOffsets deletes committed offsets of topics the group does not
// consume (OffsetDelete).
func (c *Coordinator) DeleteOffsets(ctx context.Context, req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, error) {
	var resp *kmsg.OffsetDeleteResponse
	err := c.run(ctx, req.Group, func(sh *shard) { resp = sh.deleteOffsets(req) })
	if resp == nil && err == nil {
		resp = req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
	}
	return resp, err
}

// DescribeGroup describes one group (DescribeGroups).
func (c *Coordinator) DescribeGroup(ctx context.Context, group string, includeOps bool) (kmsg.DescribeGroupsResponseGroup, error) {
	var d kmsg.DescribeGroupsResponseGroup
	ok := false
	err := c.run(ctx, group, func(sh *shard) { d, ok = sh.describe(group, includeOps), true })
	if !ok && err == nil {
		d = kmsg.NewDescribeGroupsResponseGroup()
		d.Group, d.ErrorCode = group, kerr.NotCoordinator.Code
	}
	return d, err
}

// ListGroups lists the groups of every loaded partition, filtered by state
// (case-insensitive; empty: all).
func (c *Coordinator) ListGroups(ctx context.Context, states []string) ([]Listing, error) {
	var out []Listing
	for _, sh := range c.allShards() {
		var l []Listing
		if err := sh.call(ctx, func() { l = sh.list(states) }); err != nil {
			if err == ErrClosed {
				continue
			}
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// DeleteGroup deletes an empty group and its offsets (DeleteGroups).
func (c *Coordinator) DeleteGroup(ctx context.Context, group string) (int16, error) {
	code := kerr.NotCoordinator.Code
	err := c.run(ctx, group, func(sh *shard) { code = sh.deleteGroup(group) })
	return code, err
}

// run runs f on group's shard; it does not run f if the partition is not
// loaded (the caller's NOT_COORDINATOR default stands).
func (c *Coordinator) run(ctx context.Context, group string, f func(sh *shard)) error {
	sh := c.shardFor(group)
	if sh == nil {
		return nil
	}
	err := sh.call(ctx, func() { f(sh) })
	if err == ErrClosed {
		return nil
	}
	return err
}
