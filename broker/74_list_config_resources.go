package broker

// ListConfigResources (key 74), v0-v1 (KIP-1000; ListClientMetricsResources
// until Kafka 4.1 renamed it in KIP-1142).
//
// Needs DESCRIBE_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED).
// v0 lists client-metrics resources only; v1 takes resource types (empty:
// all it serves): group (32), client metrics (16), broker logger (8),
// broker (4) and topic (2), listed in that order as Kafka does, and a type
// outside them is UNSUPPORTED_VERSION. Client-metrics resources are the
// subscriptions (KIP-714) by name; gregor keeps no group configs, so that
// type lists nothing; broker
// and broker-logger resources are the unfenced brokers' ids, topics every
// topic by name.

import (
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configResourceTypesV1 are the resource types v1 lists, in Kafka's order.
var configResourceTypesV1 = []kmsg.ConfigResourceType{
	kmsg.ConfigResourceTypeGroupConfig, kmsg.ConfigResourceTypeClientMetrics,
	kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeTopic,
}

var listConfigResourcesHandler = handle(kmsg.ListConfigResources, 0, 1, func(s *deps, r *request, req *kmsg.ListConfigResourcesRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	resp.ConfigResources = []kmsg.ListConfigResourcesResponseConfigResource{}
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	want := []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeClientMetrics}
	if req.Version >= 1 {
		want = configResourceTypesV1
		if len(req.ResourceTypes) > 0 {
			want = nil
			for _, t := range req.ResourceTypes {
				if !slices.Contains(configResourceTypesV1, kmsg.ConfigResourceType(t)) {
					resp.ErrorCode = kerr.UnsupportedVersion.Code
					return resp, nil
				}
				want = append(want, kmsg.ConfigResourceType(t))
			}
		}
	}
	snap := s.ctrl.Snapshot()
	add := func(t kmsg.ConfigResourceType, name string) {
		rc := kmsg.NewListConfigResourcesResponseConfigResource()
		rc.Name, rc.Type = name, int8(t)
		resp.ConfigResources = append(resp.ConfigResources, rc)
	}
	for _, t := range configResourceTypesV1 {
		if !slices.Contains(want, t) {
			continue
		}
		switch t {
		case kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeBroker:
			for _, b := range snap.Brokers {
				if !b.Fenced {
					add(t, strconv.Itoa(int(b.NodeID)))
				}
			}
		case kmsg.ConfigResourceTypeTopic:
			for _, name := range snap.TopicNames() {
				add(t, name)
			}
		case kmsg.ConfigResourceTypeClientMetrics:
			for _, name := range slices.Sorted(maps.Keys(snap.ClientMetrics())) {
				add(t, name)
			}
		}
	}
	return resp, nil
})
