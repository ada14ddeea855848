package broker

// ListOffsets (key 2), v0-v11.
//
// Timestamps -2 (earliest) and -4 (earliest local, KIP-405) give the log
// start offset, -1 (latest) the high watermark, -3 (max timestamp, KIP-734)
// the record with the largest timestamp; any other timestamp the first
// record at or after it (storage's time index). -5 (earliest pending
// upload, tiered storage) finds nothing: gregor has no tiered storage.
// v0 answers in the old array form. With isolation_level=1 (read_committed,
// v2+) "latest" and timestamp lookups are bounded by the last stable offset
// instead of the high watermark.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var listOffsetsHandler = handle(kmsg.ListOffsets, 0, 11, func(s *deps, r *request, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	snap := s.ctrl.Snapshot()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := snap.Topic(rt.Topic)
		denied := !s.authorizeTopic(r, kmsg.ACLOperationDescribe, rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			switch {
			case denied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				meta := &t.Partitions[rp.Partition]
				if sp.ErrorCode = checkLeaderEpoch(s.cfg.NodeID, meta, rp.CurrentLeaderEpoch); sp.ErrorCode != 0 {
					break
				}
				sp.LeaderEpoch = meta.LeaderEpoch
				p, err := s.parts.get(t.Name, rp.Partition)
				if err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				end := p.log.HighWatermark()
				if req.Version >= 2 && req.IsolationLevel == 1 {
					end = p.log.LastStableOffset()
				}
				switch ts := rp.Timestamp; ts {
				case -2, -4:
					sp.Offset = p.log.LogStartOffset()
				case -1:
					sp.Offset = end
				case -3:
					sp.Offset, sp.Timestamp = p.log.MaxTimestamp()
				case -5:
				default:
					if ts < 0 {
						sp.ErrorCode = kerr.InvalidRequest.Code
						break
					}
					off, ts, err := p.log.OffsetForTimestamp(ts)
					if err != nil {
						sp.ErrorCode = errCode(err)
						break
					}
					if off >= end {
						off, ts = -1, -1
					}
					sp.Offset, sp.Timestamp = off, ts
				}
				if req.Version == 0 && sp.ErrorCode == 0 {
					sp.OldStyleOffsets = []int64{sp.Offset}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
