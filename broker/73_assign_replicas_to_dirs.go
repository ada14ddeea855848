package broker

// AssignReplicasToDirs (key 73), v0.
//
// Sent by a broker to the active controller (Kafka 3.7+, KIP-858). gregor
// brokers send it for one purpose: the replicas of a log dir that failed
// are assigned to Kafka's reserved LOST directory id, and the controller
// records them offline (controller.ReplicasOffline): their leadership
// moves to other in-sync replicas and the broker leaves their ISRs. An
// assignment to any other directory id is answered without error and not
// recorded: gregor's controller does not track which dir holds a replica
// (each broker finds its partitions in its dirs at start-up).
//
// Not the active controller: NOT_CONTROLLER at the top level. A broker
// epoch other than the registration's: STALE_BROKER_EPOCH; an unknown
// broker: BROKER_ID_NOT_REGISTERED. Unknown topics or partitions:
// UNKNOWN_TOPIC_OR_PARTITION for that partition. Needs CLUSTER_ACTION on
// the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// lostDirID is Kafka's DirectoryId.LOST: the replica's log dir failed.
var lostDirID = [16]byte{15: 1}

var assignReplicasToDirsHandler = handle(kmsg.AssignReplicasToDirs, 0, 0, func(s *deps, r *request, req *kmsg.AssignReplicasToDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AssignReplicasToDirsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if !s.ctrl.IsLeader() {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	var lost []controller.Replica
	for _, rd := range req.Directories {
		sd := kmsg.NewAssignReplicasToDirsResponseDirectory()
		sd.ID = rd.ID
		for _, rt := range rd.Topics {
			st := kmsg.NewAssignReplicasToDirsResponseDirectoryTopic()
			st.TopicID = rt.TopicID
			t := snap.TopicByID(rt.TopicID)
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAssignReplicasToDirsResponseDirectoryTopicPartition()
				sp.Partition = rp.Partition
				if t.Partition(rp.Partition) == nil {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else if rd.ID == lostDirID {
					lost = append(lost, controller.Replica{TopicID: rt.TopicID, Partition: rp.Partition})
				}
				st.Partitions = append(st.Partitions, sp)
			}
			sd.Topics = append(sd.Topics, st)
		}
		resp.Directories = append(resp.Directories, sd)
	}
	if err := s.ctrl.ReplicasOffline(req.BrokerID, req.BrokerEpoch, lost); err != nil {
		resp.ErrorCode = errCode(err)
		resp.Directories = nil
	}
	return resp, nil
})
