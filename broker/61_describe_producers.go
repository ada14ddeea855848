package broker

// DescribeProducers (key 61), v0: the producer state (storage's producer
// entries: epoch, last sequence and timestamp, coordinator epoch, ongoing
// transaction's first offset) of partitions this broker leads.
//
// Needs READ on each topic once the authorizer is on (else
// TOPIC_AUTHORIZATION_FAILED for its partitions).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeProducersHandler = handle(kmsg.DescribeProducers, 0, 0, func(s *deps, r *request, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	snap := s.ctrl.Snapshot()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := snap.Topic(rt.Topic)
		for _, part := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = part
			switch {
			case !s.authorizeTopic(r, kmsg.ACLOperationRead, rt.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || part < 0 || int(part) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Partitions[part].Leader != s.cfg.NodeID:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				p, err := s.parts.get(t.Name, part)
				if err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				for _, pi := range p.log.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.ProducerEpoch)
					ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.CurrentTxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
