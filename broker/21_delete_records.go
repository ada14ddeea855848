package broker

// DeleteRecords (key 21), v0-v2.
//
// Moves each partition's log start offset up to the requested offset (-1:
// the high watermark) and deletes the segments wholly below it; answers
// with the new log start offset (low watermark). An offset beyond the high
// watermark is OFFSET_OUT_OF_RANGE; a topic whose cleanup.policy lacks
// delete is POLICY_VIOLATION, as in Kafka. Only the leader deletes
// (NOT_LEADER_OR_FOLLOWER otherwise). The timeout is not needed: with no
// followers to wait for, the answer is immediate.
//
// Needs DELETE on each topic once the authorizer is on (else
// TOPIC_AUTHORIZATION_FAILED for its partitions).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var deleteRecordsHandler = handle(kmsg.DeleteRecords, 0, 2, func(s *deps, r *request, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	snap := s.ctrl.Snapshot()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := snap.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			switch {
			case !s.authorizeTopic(r, kmsg.ACLOperationDelete, rt.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Partitions[rp.Partition].Leader != s.cfg.NodeID:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				p, err := s.parts.get(t.Name, rp.Partition)
				if err == nil {
					sp.LowWatermark, err = p.log.DeleteRecords(rp.Offset)
				}
				if err != nil {
					sp.LowWatermark = -1
					sp.ErrorCode = errCode(err)
					if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
						s.log.Error().Err(err).Str("topic", t.Name).Int32("partition", rp.Partition).Msg("delete records failed")
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
