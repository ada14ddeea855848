package broker

// TxnOffsetCommit (key 28), v0-v4.
//
// A transactional producer commits its consumed offsets as part of its
// transaction: the group coordinator keeps them pending for the producer
// and makes them the group's offsets when the transaction's COMMIT marker
// reaches the group's __consumer_offsets partition (groups_txn.go), or
// drops them on ABORT. v3+ check the member's generation (KIP-447).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var txnOffsetCommitHandler = handle(kmsg.TxnOffsetCommit, 0, 4, func(s *deps, r *request, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	switch {
	case !s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		return txnOffsetError(req, kerr.TransactionalIDAuthorizationFailed.Code), nil
	case !s.authorizeGroup(r, kmsg.ACLOperationRead, req.Group):
		return txnOffsetError(req, kerr.GroupAuthorizationFailed.Code), nil
	}
	denied := map[string]bool{}
	for _, rt := range req.Topics {
		if !s.authorizeTopic(r, kmsg.ACLOperationRead, rt.Topic) {
			denied[rt.Topic] = true
		}
	}
	if len(denied) > 0 {
		resp := txnOffsetError(req, 0)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if denied[resp.Topics[i].Topic] {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.TopicAuthorizationFailed.Code
				} else {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownServerError.Code
				}
			}
		}
		return resp, nil
	}
	s.groups.prepare(req.Group)
	return s.groups.coord.CommitTxnOffsets(s.ctx, req)
})

// txnOffsetError answers every partition of req with code.
func txnOffsetError(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
