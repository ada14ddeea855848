package broker

// FindCoordinator (key 10), v0-v6.
//
// The coordinator of a group is the leader of its __consumer_offsets
// partition, abs(javaHash(group)) % offsets.topic.num.partitions; the
// topic is created on first use. v4+ batches keys (KIP-699). A transactional
// id's coordinator (key type 1) is the leader of its __transaction_state
// partition, likewise; other key types get INVALID_REQUEST.
//
// Needs DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) or on the
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) once the
// authorizer is on.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var findCoordinatorHandler = handle(kmsg.FindCoordinator, 0, 6, func(s *deps, r *request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		switch {
		case req.CoordinatorType == 0 && !s.authorizeGroup(r, kmsg.ACLOperationDescribe, key):
			c.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return c
		case req.CoordinatorType == 1 && !s.authorize(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key):
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return c
		}
		switch req.CoordinatorType {
		case 0:
			c.NodeID, c.Host, c.Port, c.ErrorCode = s.groups.coordinatorFor(key, r.conn.adv)
		case 1:
			c.NodeID, c.Host, c.Port, c.ErrorCode = s.txns.coordinatorFor(key, r.conn.adv)
		default:
			c.ErrorCode = kerr.InvalidRequest.Code
		}
		if c.ErrorCode != 0 && c.ErrorMessage == nil {
			c.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(c.ErrorCode).Error())
		}
		return c
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, find(key))
		}
		return resp, nil
	}
	c := find(req.CoordinatorKey)
	resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
	if c.ErrorCode != 0 {
		resp.ErrorMessage = c.ErrorMessage
	}
	return resp, nil
})
