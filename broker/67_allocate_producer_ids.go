package broker

// AllocateProducerIDs (key 67), v0.
//
// Sent by gregor nodes to the active controller for a block of producer
// ids, which the quorum records so no id is ever handed out twice.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allocateProducerIDsHandler = handle(kmsg.AllocateProducerIDs, 0, 0, func(s *deps, r *request, req *kmsg.AllocateProducerIDsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	first, err := s.ctrl.AllocateProducerIDs(producerIDBlock)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, producerIDBlock
	return resp, nil
})
