package broker

// EndTxn (key 26), v0-v4: commit or abort; the coordinator writes
// PrepareCommit/PrepareAbort, answers, then has each partition's leader
// write the markers (WriteTxnMarkers) and writes the Complete state.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var endTxnHandler = handle(kmsg.EndTxn, 0, 4, func(s *deps, r *request, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	if !s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	s.txns.prepare(req.TransactionalID)
	return s.txns.coord.EndTxn(s.ctx, req)
})
