package broker

// DescribeCluster (key 60), v0-v2.
//
// The brokers, cluster id and controller. Endpoint type 1 (brokers) is
// served; type 2 (controllers) is answered with UNSUPPORTED_ENDPOINT_TYPE
// until gregor has a separate controller listener. Every registered broker
// is live, so none is reported fenced. Controller-only nodes are never
// listed, and the controller id is a broker (clientControllerID).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeClusterHandler = handle(kmsg.DescribeCluster, 0, 2, func(s *deps, r *request, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only broker endpoints (type 1) are served")
		return resp, nil
	}
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	resp.ClusterID = snap.ClusterID
	resp.ControllerID = clientControllerID(snap, s.cfg.NodeID)
	resp.ClusterAuthorizedOperations = opsNotAsked
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOpsAll
	}
	for _, b := range snap.Brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Rack, rb.IsFenced = b.NodeID, b.Rack, b.Fenced
		rb.Host, rb.Port = b.Endpoint(r.conn.adv.Name)
		if b.ControllerOnly || b.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		if b.NodeID == s.cfg.NodeID {
			rb.Host, rb.Port = r.conn.adv.Host, r.conn.adv.Port
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
})
