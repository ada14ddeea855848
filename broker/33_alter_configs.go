package broker

// AlterConfigs (key 33), v0-v2.
//
// Topics (resource type 2): replaces the topic's whole set of explicit
// configs with the request's (keys left out return to their defaults), as
// Kafka's non-incremental alter does; validated as a whole by the
// controller (INVALID_CONFIG names the key, UNKNOWN_TOPIC_OR_PARTITION for
// a missing topic); validate_only checks without storing. Open logs of the
// topic pick the new storage settings up at once. Brokers (resource type
// 4, a node id or "" for the cluster default): replaces the resource's
// whole set of dynamic broker configs, stored in the controller; only the
// keys gregor applies live may be set (INVALID_REQUEST names the others,
// config_cluster_ops.go); needs ALTER_CONFIGS on the cluster. Broker
// loggers: INVALID_REQUEST (IncrementalAlterConfigs only, as Kafka). A
// resource named twice in one request fails every copy with INVALID_REQUEST.
//
// Needs ALTER_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or, for
// broker and broker-logger resources, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED) once the authorizer is on.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var alterConfigsHandler = handle(kmsg.AlterConfigs, 0, 2, func(s *deps, r *request, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	if resp, ok := s.forwardIfNotController(r); ok {
		if !req.ValidateOnly {
			// The request replaces the whole set: keys it leaves out are
			// deleted, which the wait does not check.
			want := topicConfigWant{}
			for _, rr := range req.Resources {
				if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
					continue
				}
				keys := map[string]*string{}
				for _, c := range rr.Configs {
					keys[c.Name] = c.Value
				}
				want[rr.ResourceName] = keys
			}
			done := map[configResource]bool{}
			var rs []kmsg.AlterConfigsResponseResource
			if ar, ok := resp.(*kmsg.AlterConfigsResponse); ok {
				rs = ar.Resources
			}
			for _, sr := range rs {
				if sr.ErrorCode == 0 {
					done[configResource{sr.ResourceType, sr.ResourceName}] = true
				}
			}
			s.afterAlterConfigs("AlterConfigs", want, func(n string) bool { return done[configResource{kmsg.ConfigResourceTypeTopic, n}] })
			bwant := brokerConfigWant{}
			for _, rr := range req.Resources {
				if keys := bwant.resource(configResource{rr.ResourceType, rr.ResourceName}, done); keys != nil {
					for _, c := range rr.Configs {
						keys[c.Name] = c.Value
					}
				}
			}
			s.afterAlterBrokerConfigs("AlterConfigs", bwant)
		}
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	seen := map[configResource]int{}
	for _, rr := range req.Resources {
		seen[configResource{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]controller.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, controller.ConfigOp{Name: c.Name, Op: controller.OpSet, Value: c.Value})
		}
		res := configResource{rr.ResourceType, rr.ResourceName}
		if sr.ErrorCode = s.configDenied(r, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); sr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		sr.ErrorCode, sr.ErrorMessage = s.alterConfigs(r, res, seen[res], ops, false, req.ValidateOnly)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
})

type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterConfigs applies one resource's config changes (AlterConfigs and
// IncrementalAlterConfigs) and returns its error code and message.
func (s *deps) alterConfigs(r *request, res configResource, copies int, ops []controller.ConfigOp, incremental, validateOnly bool) (int16, *string) {
	switch {
	case copies > 1:
		return errCodeMsg(controller.ErrInvalidRequest, "resource "+res.name+" appears more than once in the request")
	case res.typ == kmsg.ConfigResourceTypeBroker:
		return s.alterBrokerConfigs(r, res, ops, incremental, validateOnly)
	case res.typ == kmsg.ConfigResourceTypeClientMetrics:
		return s.alterClientMetrics(res, ops, incremental, validateOnly)
	case res.typ == kmsg.ConfigResourceTypeBrokerLogger:
		return errCodeMsg(controller.ErrInvalidRequest, "BROKER_LOGGER resources can only be changed with IncrementalAlterConfigs")
	case res.typ != kmsg.ConfigResourceTypeTopic:
		return errCodeMsg(controller.ErrInvalidRequest, "unsupported resource type "+res.typ.String())
	}
	if err := s.ctrl.AlterTopicConfigs(res.name, ops, incremental, validateOnly); err != nil {
		return errCode(err), errMessage(err)
	}
	if !validateOnly {
		if t := s.ctrl.Snapshot().Topic(res.name); t != nil {
			s.parts.reconfigure(t)
		}
		s.log.Info().Str("topic", res.name).Bool("incremental", incremental).Msg("altered topic configs")
	}
	return 0, nil
}

func errCodeMsg(err error, msg string) (int16, *string) {
	return errCode(err), &msg
}
