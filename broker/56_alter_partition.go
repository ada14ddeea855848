package broker

// AlterPartition (key 56), v0-v3.
//
// Sent by partition leaders to the active controller to shrink or expand
// a partition's ISR. The controller checks the leader and its epochs
// (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA) and
// answers with the partition's new state. All partitions of a request
// are checked one by one and committed as one controller write.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var alterPartitionHandler = handle(kmsg.AlterPartition, 0, 3, func(s *deps, r *request, req *kmsg.AlterPartitionRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	var changes []controller.ISRChange
	for _, rt := range req.Topics {
		id := rt.TopicID
		if req.Version < 2 {
			if t := snap.Topic(rt.Topic); t != nil {
				id = t.ID
			}
		}
		for _, rp := range rt.Partitions {
			isr := rp.NewISR
			if req.Version >= 3 {
				isr = nil
				for _, e := range rp.NewEpochISR {
					isr = append(isr, e.BrokerID)
				}
			}
			changes = append(changes, controller.ISRChange{TopicID: id, Partition: rp.Partition,
				LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch, ISR: isr})
		}
	}
	res, err := s.ctrl.AlterPartitions(req.BrokerID, changes)
	if err != nil {
		res = make([]controller.ISRResult, len(changes))
		for i := range res {
			res[i].Err = err
		}
	}
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			if r := res[i]; r.Err != nil {
				sp.ErrorCode = errCode(r.Err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					s.log.Warn().Err(r.Err).Msg("alter partition failed")
				}
			} else {
				p := r.Partition
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
			}
			i++
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
