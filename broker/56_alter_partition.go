package broker

// AlterPartition (key 56), v0-v3.
//
// Sent by partition leaders to the active controller to shrink or expand
// a partition's ISR. The controller checks the leader and its epochs
// (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA) and
// answers with the partition's new state.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var alterPartitionHandler = handle(kmsg.AlterPartition, 0, 3, func(s *deps, r *request, req *kmsg.AlterPartitionRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		id := rt.TopicID
		if req.Version < 2 {
			if t := snap.Topic(rt.Topic); t != nil {
				id = t.ID
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			isr := rp.NewISR
			if req.Version >= 3 {
				isr = nil
				for _, e := range rp.NewEpochISR {
					isr = append(isr, e.BrokerID)
				}
			}
			p, err := s.ctrl.AlterPartition(id, rp.Partition, req.BrokerID, rp.LeaderEpoch, rp.PartitionEpoch, isr)
			if err != nil {
				sp.ErrorCode = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					s.log.Warn().Err(err).Msg("alter partition failed")
				}
			} else {
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
