package broker

// JoinGroup (key 11), v0-v9.
//
// The response waits until the group's rebalance completes (up to the
// rebalance timeout); the connection handles nothing else meanwhile, as
// clients use a dedicated connection for their group. v4+ new members get
// MEMBER_ID_REQUIRED with their id first (KIP-394); v5+ static members
// (group.instance.id, KIP-345); v7+ return the protocol type and name;
// v9 SkipAssignment for a restarted static leader (KIP-814). Semantics are
// the coordinator's (gregor/coordinator).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var joinGroupHandler = handle(kmsg.JoinGroup, 0, 9, func(s *deps, r *request, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.JoinGroup(s.ctx, req, clientOf(r))
})
