package broker

// CLIENT_METRICS config resources (KIP-714): client-metrics subscriptions
// set with AlterConfigs and IncrementalAlterConfigs, described with
// DescribeConfigs and listed with ListConfigResources, as Kafka's
// kafka-client-metrics.sh drives them. Stored in the controller
// (controller/clientmetrics.go); the rules are parseClientMetrics's.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// clientMetricsDefs are the keys of a subscription, with Kafka's defaults
// and types.
var clientMetricsDefs = []struct {
	name, def, doc string
	typ            kmsg.ConfigType
}{
	{clientMetricsMetrics, "", "Telemetry metric name prefix list", kmsg.ConfigTypeList},
	{clientMetricsInterval, "300000", "Metrics push interval in milliseconds", kmsg.ConfigTypeInt},
	{clientMetricsMatch, "", "Client match criteria", kmsg.ConfigTypeList},
}

// alterClientMetrics applies ops to the subscription res.name (all of its
// configs deleted: the subscription is removed).
func (s *deps) alterClientMetrics(res configResource, ops []controller.ConfigOp, incremental, validateOnly bool) (int16, *string) {
	err := s.ctrl.AlterClientMetrics(res.name, func(cur map[string]string) (map[string]string, error) {
		next := cur
		if next == nil || !incremental {
			next = map[string]string{}
		}
		seen := map[string]bool{}
		for _, op := range ops {
			if seen[op.Name] {
				return nil, fmt.Errorf("%w: duplicate config key %s", controller.ErrInvalidRequest, op.Name)
			}
			seen[op.Name] = true
			var typ kmsg.ConfigType
			for _, d := range clientMetricsDefs {
				if d.name == op.Name {
					typ = d.typ
				}
			}
			if typ == 0 {
				return nil, fmt.Errorf("%w: unknown client metrics configuration: %s", controller.ErrInvalidRequest, op.Name)
			}
			switch {
			case !incremental || op.Op == controller.OpSet:
				if op.Value == nil {
					if !incremental {
						continue
					}
					return nil, fmt.Errorf("%w: null value not supported for: %s", controller.ErrInvalidConfig, op.Name)
				}
				next[op.Name] = *op.Value
			case op.Op == controller.OpDelete:
				delete(next, op.Name)
			case op.Op == controller.OpAppend || op.Op == controller.OpSubtract:
				if typ != kmsg.ConfigTypeList {
					return nil, fmt.Errorf("%w: can't append or subtract to key %s because its type is not LIST", controller.ErrInvalidConfig, op.Name)
				}
				if op.Value == nil {
					return nil, fmt.Errorf("%w: null value not supported for: %s", controller.ErrInvalidConfig, op.Name)
				}
				next[op.Name] = controller.ListOp(next[op.Name], *op.Value, op.Op)
			default:
				return nil, fmt.Errorf("%w: unknown config operation %d for %s", controller.ErrInvalidRequest, op.Op, op.Name)
			}
		}
		if _, err := parseClientMetrics(res.name, next); err != nil {
			return nil, err
		}
		return next, nil
	}, validateOnly)
	if err != nil {
		return errCode(err), errMessage(err)
	}
	if !validateOnly {
		s.log.Info().Str("subscription", res.name).Bool("incremental", incremental).Msg("altered client metrics subscription")
	}
	return 0, nil
}

// describeClientMetrics fills sr with the subscription's configs: set
// ones as DYNAMIC_CLIENT_METRICS_CONFIG, the others at their defaults
// (as Kafka, a subscription that does not exist describes as defaults).
func (s *deps) describeClientMetrics(req *kmsg.DescribeConfigsRequest, snap *controller.Snapshot, sr *kmsg.DescribeConfigsResponseResource, wanted func(string) bool) {
	if sr.ResourceName == "" {
		sr.ErrorCode = kerr.InvalidRequest.Code
		sr.ErrorMessage = kmsg.StringPtr("subscription name can't be empty")
		return
	}
	cur := snap.ClientMetrics()[sr.ResourceName]
	for _, d := range clientMetricsDefs {
		if !wanted(d.name) {
			continue
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.ConfigType = d.name, d.typ
		rc.Value, rc.Source, rc.IsDefault = kmsg.StringPtr(d.def), kmsg.ConfigSourceDefaultConfig, true
		if v, ok := cur[d.name]; ok {
			rc.Value, rc.Source, rc.IsDefault = kmsg.StringPtr(v), kmsg.ConfigSourceClientMetricsConfig, false
		}
		if req.IncludeDocumentation {
			rc.Documentation = kmsg.StringPtr(d.doc)
		}
		if req.IncludeSynonyms {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(d.name, *rc.Value, int8(rc.Source)))
		}
		sr.Configs = append(sr.Configs, rc)
	}
}
