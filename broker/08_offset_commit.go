package broker

// OffsetCommit (key 8), v0-v10.
//
// Commits are acknowledged after their record is appended to the group's
// __consumer_offsets partition. Group members commit for their generation
// (also while a rebalance is being prepared, so offsets can be committed
// on revoke); simple consumers (generation -1, no member id) commit to
// groups without members. Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION.
// v1's per-partition timestamp and v2-v4's retention time are ignored
// (offsets.retention.minutes applies). v6+ store the leader epoch; v10
// names topics by id (UNKNOWN_TOPIC_ID). Once the authorizer is on it
// needs READ on the group (else GROUP_AUTHORIZATION_FAILED for every
// partition) and READ on each topic (else TOPIC_AUTHORIZATION_FAILED for
// that topic's partitions; the others are committed).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var offsetCommitHandler = handle(kmsg.OffsetCommit, 0, 10, func(s *deps, r *request, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	if req.Version == 0 {
		req.Generation, req.MemberID = -1, ""
	}
	if req.Version >= 10 {
		snap := s.ctrl.Snapshot()
		for i := range req.Topics {
			req.Topics[i].Topic = ""
			if t := snap.TopicByID(req.Topics[i].TopicID); t != nil {
				req.Topics[i].Topic = t.Name
			}
		}
	}
	groupOK := s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group)
	var denied []kmsg.OffsetCommitRequestTopic
	allowed := req.Topics[:0:0]
	for _, rt := range req.Topics {
		if groupOK && s.authorizeTopic(r, kmsg.ACLOperationRead, rt.Topic) {
			allowed = append(allowed, rt)
		} else {
			denied = append(denied, rt)
		}
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	if groupOK {
		req.Topics = allowed
		s.groups.prepare(req.Group)
		cresp, err := s.groups.coord.CommitOffsets(s.ctx, req)
		if err != nil {
			return nil, err
		}
		if len(denied) == 0 {
			return cresp, nil
		}
		resp = cresp
	}
	code := kerr.GroupAuthorizationFailed.Code
	if groupOK {
		code = kerr.TopicAuthorizationFailed.Code
	}
	for _, rt := range denied {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, p := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
