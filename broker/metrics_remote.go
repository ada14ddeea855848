package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// remoteHW finds the high watermarks of partitions this broker has no
// replica of, for consumer lag: a group's coordinator knows its committed
// offsets but, in a cluster, not the log ends of partitions led
// elsewhere. It asks each partition's leader with a ListOffsets (latest,
// read_uncommitted: the high watermark) over the inter-broker listener,
// one request per leader. Nil on a single node.
type remoteHW struct {
	meta  metaView
	peers *peers
	self  int32
}

// fetch returns the high watermark of each of want's partitions whose
// leader answered; the others are missing from the result.
func (r *remoteHW) fetch(ctx context.Context, want []tp) map[tp]int64 {
	if r == nil || len(want) == 0 {
		return nil
	}
	snap := r.meta.Snapshot()
	byLeader := map[int32]*kmsg.ListOffsetsRequest{}
	for _, w := range want {
		p := snap.Topic(w.topic).Partition(w.index)
		if p == nil || p.Leader < 0 || p.Leader == r.self {
			continue
		}
		req := byLeader[p.Leader]
		if req == nil {
			req = kmsg.NewPtrListOffsetsRequest()
			req.Version = 7 // peers send the version they are given; v0 answers in OldStyleOffsets
			req.ReplicaID = -1
			byLeader[p.Leader] = req
		}
		var rt *kmsg.ListOffsetsRequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == w.topic {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, kmsg.NewListOffsetsRequestTopic())
			rt = &req.Topics[len(req.Topics)-1]
			rt.Topic = w.topic
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = w.index, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	out := map[tp]int64{}
	for leader, req := range byLeader {
		p, err := r.peers.get(leader, "lag")
		if err != nil {
			continue
		}
		resp, err := p.do(ctx, req)
		if err != nil {
			continue
		}
		lo, ok := resp.(*kmsg.ListOffsetsResponse)
		if !ok {
			continue
		}
		for _, t := range lo.Topics {
			for _, pp := range t.Partitions {
				if pp.ErrorCode == 0 && pp.Offset >= 0 {
					out[tp{t.Topic, pp.Partition}] = pp.Offset
				}
			}
		}
	}
	return out
}
