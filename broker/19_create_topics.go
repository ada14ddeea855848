package broker

// CreateTopics (key 19), v0-v7.
//
// Validates names, partition counts, replication factors, manual
// assignments and configs in the controller; validate_only checks without
// creating. A name repeated in one request fails every copy with
// INVALID_REQUEST, as in Kafka. v5+ answers with the new topic's partition
// count, replication factor and every config with its source; v7 with the
// topic id.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var createTopicsHandler = handle(kmsg.CreateTopics, 0, 7, func(s *deps, r *request, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	if resp, ok := s.forwardIfNotController(r); ok {
		s.afterCreateTopics(req, resp)
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	mq := s.mutationQuota(r, 6)
	defer mq.finish(resp)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("topic " + rt.Topic + " appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !s.authorizeCluster(r, kmsg.ACLOperationCreate) && !s.authorizeTopic(r, kmsg.ACLOperationCreate, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if mq.exceeded() {
			st.ErrorCode, st.ErrorMessage = kerr.ThrottlingQuotaExceeded.Code, errThrottlingQuota
			resp.Topics = append(resp.Topics, st)
			continue
		}
		ct := controller.CreateTopic{
			Name:              rt.Topic,
			NumPartitions:     rt.NumPartitions,
			ReplicationFactor: rt.ReplicationFactor,
			ValidateOnly:      req.ValidateOnly,
		}
		if len(rt.ReplicaAssignment) > 0 {
			ct.Assignments = map[int32][]int32{}
			for _, a := range rt.ReplicaAssignment {
				ct.Assignments[a.Partition] = a.Replicas
			}
		}
		if len(rt.Configs) > 0 {
			ct.Configs = map[string]string{}
			for _, c := range rt.Configs {
				if c.Value != nil {
					ct.Configs[c.Name] = *c.Value
				}
			}
		}
		t, err := s.ctrl.CreateTopic(ct)
		if err != nil {
			st.ErrorCode = errCode(err)
			st.ErrorMessage = errMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		mq.record(len(t.Partitions))
		if !req.ValidateOnly {
			s.log.Info().Str("topic", t.Name).Int("partitions", len(t.Partitions)).Msg("created topic")
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = t.ReplicationFactor()
		for _, def := range controller.TopicConfigDefs() {
			v, src := s.topicConfig(t, def)
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name = def.Name
			c.Value = kmsg.StringPtr(v)
			c.Source = src
			c.IsSensitive = def.Sensitive
			st.Configs = append(st.Configs, c)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
