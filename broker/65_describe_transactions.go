package broker

// DescribeTransactions (key 65), v0: the state of transactional ids this
// broker coordinates (others get NOT_COORDINATOR).
//
// Needs DESCRIBE on each transactional id once the authorizer is on
// (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED for that id).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeTransactionsHandler = handle(kmsg.DescribeTransactions, 0, 0, func(s *deps, r *request, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	var denied []string
	allowed := req.TransactionalIDs[:0:0]
	for _, id := range req.TransactionalIDs {
		if s.authorize(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			allowed = append(allowed, id)
			s.txns.prepare(id)
		} else {
			denied = append(denied, id)
		}
	}
	if len(denied) == 0 {
		return s.txns.coord.DescribeTransactions(s.ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	if len(allowed) > 0 {
		req.TransactionalIDs = allowed
		cresp, err := s.txns.coord.DescribeTransactions(s.ctx, req)
		if err != nil {
			return nil, err
		}
		resp = cresp
	}
	for _, id := range denied {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp, st.TimeoutMillis = -1, -1, -1, -1
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
})
