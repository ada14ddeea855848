package broker

// ListTransactions (key 66), v0-v1: the transactional ids of the
// __transaction_state partitions loaded on this broker.
//
// Once the authorizer is on, lists only the transactional ids the
// principal may DESCRIBE (the others are left out silently, as in Kafka).

import "github.com/twmb/franz-go/pkg/kmsg"

var listTransactionsHandler = handle(kmsg.ListTransactions, 0, 1, func(s *deps, r *request, req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	resp, err := s.txns.coord.ListTransactions(s.ctx, req)
	if err != nil || !s.authz.enabled() {
		return resp, err
	}
	visible := resp.TransactionStates[:0]
	for _, st := range resp.TransactionStates {
		if s.authorizeQuiet(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, st.TransactionalID) {
			visible = append(visible, st)
		}
	}
	resp.TransactionStates = visible
	return resp, nil
})
