package broker

// ListGroups (key 16), v0-v5.
//
// Every group of the __consumer_offsets partitions this broker leads.
// v4+ filter by state (case-insensitive), v5+ by type ("classic" or
// "consumer" for KIP-848 groups, whose states are Empty, Assigning,
// Reconciling and Stable).
//
// Once the authorizer is on, a principal without DESCRIBE on the cluster
// sees only the groups it may DESCRIBE (others are left out silently, as
// in Kafka).

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

var listGroupsHandler = handle(kmsg.ListGroups, 0, 5, func(s *deps, r *request, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	wantType := func(string) bool { return true }
	if len(req.TypesFilter) > 0 {
		wantType = func(typ string) bool {
			return slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, typ) })
		}
	}
	if s.ctrl.Snapshot().Topic(controller.ConsumerOffsetsTopic) == nil {
		return resp, nil
	}
	s.groups.start() // loads partitions not loaded yet
	ls, err := s.groups.coord.ListGroups(s.ctx, req.StatesFilter)
	if err != nil {
		return nil, err
	}
	all := s.authorizeQuiet(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, auth.ClusterName)
	for _, l := range ls {
		if !wantType(l.Type.String()) || !all && !s.authorizeQuiet(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, l.Group) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.State, l.Type.String()
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
})
