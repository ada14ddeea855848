package broker

// ListTransactions (key 66), v0-v1: the transactional ids of the
// __transaction_state partitions loaded on this broker.

import "github.com/twmb/franz-go/pkg/kmsg"

var listTransactionsHandler = handle(kmsg.ListTransactions, 0, 1, func(s *deps, r *request, req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	return s.txns.coord.ListTransactions(s.ctx, req)
})
