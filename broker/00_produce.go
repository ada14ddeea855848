package broker

// Produce (key 0), v0-v13.
//
// Every partition's records are validated and appended by storage (magic
// 2, lengths, CRC-32C, idempotent sequence checks, offsets stamped in
// place). v0-v2 (clients from before Kafka 0.11) may send message sets of
// magic 0 or 1: storage.ConvertLegacy checks their CRC-32s, unpacks
// compressed wrappers and turns them into one magic-2 batch, which is
// appended like any other; from v3 only magic 2 is accepted, as in Kafka.
// v0-v2 answer with the error codes those versions know (oldProduceError). The broker checks what storage cannot know: acks, the topic and
// partition, zstd before v7, and leadership. acks=0 gets no response; if
// such a request fails anywhere the connection is closed instead, as Kafka
// does, so the client notices. v13 names topics by id.
//
// Transactional batches are verified with their coordinator first
// (produce_txn.go). Writes to internal topics (__consumer_offsets), which
// only the broker itself writes, are refused. As in Kafka's LogValidator, control batches and
// idempotent batches without a sequence number are INVALID_RECORD. Once an
// I/O error (a read error, or a write error other than a full disk) took
// a partition's log dir offline every append to its partitions is
// KAFKA_STORAGE_ERROR (jbod.go); a failed append on a full disk is
// KAFKA_STORAGE_ERROR for that request only.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/storage"
)

var produceHandler = handle(kmsg.Produce, 0, 13, func(s *deps, r *request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var failed error
	code := int16(0)
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		code = kerr.InvalidRequiredAcks.Code
	}
	snap := s.ctrl.Snapshot()
	var waits []hwWait
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := snap.Topic(rt.Topic)
		if req.Version >= 13 {
			t = snap.TopicByID(rt.TopicID)
		}
		denied := (t != nil || req.Version < 13) && !s.authorizeTopic(r, kmsg.ACLOperationWrite, topicName(t, rt.Topic))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			var err error
			switch {
			case code != 0:
				sp.ErrorCode = code
			case denied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Internal:
				// Only the broker writes __consumer_offsets and friends.
				err = fmt.Errorf("%w %s", errInternalTopic, t.Name)
			case t.Partitions[rp.Partition].Leader != s.cfg.NodeID:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case req.TransactionID != nil && func() bool {
				sp.ErrorCode = s.verifyTxnProduce(r, *req.TransactionID, t.Name, rp.Partition, rp.Records)
				return sp.ErrorCode != 0
			}():
			default:
				var w *hwWait
				w, err = s.produce(req, t, t.Partitions[rp.Partition].LeaderEpoch, rp.Records, &sp)
				if w != nil {
					w.topic, w.part = i, j
					waits = append(waits, *w)
				}
			}
			if err != nil {
				sp.ErrorCode = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
					d := s.parts.dirFor(t.Name, rp.Partition)
					d.failureEvent(err).Str("topic", t.Name).Int32("partition", rp.Partition).Msg("produce failed")
					if isDirFailure(err) {
						d.fail(err)
					}
				}
				if req.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
			}
			sp.ErrorCode = oldProduceError(req.Version, sp.ErrorCode)
			if sp.ErrorCode != 0 && failed == nil {
				failed = fmt.Errorf("partition %d: %s", rp.Partition, kerr.ErrorForCode(sp.ErrorCode))
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed != nil {
			return nil, fmt.Errorf("acks=0 produce failed: %w", failed)
		}
		return nil, nil
	}
	if len(waits) > 0 {
		// acks=all on replicated partitions: the response goes out, in
		// order, once the ISR has the records; meanwhile this connection
		// goes on reading and appending its next requests.
		timeout := time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
		r.await = func() {
			ctx, cancel := withTimeout(s.ctx, s.clock, timeout)
			defer cancel()
			for _, w := range waits {
				sp := &resp.Topics[w.topic].Partitions[w.part]
				sp.ErrorCode = w.p.waitAcks(ctx, w.offset, w.epoch, w.minISR, s.cfg.NodeID)
			}
		}
	}
	return resp, nil
})

// oldProduceError maps error codes older Produce versions do not know to
// the ones they expect: KAFKA_STORAGE_ERROR arrived in v4 (before it, a
// failed log dir read as NOT_LEADER_FOR_PARTITION, which makes the client
// refresh its metadata and retry), INVALID_RECORD in v8 (CORRUPT_MESSAGE
// before).
func oldProduceError(version, code int16) int16 {
	switch {
	case code == kerr.KafkaStorageError.Code && version < 4:
		return kerr.NotLeaderForPartition.Code
	case code == kerr.InvalidRecord.Code && version < 8:
		return kerr.CorruptMessage.Code
	}
	return code
}

// hwWait is an acks=all partition waiting for its high watermark.
type hwWait struct {
	topic, part int // indexes into the response
	p           *partition
	offset      int64 // high watermark to reach
	epoch       int32
	minISR      int
}

// produce appends one partition's records and fills its response.
func (s *deps) produce(req *kmsg.ProduceRequest, t *controller.Topic, leaderEpoch int32, records []byte, sp *kmsg.ProduceResponseTopicPartition) (*hwWait, error) {
	if m := storage.LegacyMagic(records); req.Version < 3 && (m == 0 || m == 1) {
		batch, err := storage.ConvertLegacy(records)
		if err != nil {
			return nil, err
		}
		records = batch
	}
	for b := records; len(b) >= storage.BatchHeaderSize; {
		h, err := storage.ParseBatchHeader(b)
		if err != nil || int(h.Length)+12 > len(b) || h.Length < 0 {
			break // storage reports the corruption
		}
		switch {
		case h.Codec() == 4 && req.Version < 7:
			// zstd needs Produce v7 (KIP-110): an older client could not read it back.
			sp.ErrorCode = kerr.UnsupportedCompressionType.Code
			return nil, nil
		case h.IsControl():
			// Only the broker writes control batches (Kafka's LogValidator).
			return nil, fmt.Errorf("%w: clients may not write control batches", storage.ErrInvalidRecord)
		case h.ProducerID >= 0 && h.BaseSequence < 0:
			return nil, fmt.Errorf("%w: batch with producer id %d has no sequence number", storage.ErrInvalidRecord, h.ProducerID)
		}
		b = b[int(h.Length)+12:]
	}
	p, err := s.parts.get(t.Name, sp.Partition)
	if err != nil {
		return nil, err
	}
	replicated := len(t.Partitions[sp.Partition].Replicas) > 1
	minISR := 0
	if req.Acks == -1 && replicated {
		minISR = s.cfg.minInsyncReplicas(t)
		if isr, _ := p.leaderISR(s.cfg.NodeID); len(isr) < minISR {
			sp.ErrorCode = kerr.NotEnoughReplicas.Code
			return nil, nil
		}
	}
	if err := p.offline(); err != nil {
		return nil, err
	}
	res, err := p.log.Append(records, leaderEpoch)
	if err != nil {
		return nil, err
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		p.traffic.in(len(records), res.LastOffset-res.BaseOffset+1)
		p.wake()
		p.afterAppend(s.cfg.NodeID)
	}
	if req.Acks == -1 && replicated && !ackBeforeISR {
		return &hwWait{p: p, offset: res.LastOffset + 1, epoch: leaderEpoch, minISR: minISR}, nil
	}
	return nil, nil
}
