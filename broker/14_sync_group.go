package broker

// SyncGroup (key 14), v0-v5.
//
// Members wait until the leader sends the assignment, which is written to
// __consumer_offsets before anyone is answered; each gets its own. v5
// checks the protocol type and name (INCONSISTENT_GROUP_PROTOCOL).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var syncGroupHandler = handle(kmsg.SyncGroup, 0, 5, func(s *deps, r *request, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.SyncGroup(s.ctx, req)
})
