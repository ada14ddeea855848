package broker

// ElectLeaders (key 43), v0-v2.
//
// Preferred leader election (type 0): make each partition's first replica
// its leader again when it is alive and in sync (ELECTION_NOT_NEEDED when
// it already leads, PREFERRED_LEADER_NOT_AVAILABLE when it cannot). A null
// topic list means every partition. Unclean election (type 1) elects any
// live replica for partitions without a leader. Forwarded to the active
// controller.
//
// Needs ALTER on the cluster once the authorizer is on (checked where
// the client connected; else CLUSTER_AUTHORIZATION_FAILED for the request
// and every partition named).

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var electLeadersHandler = handle(kmsg.ElectLeaders, 0, 2, func(s *deps, r *request, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	if resp, ok := s.forwardIfNotController(r); ok {
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var parts map[string][]int32
	if req.Topics != nil {
		parts = map[string][]int32{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	results, err := s.ctrl.ElectLeaders(req.ElectionType == 0, parts)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	byTopic := map[string][]kmsg.ElectLeadersResponseTopicPartition{}
	for tp, perr := range results {
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = tp.Partition
		if perr != nil && !errors.Is(perr, controller.ErrElectionNotNeeded) || perr != nil && req.Topics != nil {
			sp.ErrorCode, sp.ErrorMessage = errCode(perr), errMessage(perr)
		}
		byTopic[tp.Topic] = append(byTopic[tp.Topic], sp)
	}
	names := make([]string, 0, len(byTopic))
	for n := range byTopic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = n
		st.Partitions = byTopic[n]
		sort.Slice(st.Partitions, func(i, j int) bool { return st.Partitions[i].Partition < st.Partitions[j].Partition })
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
})
