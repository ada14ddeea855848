package broker

// ListPartitionReassignments (key 46), v0.
//
// Lists the partitions being reassigned with their replicas (the target
// followed by the removing ones) and adding and removing replicas: all of
// them for a null topic list, else those of the named partitions that
// are (unknown topics and partitions are left out, as Kafka does).
// Forwarded to the active controller, which has the latest state.
//
// Needs DESCRIBE on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var listPartitionReassignmentsHandler = handle(kmsg.ListPartitionReassignments, 0, 0, func(s *deps, r *request, req *kmsg.ListPartitionReassignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if fwd, ok := s.forwardIfNotController(r); ok {
		return fwd, nil
	}
	var filter map[string][]int32
	if req.Topics != nil {
		filter = map[string][]int32{}
		for _, t := range req.Topics {
			filter[t.Topic] = append(filter[t.Topic], t.Partitions...)
		}
	}
	for _, o := range s.ctrl.Snapshot().Reassignments(filter) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != o.Topic {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = o.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = o.Partition
		sp.Replicas, sp.AddingReplicas, sp.RemovingReplicas = o.Replicas, o.AddingReplicas, o.RemovingReplicas
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, sp)
	}
	return resp, nil
})
