package broker

// BrokerRegistration (key 62), v0-v4.
//
// Sent by gregor nodes to the active controller (over the inter-broker
// listener; gregor has no separate controller RPC listener): registers
// or refreshes a broker's advertised listeners and rack, and unfences it.
// A node that is not the active controller answers NOT_CONTROLLER.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var brokerRegistrationHandler = handle(kmsg.BrokerRegistration, 0, 4, func(s *deps, r *request, req *kmsg.BrokerRegistrationRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	if req.ClusterID != "" && snap.ClusterID != "" && req.ClusterID != snap.ClusterID {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp, nil
	}
	b := controller.Broker{NodeID: req.BrokerID, Rack: req.Rack}
	for i, l := range req.Listeners {
		b.Endpoints = append(b.Endpoints, controller.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
		if i == 0 {
			b.Host, b.Port = l.Host, int32(l.Port)
		}
	}
	if err := s.ctrl.RegisterBroker(b); err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	if rb, ok := s.ctrl.Snapshot().Broker(req.BrokerID); ok {
		resp.BrokerEpoch = rb.Epoch
	}
	return resp, nil
})
