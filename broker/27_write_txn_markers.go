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
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/coordinator"
	"gregor/storage"
)

var writeTxnMarkersHandler = handle(kmsg.WriteTxnMarkers, 0, 1, func(s *deps, r *request, req *kmsg.WriteTxnMarkersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	allowed := s.authorizeCluster(r, kmsg.ACLOperationClusterAction)
	type waiting struct {
		m, t, p int // indexes into resp
		w       *markerWait
	}
	var waits []waiting
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
					var w *markerWait
					rp.ErrorCode, w = s.appendTxnMarker(mk, t.Topic, p)
					if w != nil {
						waits = append(waits, waiting{m: len(resp.Markers), t: len(rm.Topics), p: len(rt.Partitions), w: w})
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	if len(waits) == 0 {
		return resp, nil
	}
	// The answer goes out once the ISRs have the markers; meanwhile this
	// connection goes on reading its next requests.
	r.await = func() {
		ctx, cancel := withTimeout(s.ctx, s.clock, markerTimeout)
		defer cancel()
		for _, w := range waits {
			resp.Markers[w.m].Topics[w.t].Partitions[w.p].ErrorCode = s.awaitTxnMarker(ctx, w.w)
		}
	}
	return resp, nil
})

// markerTimeout bounds how long a marker waits for its ISR before the
// answer is REQUEST_TIMED_OUT and the coordinator retries it. Kafka waits
// request.timeout.ms (30 s); a shorter wait here stays inside the
// coordinator's 10 s request timeout (txns.remote) and kgo's 10 s read
// timeout for requests without a timeout field.
const markerTimeout = 5 * time.Second

// markerWait is an appended marker waiting for the partition's ISR.
type markerWait struct {
	marker    coordinator.TxnMarker
	topic     string
	partition int32
	p         *partition
	offset    int64 // high watermark that covers the marker
	epoch     int32 // leader epoch it was appended in
	minISR    int
}

// writeTxnMarkers appends m's marker to each of ps, which this broker
// leads, waits until each partition's ISR has it (as Kafka's markers,
// appended with acks=-1) and returns the partitions to retry. A marker only
// the leader held would be lost with it, and the transaction's records
// would then belong to the producer's next transaction on that partition.
func (s *deps) writeTxnMarkers(ctx context.Context, m coordinator.TxnMarker, ps []coordinator.TxnPartition) (retry []coordinator.TxnPartition) {
	type waiting struct {
		p coordinator.TxnPartition
		w *markerWait
	}
	var waits []waiting
	for _, p := range ps {
		code, w := s.appendTxnMarker(m, p.Topic, p.Partition)
		switch {
		case w != nil:
			waits = append(waits, waiting{p, w})
		case code != 0 && code != kerr.UnknownTopicOrPartition.Code:
			retry = append(retry, p)
		}
	}
	ctx, cancel := withTimeout(ctx, s.clock, markerTimeout)
	defer cancel()
	for _, w := range waits {
		if s.awaitTxnMarker(ctx, w.w) != 0 {
			retry = append(retry, w.p)
		}
	}
	return retry
}

// appendTxnMarker appends m's marker to topic/partition: a Kafka error
// code, or 0 and the wait for its replication.
func (s *deps) appendTxnMarker(m coordinator.TxnMarker, topic string, partition int32) (int16, *markerWait) {
	t := s.ctrl.Snapshot().Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition.Code, nil
	}
	pm := t.Partitions[partition]
	if pm.Leader != s.cfg.NodeID {
		return kerr.NotLeaderForPartition.Code, nil
	}
	p, err := s.parts.get(topic, partition)
	if err != nil {
		return kerr.NotLeaderForPartition.Code, nil
	}
	minISR := 0
	if len(pm.Replicas) > 1 {
		minISR = s.cfg.minInsyncReplicas(t)
		if isr, _ := p.leaderISR(s.cfg.NodeID); len(isr) < minISR {
			return kerr.NotEnoughReplicas.Code, nil
		}
	}
	off, err := p.log.AppendControl(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, pm.LeaderEpoch)
	if err != nil {
		switch {
		case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
			return kerr.TransactionCoordinatorFenced.Code, nil
		case errors.Is(err, storage.ErrInvalidProducerEpoch):
			return kerr.InvalidProducerEpoch.Code, nil
		}
		s.log.Warn().Err(err).Str("topic", topic).Int32("partition", partition).Msg("txn marker append failed")
		return kerr.KafkaStorageError.Code, nil
	}
	p.wake()
	p.afterAppend(s.cfg.NodeID)
	return 0, &markerWait{marker: m, topic: topic, partition: partition, p: p, offset: off + 1, epoch: pm.LeaderEpoch, minISR: minISR}
}

// awaitTxnMarker waits until w's marker is below the high watermark, then
// applies a __consumer_offsets marker to the group coordinator (Kafka's
// onTransactionCompleted runs once the append is acknowledged).
func (s *deps) awaitTxnMarker(ctx context.Context, w *markerWait) int16 {
	if w.minISR > 0 { // replicated
		if code := w.p.waitAcks(ctx, w.offset, w.epoch, w.minISR, s.cfg.NodeID); code != 0 {
			return code
		}
	}
	if w.topic == controller.ConsumerOffsetsTopic {
		if err := s.groups.applyTxnMarker(w.partition, w.marker.ProducerID, w.marker.ProducerEpoch, w.marker.Commit); err != nil {
			s.log.Warn().Err(err).Int32("partition", w.partition).Msg("txn offsets apply failed")
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	return 0
}
