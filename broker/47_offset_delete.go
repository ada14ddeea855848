package broker

// OffsetDelete (key 47), v0.
//
// Deletes committed offsets of a group (tombstones). A "consumer" group
// with members keeps the offsets of topics its members subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC); other non-empty groups get NON_EMPTY_GROUP.
//
// Needs DELETE on the group once the authorizer is on (else
// GROUP_AUTHORIZATION_FAILED). Not yet: READ on each topic.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var offsetDeleteHandler = handle(kmsg.OffsetDelete, 0, 0, func(s *deps, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationDelete, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.DeleteOffsets(s.ctx, req)
})
