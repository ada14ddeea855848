package broker

// DescribeGroups (key 15), v0-v6.
//
// State, protocol type, and members; the protocol and each member's
// metadata and assignment only while the group is Stable, as Kafka. An
// unknown group is reported Dead (v6+: with GROUP_ID_NOT_FOUND). v3+
// authorized operations when asked (no authorizer: all group operations).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeGroupsHandler = handle(kmsg.DescribeGroups, 0, 6, func(s *deps, r *request, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		if !s.authorizeGroup(r, kmsg.ACLOperationDescribe, id) {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode, d.AuthorizedOperations = id, kerr.GroupAuthorizationFailed.Code, opsNotAsked
			resp.Groups = append(resp.Groups, d)
			continue
		}
		s.groups.prepare(id)
		d, err := s.groups.coord.DescribeGroup(s.ctx, id, req.IncludeAuthorizedOperations)
		if err != nil {
			return nil, err
		}
		if req.Version >= 6 && d.ErrorCode == 0 && d.State == "Dead" {
			d.ErrorCode = kerr.GroupIDNotFound.Code
			d.ErrorMessage = kmsg.StringPtr("group " + id + " not found")
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp, nil
})
