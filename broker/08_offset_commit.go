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
// names topics by id (UNKNOWN_TOPIC_ID).

import "github.com/twmb/franz-go/pkg/kmsg"

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
	s.groups.prepare(req.Group)
	return s.groups.coord.CommitOffsets(s.ctx, req)
})
