package broker

// OffsetFetch (key 9), v0-v10.
//
// Returns committed offsets (-1 with no error for partitions without one,
// and for unknown groups). A null topic list (v2+) means every committed
// partition. v8+ ask for several groups at once; v10 names topics by id.
// RequireStable (v7+, KIP-447): a partition with an offset pending in an
// open transaction (TxnOffsetCommit before its marker) answers
// UNSTABLE_OFFSET_COMMIT, and the client retries. The v9 member id and epoch concern
// KIP-848 groups (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH) and are not
// checked for classic groups, as Kafka.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/coordinator"
)

var offsetFetchHandler = handle(kmsg.OffsetFetch, 0, 10, func(s *deps, r *request, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []coordinator.TopicPartitions
		if req.Topics != nil || req.Version < 2 {
			topics = []coordinator.TopicPartitions{}
			for _, t := range req.Topics {
				topics = append(topics, coordinator.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		s.groups.prepare(req.Group)
		fetched, code, err := fetchOffsets(s, r, req.Group, topics, req.Version >= 7 && req.RequireStable)
		if err != nil {
			return nil, err
		}
		resp.ErrorCode = code
		if code != 0 && req.Version < 2 {
			// No top-level error before v2: every partition carries it.
			fetched = nil
			for _, t := range topics {
				ft := coordinator.FetchedTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					ft.Partitions = append(ft.Partitions, coordinator.FetchedPartition{Partition: p, Offset: -1, LeaderEpoch: -1, ErrorCode: code})
				}
				fetched = append(fetched, ft)
			}
		}
		for _, ft := range fetched {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = ft.Topic
			for _, fp := range ft.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = fp.Partition, fp.Offset, fp.LeaderEpoch, fp.ErrorCode
				rp.Metadata = kmsg.StringPtr(fp.Metadata)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	for _, rg := range req.Groups {
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group = rg.Group
		var topics []coordinator.TopicPartitions
		var unknownIDs []kmsg.OffsetFetchRequestGroupTopic
		if rg.Topics != nil {
			topics = []coordinator.TopicPartitions{}
			for _, t := range rg.Topics {
				name := t.Topic
				if req.Version >= 10 {
					tt := snap.TopicByID(t.TopicID)
					if tt == nil {
						unknownIDs = append(unknownIDs, t)
						continue
					}
					name = tt.Name
				}
				topics = append(topics, coordinator.TopicPartitions{Topic: name, Partitions: t.Partitions})
			}
		}
		s.groups.prepare(rg.Group)
		if req.Version >= 9 && (rg.MemberID != nil && *rg.MemberID != "" || rg.MemberEpoch >= 0) {
			mid := ""
			if rg.MemberID != nil {
				mid = *rg.MemberID
			}
			code, err := s.groups.coord.CheckOffsetFetchMember(s.ctx, rg.Group, mid, rg.MemberEpoch)
			if err != nil {
				return nil, err
			}
			if code != 0 {
				g.ErrorCode = code
				resp.Groups = append(resp.Groups, g)
				continue
			}
		}
		fetched, code, err := fetchOffsets(s, r, rg.Group, topics, req.RequireStable)
		if err != nil {
			return nil, err
		}
		g.ErrorCode = code
		for _, ft := range fetched {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = ft.Topic
			if req.Version >= 10 {
				t := snap.Topic(ft.Topic)
				if t == nil {
					continue // deleted since: it has no id to report
				}
				rt.TopicID = t.ID
			}
			for _, fp := range ft.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = fp.Partition, fp.Offset, fp.LeaderEpoch, fp.ErrorCode
				rp.Metadata = kmsg.StringPtr(fp.Metadata)
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		for _, t := range unknownIDs {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.UnknownTopicID.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
})

// fetchOffsets asks the group coordinator for group's offsets; stable:
// pending transactional offsets answer UNSTABLE_OFFSET_COMMIT. Once the
// authorizer is on, the group needs DESCRIBE (else the code is
// GROUP_AUTHORIZATION_FAILED) and each topic DESCRIBE: a named topic
// without it answers TOPIC_AUTHORIZATION_FAILED, and a fetch of all
// topics leaves it out, as Kafka does.
func fetchOffsets(s *deps, r *request, group string, topics []coordinator.TopicPartitions, stable bool) ([]coordinator.FetchedTopic, int16, error) {
	if !s.authorizeGroup(r, kmsg.ACLOperationDescribe, group) {
		return nil, kerr.GroupAuthorizationFailed.Code, nil
	}
	var fetched []coordinator.FetchedTopic
	var code int16
	var err error
	if stable {
		fetched, code, err = s.groups.coord.FetchStableOffsets(s.ctx, group, topics)
	} else {
		fetched, code, err = s.groups.coord.FetchOffsets(s.ctx, group, topics)
	}
	if err != nil || !s.authz.enabled() {
		return fetched, code, err
	}
	out := fetched[:0]
	for _, ft := range fetched {
		switch {
		case topics == nil:
			if !s.authorizeTopicQuiet(r, kmsg.ACLOperationDescribe, ft.Topic) {
				continue
			}
		case !s.authorizeTopic(r, kmsg.ACLOperationDescribe, ft.Topic):
			for i := range ft.Partitions {
				ft.Partitions[i] = coordinator.FetchedPartition{Partition: ft.Partitions[i].Partition, Offset: -1, LeaderEpoch: -1, ErrorCode: kerr.TopicAuthorizationFailed.Code}
			}
		}
		out = append(out, ft)
	}
	return out, code, nil
}
