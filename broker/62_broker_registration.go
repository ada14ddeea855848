package broker

// BrokerRegistration (key 62), v0-v4.
//
// Sent by gregor nodes to the active controller (over the inter-broker
// listener; gregor has no separate controller RPC listener): registers
// or refreshes a broker's advertised listeners and rack, and unfences it.
// A node that is not the active controller answers NOT_CONTROLLER.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var brokerRegistrationHandler = handle(kmsg.BrokerRegistration, 0, 4, func(s *deps, r *request, req *kmsg.BrokerRegistrationRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
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
