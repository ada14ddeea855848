package broker

// InitProducerId (key 22), v0-v5.
//
// Idempotent producers (no transactional id) get a fresh producer id and
// epoch 0, as Kafka does: a producer that asks again (to bump its epoch
// after an error, KIP-360) gets a new id too. With a transactional id the
// transaction coordinator answers (epoch bump, fencing, KIP-360).
//
// With the authorizer on, a transactional id needs WRITE on it (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED); without one, IDEMPOTENT_WRITE on
// the cluster or WRITE on any topic (KIP-679; else
// CLUSTER_AUTHORIZATION_FAILED), as in Kafka's KafkaApis.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var initProducerIDHandler = handle(kmsg.InitProducerID, 0, 5, func(s *deps, r *request, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID = -1
	resp.ProducerEpoch = -1
	if req.TransactionalID != nil {
		if !s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return resp, nil
		}
		s.txns.prepare(*req.TransactionalID)
		return s.txns.coord.InitProducerID(s.ctx, req)
	}
	if !s.authorizeIdempotent(r) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	id, err := s.pids.allocate()
	if err != nil {
		s.log.Error().Err(err).Msg("producer id allocation failed")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID = id
	resp.ProducerEpoch = 0
	return resp, nil
})
