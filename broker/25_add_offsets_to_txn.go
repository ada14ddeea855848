package broker

// AddOffsetsToTxn (key 25), v0-v4: the transaction coordinator adds the
// group's __consumer_offsets partition to the transaction.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var addOffsetsToTxnHandler = handle(kmsg.AddOffsetsToTxn, 0, 4, func(s *deps, r *request, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	if !s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	s.txns.prepare(req.TransactionalID)
	return s.txns.coord.AddOffsetsToTxn(s.ctx, req)
})
