package broker

// RemoveRaftVoter (key 81), v0.
//
// KIP-853 on hashicorp/raft: takes a node out of the controller voters.
// A node that still runs as a broker (registered, unfenced) stays in the
// quorum as an observer (Raft's DemoteVoter), so it keeps replicating the
// metadata; another is removed from the Raft configuration. A leader that
// removes itself steps down once the change is committed, and the
// remaining voters elect a new one. VOTER_NOT_FOUND for a node that does
// not vote, INVALID_REQUEST for the last voter, REQUEST_TIMED_OUT while
// another voter change runs, INCONSISTENT_CLUSTER_ID for another
// cluster's id, UNSUPPORTED_VERSION on a single node without a quorum.
// The voter directory id is ignored (gregor keeps none). Forwarded to the
// active controller (NOT_CONTROLLER when none is reachable).
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var removeRaftVoterHandler = handle(kmsg.RemoveRaftVoter, 0, 0, func(s *deps, r *request, req *kmsg.RemoveRaftVoterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
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
	ctx, cancel := context.WithTimeout(s.ctx, voterChangeTimeout*time.Millisecond)
	defer cancel()
	err := s.ctrl.RemoveVoter(ctx, req.VoterID)
	resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
	return resp, nil
})
