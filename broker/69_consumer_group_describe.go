package broker

// ConsumerGroupDescribe (key 69), v0-v1 (KIP-848).
//
// Each consumer group's state (Empty, Assigning, Reconciling, Stable),
// group epoch, target assignment epoch, assignor and members with their
// epochs, subscriptions, current and target assignments; v1 adds the
// member type (1: consumer protocol). A group that does not exist or is
// not a consumer group gets GROUP_ID_NOT_FOUND. Needs DESCRIBE on the
// group; authorized operations when asked (no authorizer: all group
// operations).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var consumerGroupDescribeHandler = handle(kmsg.ConsumerGroupDescribe, 0, 1, func(s *deps, r *request, req *kmsg.ConsumerGroupDescribeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		if !s.authorizeGroup(r, kmsg.ACLOperationDescribe, id) {
			d := kmsg.NewConsumerGroupDescribeResponseGroup()
			d.Group, d.ErrorCode, d.AuthorizedOperations = id, kerr.GroupAuthorizationFailed.Code, opsNotAsked
			resp.Groups = append(resp.Groups, d)
			continue
		}
		s.groups.prepare(id)
		d, err := s.groups.coord.ConsumerGroupDescribe(s.ctx, id, req.IncludeAuthorizedOperations)
		if err != nil {
			return nil, err
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp, nil
})
