package broker

// DeleteGroups (key 42), v0-v3.
//
// Deletes empty groups and their committed offsets (tombstones in
// __consumer_offsets). A group with members gets NON_EMPTY_GROUP, an
// unknown one GROUP_ID_NOT_FOUND.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var deleteGroupsHandler = handle(kmsg.DeleteGroups, 0, 3, func(s *deps, r *request, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		code := kerr.GroupAuthorizationFailed.Code
		if s.authorizeGroup(r, kmsg.ACLOperationDelete, id) {
			s.groups.prepare(id)
			var err error
			if code, err = s.groups.coord.DeleteGroup(s.ctx, id); err != nil {
				return nil, err
			}
		}
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group, g.ErrorCode = id, code
		if code != 0 && req.Version >= 3 {
			g.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(code).Error())
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
})
