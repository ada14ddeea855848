package broker

// AddRaftVoter (key 80), v0-v1.
//
// KIP-853 on hashicorp/raft: makes a node a controller voter. The
// request's listener named as controller.listener.names is the node's
// Raft address (INVALID_REQUEST without it). An observer (a Raft
// non-voter) is promoted once it holds the leader's log up to the commit
// index; a node not in the quorum is first added as a non-voter, and
// taken out again if it does not catch up within timeout_ms
// (REQUEST_TIMED_OUT, also while another voter change runs).
// DUPLICATE_VOTER for a voter, INCONSISTENT_CLUSTER_ID for another
// cluster's id, UNSUPPORTED_VERSION on a single node without a quorum.
// The answer comes once the new configuration is committed, also for v1
// with ack_when_committed false. The voter directory id is ignored
// (gregor keeps none). Forwarded to the active controller (NOT_CONTROLLER
// when none is reachable).
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var addRaftVoterHandler = handle(kmsg.AddRaftVoter, 0, 1, func(s *deps, r *request, req *kmsg.AddRaftVoterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if fwd, ok := s.forwardIfNotController(r); ok {
		return fwd, nil
	}
	if code, msg := checkVoterClusterID(s, req.ClusterID); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp, nil
	}
	addr := ""
	for _, l := range req.Listeners {
		if l.Name == s.cfg.Cluster.ControllerListener && l.Host != "" && l.Port != 0 {
			addr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
	}
	if addr == "" || req.VoterID < 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("add voter request needs a voter id >= 0 and an endpoint (host and port) for the controller listener " + s.cfg.Cluster.ControllerListener)
		return resp, nil
	}
	timeout := req.TimeoutMillis
	if timeout <= 0 {
		timeout = voterChangeTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(timeout)*time.Millisecond)
	defer cancel()
	err := s.ctrl.AddVoter(ctx, req.VoterID, addr)
	resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
	return resp, nil
})

// checkVoterClusterID answers INCONSISTENT_CLUSTER_ID for a voter change
// naming another cluster (a null id names none).
func checkVoterClusterID(s *deps, id *string) (int16, *string) {
	if id == nil {
		return 0, nil
	}
	if have := s.ctrl.Snapshot().ClusterID; *id != have {
		return kerr.InconsistentClusterID.Code, kmsg.StringPtr("the request's cluster id " + strconv.Quote(*id) + " is not this cluster's " + strconv.Quote(have))
	}
	return 0, nil
}
