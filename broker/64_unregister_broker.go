package broker

// UnregisterBroker (key 64), v0 (KIP-500; Kafka's kafka-cluster.sh
// unregister --id).
//
// Removes a broker's registration from the cluster metadata after moving
// its leaderships and taking it out of every ISR (controller
// UnregisterBroker); its id stays in the replica lists of its partitions
// until they are reassigned. An unknown id is BROKER_ID_NOT_REGISTERED. A
// broker still running registers again at its next heartbeat, so stop it
// first. Forwarded to the active controller; once acknowledged, the
// answering broker's Metadata and DescribeCluster no longer list it.
//
// Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var unregisterBrokerHandler = handle(kmsg.UnregisterBroker, 0, 0, func(s *deps, r *request, req *kmsg.UnregisterBrokerRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if fwd, ok := s.forwardIfNotController(r); ok {
		if ur, ok := fwd.(*kmsg.UnregisterBrokerResponse); ok && ur.ErrorCode == 0 {
			s.awaitMetadata("UnregisterBroker", func(snap *controller.Snapshot) bool {
				_, ok := snap.Broker(req.BrokerID)
				return !ok
			})
		}
		return fwd, nil
	}
	if err := s.ctrl.UnregisterBroker(req.BrokerID); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
		return resp, nil
	}
	return resp, nil
})
