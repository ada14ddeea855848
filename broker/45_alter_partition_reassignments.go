package broker

// AlterPartitionReassignments (key 45), v0-v1.
//
// Starts, changes or cancels partition reassignments (controller/reassign.go):
// a replica list is the partition's target, a null list cancels its
// reassignment (NO_REASSIGNMENT_IN_PROGRESS when there is none). Per
// partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (empty
// list, duplicates, unregistered brokers, a cancellation needing an
// unclean election), and from v1 INVALID_REPLICATION_FACTOR when
// AllowReplicationFactorChange is false and the target has another size
// (KIP-860). Adding replicas start as followers; the reassignment
// completes when every target replica is in the ISR. Forwarded to the
// active controller.
//
// Needs ALTER on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED for the request and every partition).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var alterPartitionReassignmentsHandler = handle(kmsg.AlterPartitionAssignments, 0, 1, func(s *deps, r *request, req *kmsg.AlterPartitionAssignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	fill := func(code int16, msg *string) {
		for _, t := range req.Topics {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.ErrorMessage = p.Partition, code, msg
				rt.Partitions = append(rt.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		fill(kerr.ClusterAuthorizationFailed.Code, nil)
		return resp, nil
	}
	if fwd, ok := s.forwardIfNotController(r); ok {
		return fwd, nil
	}
	var reqs []controller.Reassignment
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			reqs = append(reqs, controller.Reassignment{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas})
		}
	}
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	results, err := s.ctrl.AlterPartitionReassignments(reqs, allowRF)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
		fill(resp.ErrorCode, nil)
		return resp, nil
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = p.Partition
			if err := results[i]; err != nil {
				sp.ErrorCode, sp.ErrorMessage = errCode(err), errMessage(err)
			}
			i++
			rt.Partitions = append(rt.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
})
