package broker

// IncrementalAlterConfigs (key 44), v0-v1.
//
// Topics: applies each operation in order (SET, DELETE to return a key to
// its default, APPEND and SUBTRACT on list keys such as cleanup.policy);
// the result is validated as a whole by the controller; validate_only
// checks without storing. A key named twice in one resource, or an unknown
// operation, is INVALID_REQUEST. Open logs of the topic pick the new
// storage settings up at once. Brokers and broker loggers:
// INVALID_REQUEST (no dynamic broker configs). See 33_alter_configs.go.
//
// Needs ALTER_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or, for
// broker and broker-logger resources, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED) once the authorizer is on.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var incrementalAlterConfigsHandler = handle(kmsg.IncrementalAlterConfigs, 0, 1, func(s *deps, r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	if resp, ok := s.forwardIfNotController(r); ok {
		if !req.ValidateOnly {
			// SET and DELETE are waited for; APPEND and SUBTRACT depend on
			// the old value and are not.
			want := topicConfigWant{}
			for _, rr := range req.Resources {
				if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
					continue
				}
				keys := map[string]*string{}
				for _, c := range rr.Configs {
					switch c.Op {
					case kmsg.IncrementalAlterConfigOpSet:
						keys[c.Name] = c.Value
					case kmsg.IncrementalAlterConfigOpDelete:
						keys[c.Name] = nil
					}
				}
				want[rr.ResourceName] = keys
			}
			done := map[string]bool{}
			var rs []kmsg.IncrementalAlterConfigsResponseResource
			if ir, ok := resp.(*kmsg.IncrementalAlterConfigsResponse); ok {
				rs = ir.Resources
			}
			for _, sr := range rs {
				if sr.ResourceType == kmsg.ConfigResourceTypeTopic && sr.ErrorCode == 0 {
					done[sr.ResourceName] = true
				}
			}
			s.afterAlterConfigs("IncrementalAlterConfigs", want, func(n string) bool { return done[n] })
		}
		return resp, nil
	}
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	seen := map[configResource]int{}
	for _, rr := range req.Resources {
		seen[configResource{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]controller.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, controller.ConfigOp{Name: c.Name, Op: int8(c.Op), Value: c.Value})
		}
		res := configResource{rr.ResourceType, rr.ResourceName}
		if sr.ErrorCode = s.configDenied(r, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); sr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		sr.ErrorCode, sr.ErrorMessage = s.alterConfigs(res, seen[res], ops, true, req.ValidateOnly)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
})
