package broker

// AddPartitionsToTxn (key 24), v0-v4: the transaction coordinator adds
// the partitions to the producer's transaction (v4 batches transactions
// and has verify_only, KIP-890).

import "github.com/twmb/franz-go/pkg/kmsg"

var addPartitionsToTxnHandler = handle(kmsg.AddPartitionsToTxn, 0, 4, func(s *deps, r *request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if req.Version >= 4 {
		for _, t := range req.Transactions {
			s.txns.prepare(t.TransactionalID)
		}
	} else {
		s.txns.prepare(req.TransactionalID)
	}
	return s.txns.coord.AddPartitionsToTxn(s.ctx, req)
})
