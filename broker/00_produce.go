package broker

// Produce (key 0), v3-v13.
//
// Every partition's records are validated and appended by storage (magic
// 2, lengths, CRC-32C, idempotent sequence checks, offsets stamped in
// place). The broker checks what storage cannot know: acks, the topic and
// partition, zstd before v7, and leadership. acks=0 gets no response; if
// such a request fails anywhere the connection is closed instead, as Kafka
// does, so the client notices. v13 names topics by id.
//
// Transactional batches are refused (no transaction support yet), and so
// are writes to internal topics (__consumer_offsets), which only the
// broker itself writes.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

var produceHandler = handle(kmsg.Produce, 3, 13, func(s *Server, r *request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var failed error
	code := int16(0)
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		code = kerr.InvalidRequiredAcks.Code
	case req.TransactionID != nil:
		code = kerr.TransactionalIDAuthorizationFailed.Code
	}
	snap := s.ctrl.Snapshot()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := snap.Topic(rt.Topic)
		if req.Version >= 13 {
			t = snap.TopicByID(rt.TopicID)
		}
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
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Internal:
				// Only the broker writes __consumer_offsets and friends.
				err = fmt.Errorf("%w %s", errInternalTopic, t.Name)
			case t.Partitions[rp.Partition].Leader != s.cfg.NodeID:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				err = s.produce(req.Version, t.Name, t.Partitions[rp.Partition].LeaderEpoch, rp.Records, &sp)
			}
			if err != nil {
				sp.ErrorCode = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
					s.log.Error().Err(err).Str("topic", t.Name).Int32("partition", rp.Partition).Msg("produce failed")
				}
				if req.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
			}
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
	return resp, nil
})

// produce appends one partition's records and fills its response.
func (s *Server) produce(version int16, topic string, leaderEpoch int32, records []byte, sp *kmsg.ProduceResponseTopicPartition) error {
	if version < 7 {
		// zstd needs Produce v7 (KIP-110): an older client could not read it back.
		for b := records; len(b) >= storage.BatchHeaderSize; {
			h, err := storage.ParseBatchHeader(b)
			if err != nil || int(h.Length)+12 > len(b) || h.Length < 0 {
				break // storage reports the corruption
			}
			if h.Codec() == 4 {
				sp.ErrorCode = kerr.UnsupportedCompressionType.Code
				return nil
			}
			b = b[int(h.Length)+12:]
		}
	}
	p, err := s.parts.get(topic, sp.Partition)
	if err != nil {
		return err
	}
	res, err := p.log.Append(records, leaderEpoch)
	if err != nil {
		return err
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		p.wake()
	}
	return nil
}
