package broker

// OffsetDelete (key 47), v0.
//
// Deletes committed offsets of a group (tombstones). A "consumer" group
// with members keeps the offsets of topics its members subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC); other non-empty groups get NON_EMPTY_GROUP.
//
// Once the authorizer is on it needs DELETE on the group (else
// GROUP_AUTHORIZATION_FAILED) and READ on each topic: a topic without it
// answers TOPIC_AUTHORIZATION_FAILED for each of its partitions and is not
// passed to the coordinator, as in Kafka's KafkaApis; a group-level error
// of the coordinator replaces those answers (Kafka's
// OffsetDeleteResponse.Builder.merge).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var offsetDeleteHandler = handle(kmsg.OffsetDelete, 0, 0, func(s *deps, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationDelete, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	var deniedTopics []kmsg.OffsetDeleteResponseTopic
	allowed := req.Topics[:0:0]
	for _, rt := range req.Topics {
		if s.authorizeTopic(r, kmsg.ACLOperationRead, rt.Topic) {
			allowed = append(allowed, rt)
			continue
		}
		dt := kmsg.NewOffsetDeleteResponseTopic()
		dt.Topic = rt.Topic
		for _, p := range rt.Partitions {
			dp := kmsg.NewOffsetDeleteResponseTopicPartition()
			dp.Partition, dp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			dt.Partitions = append(dt.Partitions, dp)
		}
		deniedTopics = append(deniedTopics, dt)
	}
	req.Topics = allowed
	s.groups.prepare(req.Group)
	resp, err := s.groups.coord.DeleteOffsets(s.ctx, req)
	if err != nil || resp.ErrorCode != 0 || len(deniedTopics) == 0 {
		return resp, err
	}
	resp.Topics = append(deniedTopics, resp.Topics...)
	return resp, nil
})
