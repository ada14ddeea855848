package broker

// DescribeTransactions (key 65), v0: the state of transactional ids this
// broker coordinates (others get NOT_COORDINATOR).

import "github.com/twmb/franz-go/pkg/kmsg"

var describeTransactionsHandler = handle(kmsg.DescribeTransactions, 0, 0, func(s *deps, r *request, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	for _, id := range req.TransactionalIDs {
		s.txns.prepare(id)
	}
	return s.txns.coord.DescribeTransactions(s.ctx, req)
})
