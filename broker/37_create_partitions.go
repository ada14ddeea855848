package broker

// CreatePartitions (key 37), v0-v3.
//
// Grows a topic to count partitions (never shrinks: INVALID_PARTITIONS),
// with optional manual assignments for the new ones; validate_only checks
// without changing anything. A topic repeated in one request fails with
// INVALID_REQUEST.
//
// Needs ALTER on each topic once the authorizer is on (else
// TOPIC_AUTHORIZATION_FAILED), checked on the active controller.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var createPartitionsHandler = handle(kmsg.CreatePartitions, 0, 3, func(s *deps, r *request, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	if resp, ok := s.forwardIfNotController(r); ok {
		s.afterCreatePartitions(req, resp)
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	mq := s.mutationQuota(r, 3)
	defer mq.finish(resp)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("topic " + rt.Topic + " appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !s.authorizeTopic(r, kmsg.ACLOperationAlter, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if mq.exceeded() {
			st.ErrorCode, st.ErrorMessage = kerr.ThrottlingQuotaExceeded.Code, errThrottlingQuota
			resp.Topics = append(resp.Topics, st)
			continue
		}
		before := 0
		if t := s.ctrl.Snapshot().Topic(rt.Topic); t != nil {
			before = len(t.Partitions)
		}
		var assignments [][]int32
		for _, a := range rt.Assignment {
			assignments = append(assignments, a.Replicas)
		}
		if _, err := s.ctrl.CreatePartitions(rt.Topic, rt.Count, assignments, req.ValidateOnly); err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
		} else {
			mq.record(int(rt.Count) - before)
			if !req.ValidateOnly {
				s.log.Info().Str("topic", rt.Topic).Int32("partitions", rt.Count).Msg("created partitions")
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
