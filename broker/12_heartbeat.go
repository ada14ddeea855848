package broker

// Heartbeat (key 12), v0-v4.
//
// Keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
// rejoin. ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and FENCED_INSTANCE_ID
// (v3+) as Kafka.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var heartbeatHandler = handle(kmsg.Heartbeat, 0, 4, func(s *deps, r *request, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.Heartbeat(s.ctx, req)
})
