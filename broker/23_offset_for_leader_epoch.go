package broker

// OffsetForLeaderEpoch (key 23), v0-v4.
//
// The end offset of a leader epoch in this leader's log: followers
// truncate to it after a leader change so logs never diverge (KIP-101,
// KIP-279), and consumers use it to detect truncation (KIP-320). For the
// current leader epoch the answer is the log end offset.
//
// Once the authorizer is on, a follower (v3+ replica id set) needs
// CLUSTER_ACTION on the cluster (else CLUSTER_AUTHORIZATION_FAILED), a
// client DESCRIBE on each topic (else TOPIC_AUTHORIZATION_FAILED).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var offsetForLeaderEpochHandler = handle(kmsg.OffsetForLeaderEpoch, 0, 4, func(s *deps, r *request, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	snap := s.ctrl.Snapshot()
	follower := req.Version >= 3 && req.ReplicaID >= 0
	followerOK := follower && s.authorizeCluster(r, kmsg.ACLOperationClusterAction)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := snap.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			switch {
			case follower && !followerOK:
				sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			case !follower && !s.authorizeTopic(r, kmsg.ACLOperationDescribe, rt.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				meta := &t.Partitions[rp.Partition]
				if sp.ErrorCode = checkLeaderEpoch(s.cfg.NodeID, meta, rp.CurrentLeaderEpoch); sp.ErrorCode != 0 {
					break
				}
				p, err := s.parts.get(t.Name, rp.Partition)
				if err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				if rp.LeaderEpoch == meta.LeaderEpoch {
					sp.LeaderEpoch, sp.EndOffset = meta.LeaderEpoch, p.log.LogEndOffset()
				} else {
					sp.EndOffset, sp.LeaderEpoch = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
