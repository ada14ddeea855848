package broker

// ConsumerGroupHeartbeat (key 68), v0-v1 (KIP-848).
//
// Joins (member epoch 0), heartbeats and leaves (-1; -2 for a static
// member leaving for now) a consumer group; the response carries the
// member's epoch and, when it changed or the request was a full one, its
// assignment. v0 generates the member id of a joining member that has
// none; v1 requires the client's own. Semantics (group epochs, the
// server-side assignor, revocation before reassignment, session and
// rebalance timeouts) are the coordinator's (coordinator/consumer_group.go).
// Needs READ on the group.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var consumerGroupHeartbeatHandler = handle(kmsg.ConsumerGroupHeartbeat, 0, 1, func(s *deps, r *request, req *kmsg.ConsumerGroupHeartbeatRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.ConsumerGroupHeartbeat(s.ctx, req, clientOf(r))
})
