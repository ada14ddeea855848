package broker

// WriteTxnMarkers (key 27), v0-v1: the partition-leader side. Each
// partition gets a COMMIT/ABORT control batch (storage AppendControl,
// fenced by coordinator epoch); __consumer_offsets partitions then apply
// the transaction's offsets (groups.applyTxnMarker).
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED for every partition), as Kafka's
// inter-broker APIs.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/coordinator"
	"gregor/storage"
)

var writeTxnMarkersHandler = handle(kmsg.WriteTxnMarkers, 0, 1, func(s *deps, r *request, req *kmsg.WriteTxnMarkersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	allowed := s.authorizeCluster(r, kmsg.ACLOperationClusterAction)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		mk := coordinator.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				if allowed {
					rp.ErrorCode = s.writeTxnMarker(mk, t.Topic, p)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
})

// writeTxnMarker appends m's marker to topic/partition, which this broker
// must lead, and returns a Kafka error code.
func (s *deps) writeTxnMarker(m coordinator.TxnMarker, topic string, partition int32) int16 {
	t := s.ctrl.Snapshot().Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition.Code
	}
	pm := t.Partitions[partition]
	if pm.Leader != s.cfg.NodeID {
		return kerr.NotLeaderForPartition.Code
	}
	p, err := s.parts.get(topic, partition)
	if err != nil {
		return kerr.NotLeaderForPartition.Code
	}
	if _, err := p.log.AppendControl(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, pm.LeaderEpoch); err != nil {
		switch {
		case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
			return kerr.TransactionCoordinatorFenced.Code
		case errors.Is(err, storage.ErrInvalidProducerEpoch):
			return kerr.InvalidProducerEpoch.Code
		}
		s.log.Warn().Err(err).Str("topic", topic).Int32("partition", partition).Msg("txn marker append failed")
		return kerr.KafkaStorageError.Code
	}
	p.wake()
	p.afterAppend(s.cfg.NodeID)
	if topic == controller.ConsumerOffsetsTopic {
		if err := s.groups.applyTxnMarker(partition, m.ProducerID, m.ProducerEpoch, m.Commit); err != nil {
			s.log.Warn().Err(err).Int32("partition", partition).Msg("txn offsets apply failed")
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	return 0
}
