package broker

// DeleteTopics (key 20), v0-v6.
//
// Deletes topics by name (v6+ also by id) and their logs. Internal topics
// cannot be deleted by clients; delete.topic.enable=false refuses all
// deletions with TOPIC_DELETION_DISABLED.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var deleteTopicsHandler = handle(kmsg.DeleteTopics, 0, 6, func(s *deps, r *request, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	ids := deletedTopicIDs(s.ctrl.Snapshot(), req)
	if resp, ok := s.forwardIfNotController(r); ok {
		s.afterDeleteTopics(ids, resp)
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	mq := s.mutationQuota(r, 5)
	defer mq.finish(resp)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		snap := s.ctrl.Snapshot()
		var t *controller.Topic
		if tg.name != nil && *tg.name != "" {
			t = snap.Topic(*tg.name)
		} else if tg.id != [16]byte{} {
			t = snap.TopicByID(tg.id)
		}
		switch {
		case t == nil && tg.id != [16]byte{} && (tg.name == nil || *tg.name == ""):
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !s.authorizeTopic(r, kmsg.ACLOperationDelete, t.Name):
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case !s.cfg.Topics.DeleteEnable:
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		case t.Internal:
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("internal topic " + t.Name + " cannot be deleted")
		case mq.exceeded():
			st.ErrorCode, st.ErrorMessage = kerr.ThrottlingQuotaExceeded.Code, errThrottlingQuota
		default:
			st.Topic, st.TopicID = kmsg.StringPtr(t.Name), t.ID
			mq.record(len(t.Partitions))
			if _, err := s.ctrl.DeleteTopic(t.Name); err != nil {
				st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
				break
			}
			s.parts.dropTopic(t.Name)
			s.log.Info().Str("topic", t.Name).Msg("deleted topic")
		}
		if req.Version < 5 {
			st.ErrorMessage = nil
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
