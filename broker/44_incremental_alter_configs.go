package broker

// IncrementalAlterConfigs (key 44), v0-v1.
//
// Topics: applies each operation in order (SET, DELETE to return a key to
// its default, APPEND and SUBTRACT on list keys such as cleanup.policy);
// the result is validated as a whole by the controller; validate_only
// checks without storing. A key named twice in one resource, or an unknown
// operation, is INVALID_REQUEST. Open logs of the topic pick the new
// storage settings up at once. Brokers (a node id, or "" for the cluster
// default): the same operations on the resource's dynamic broker configs,
// stored in the controller (see 33_alter_configs.go for the rules). Broker
// loggers (resource name = this node's id): log levels of this broker,
// handled here and never forwarded (dynamic_configs.go).
//
// Needs ALTER_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or, for
// broker and broker-logger resources, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED) once the authorizer is on.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var incrementalAlterConfigsHandler = handle(kmsg.IncrementalAlterConfigs, 0, 1, func(s *deps, r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	// Broker loggers are this broker's: answered here, the rest forwarded.
	var loggers []kmsg.IncrementalAlterConfigsResponseResource
	rest := req.Resources[:0:0]
	for _, rr := range req.Resources {
		if rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
			loggers = append(loggers, s.alterBrokerLoggers(r, rr, req.ValidateOnly))
		} else {
			rest = append(rest, rr)
		}
	}
	req.Resources = rest
	resp, err := incrementalAlterConfigs(s, r, req)
	if ir, ok := resp.(*kmsg.IncrementalAlterConfigsResponse); ok {
		ir.Resources = append(ir.Resources, loggers...)
	}
	return resp, err
})

// incrementalAlterConfigs serves the topic and broker resources.
func incrementalAlterConfigs(s *deps, r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	if len(req.Resources) == 0 {
		return req.ResponseKind(), nil
	}
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
			done := map[configResource]bool{}
			var rs []kmsg.IncrementalAlterConfigsResponseResource
			if ir, ok := resp.(*kmsg.IncrementalAlterConfigsResponse); ok {
				rs = ir.Resources
			}
			for _, sr := range rs {
				if sr.ErrorCode == 0 {
					done[configResource{sr.ResourceType, sr.ResourceName}] = true
				}
			}
			s.afterAlterConfigs("IncrementalAlterConfigs", want, func(n string) bool { return done[configResource{kmsg.ConfigResourceTypeTopic, n}] })
			bwant := brokerConfigWant{}
			for _, rr := range req.Resources {
				keys := bwant.resource(configResource{rr.ResourceType, rr.ResourceName}, done)
				for _, c := range rr.Configs {
					switch {
					case keys == nil:
					case c.Op == kmsg.IncrementalAlterConfigOpSet:
						keys[c.Name] = c.Value
					case c.Op == kmsg.IncrementalAlterConfigOpDelete:
						keys[c.Name] = nil
					}
				}
			}
			s.afterAlterBrokerConfigs("IncrementalAlterConfigs", bwant)
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
		sr.ErrorCode, sr.ErrorMessage = s.alterConfigs(r, res, seen[res], ops, true, req.ValidateOnly)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
