package broker

// DescribeTopicPartitions (key 75), v0 (KIP-966).
//
// Topics by name, or every topic when the list is empty, with their
// partitions, paged: at most max(min(response_partition_limit,
// max.request.partition.size.limit), 1) partitions per response, in topic
// name then partition order. The cursor (topic, partition) says where a
// page starts; next_cursor where the next one does, null after the last.
// As Kafka: a cursor topic missing from a named list, or a negative cursor
// partition, is INVALID_REQUEST for every named topic; a named topic
// without DESCRIBE is TOPIC_AUTHORIZATION_FAILED (no id), and is left out
// when listing all; an unknown named topic is UNKNOWN_TOPIC_OR_PARTITION
// (INVALID_TOPIC_EXCEPTION for an illegal name) and takes no room in the
// page. Every listed topic carries its authorized operations (the request
// has no flag for them). gregor has no eligible leader replicas (KIP-966's
// ELR): both ELR lists are empty.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// topicOps are the operations a topic's authorized-operations bitfield
// covers.
var topicOps = []kmsg.ACLOperation{
	kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
	kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
}

var describeTopicPartitionsHandler = handle(kmsg.DescribeTopicPartitions, 0, 0, func(s *deps, r *request, req *kmsg.DescribeTopicPartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	snap := s.ctrl.Snapshot()
	all := len(req.Topics) == 0
	var names []string
	if all {
		names = snap.TopicNames()
	} else {
		for _, rt := range req.Topics {
			names = append(names, rt.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	cursorTopic, cursorPartition := "", int32(0)
	if c := req.Cursor; c != nil {
		if c.Partition < 0 || (!all && !slices.Contains(names, c.Topic)) {
			for _, name := range names {
				if !all {
					resp.Topics = append(resp.Topics, dtpTopic(name, kerr.InvalidRequest.Code))
				}
			}
			return resp, nil
		}
		cursorTopic, cursorPartition = c.Topic, c.Partition
	}
	remaining := max(min(req.ResponsePartitionLimit, s.cfg.Limits.DescribeTopicPartitionsMax), 1)
	for _, name := range names {
		if name < cursorTopic {
			continue
		}
		if all {
			if !s.authorizeTopicQuiet(r, kmsg.ACLOperationDescribe, name) {
				continue // as Metadata: listing all shows only describable topics
			}
		} else if !s.authorizeTopic(r, kmsg.ACLOperationDescribe, name) {
			resp.Topics = append(resp.Topics, dtpTopic(name, kerr.TopicAuthorizationFailed.Code))
			continue
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name}
			break
		}
		t := snap.Topic(name)
		if t == nil {
			code := kerr.UnknownTopicOrPartition.Code
			if controller.ValidateTopicName(name) != nil {
				code = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, dtpTopic(name, code))
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = min(cursorPartition, int32(len(t.Partitions)))
		}
		end := min(int64(start)+int64(remaining), int64(len(t.Partitions)))
		rt := dtpTopic(name, 0)
		rt.TopicID, rt.IsInternal = t.ID, t.Internal
		rt.AuthorizedOperations = s.topicAuthorizedOps(r, name)
		rt.Partitions = make([]kmsg.DescribeTopicPartitionsResponseTopicPartition, 0, end-int64(start))
		for _, p := range t.Partitions[start:end] {
			rt.Partitions = append(rt.Partitions, dtpPartition(snap, p))
		}
		resp.Topics = append(resp.Topics, rt)
		if end < int64(len(t.Partitions)) {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: int32(end)}
			break
		}
		remaining -= int32(end - int64(start))
	}
	return resp, nil
})

// dtpTopic is a response topic without partitions.
func dtpTopic(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	rt.ErrorCode = code
	rt.Topic = kmsg.StringPtr(name)
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	return rt
}

// dtpPartition describes one partition: a leader that is not live is
// LEADER_NOT_AVAILABLE with leader -1, as Kafka.
func dtpPartition(snap *controller.Snapshot, p controller.Partition) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	rp.Partition, rp.LeaderID, rp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
	if p.Leader < 0 || !snap.Live(p.Leader) {
		rp.ErrorCode, rp.LeaderID = kerr.LeaderNotAvailable.Code, -1
	}
	rp.Replicas, rp.ISR = p.Replicas, p.ISR
	rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{}, []int32{}
	rp.OfflineReplicas = []int32{}
	for _, id := range p.Replicas {
		if !snap.Live(id) {
			rp.OfflineReplicas = append(rp.OfflineReplicas, id)
		}
	}
	return rp
}

// topicAuthorizedOps is the bitfield of the topic operations r's principal
// may do on topic.
func (s *deps) topicAuthorizedOps(r *request, topic string) int32 {
	if !s.authz.enabled() {
		return topicOpsAll
	}
	var ops int32
	for _, op := range topicOps {
		if s.authorizeTopicQuiet(r, op, topic) {
			ops |= 1 << op
		}
	}
	return ops
}
