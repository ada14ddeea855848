package broker

// LeaveGroup (key 13), v0-v5.
//
// v0-v2 remove one member id; v3+ a batch of members, each by member id
// and/or group.instance.id (KIP-345), with a per-member error.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var leaveGroupHandler = handle(kmsg.LeaveGroup, 0, 5, func(s *deps, r *request, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.LeaveGroup(s.ctx, req)
})
