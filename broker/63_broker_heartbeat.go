package broker

// BrokerHeartbeat (key 63), v0-v2.
//
// Sent by gregor nodes to the active controller every
// broker.heartbeat.interval.ms; a broker silent for
// broker.session.timeout.ms is fenced and its leaderships move. want_fence
// (or want_shutdown) is a controlled shutdown: leadership moves first.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var brokerHeartbeatHandler = handle(kmsg.BrokerHeartbeat, 0, 2, func(s *deps, r *request, req *kmsg.BrokerHeartbeatRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	fenced, err := s.ctrl.BrokerHeartbeat(req.BrokerID, req.WantFence || req.WantShutdown)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	resp.IsFenced = fenced
	resp.IsCaughtUp = true
	resp.ShouldShutdown = req.WantShutdown && fenced
	return resp, nil
})
