package broker

// AddPartitionsToTxn (key 24), v0-v4: the transaction coordinator adds
// the partitions to the producer's transaction (v4 batches transactions
// and has verify_only, KIP-890).
//
// Authorization: see addPartitionsDenied.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var addPartitionsToTxnHandler = handle(kmsg.AddPartitionsToTxn, 0, 4, func(s *deps, r *request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if code := s.addPartitionsDenied(r, req); code != nil {
		return code, nil
	}
	if req.Version >= 4 {
		for _, t := range req.Transactions {
			s.txns.prepare(t.TransactionalID)
		}
	} else {
		s.txns.prepare(req.TransactionalID)
	}
	return s.txns.coord.AddPartitionsToTxn(s.ctx, req)
})

// addPartitionsDenied checks an AddPartitionsToTxn as Kafka does: v4+ is
// sent by brokers and needs CLUSTER_ACTION on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED); v0-v3 need WRITE on the transactional id
// (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition) and on
// each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions and
// OPERATION_NOT_ATTEMPTED for the others). It returns the denial's
// response, or nil to go on.
func (s *deps) addPartitionsDenied(r *request, req *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		if s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
			return nil
		}
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	idOK := s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID)
	denied := map[string]bool{}
	for _, t := range req.Topics {
		if idOK && !s.authorizeTopic(r, kmsg.ACLOperationWrite, t.Topic) {
			denied[t.Topic] = true
		}
	}
	if idOK && len(denied) == 0 {
		return nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		code := kerr.OperationNotAttempted.Code
		switch {
		case !idOK:
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case denied[t.Topic]:
			code = kerr.TopicAuthorizationFailed.Code
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
