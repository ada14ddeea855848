package broker

// AddOffsetsToTxn (key 25), v0-v4: the transaction coordinator adds the
// group's __consumer_offsets partition to the transaction.

import "github.com/twmb/franz-go/pkg/kmsg"

var addOffsetsToTxnHandler = handle(kmsg.AddOffsetsToTxn, 0, 4, func(s *deps, r *request, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	s.txns.prepare(req.TransactionalID)
	return s.txns.coord.AddOffsetsToTxn(s.ctx, req)
})
