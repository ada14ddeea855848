package broker

// Dynamic broker configs: the keys of the key table (config.go) that
// IncrementalAlterConfigs and AlterConfigs may change at run time for one
// broker (resource name = its node id) or for every broker (resource name
// ""), and how a key's effective value is resolved. Kafka's precedence:
// dynamic per-broker > dynamic cluster default > static (file, env, flag)
// > default. The values live in the controller (record type 16), so every
// broker reads the same ones from its metadata snapshot.

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gregor/controller"
)

// ClusterOpsConfig holds cluster-operation settings.
type ClusterOpsConfig struct {
	// meta returns the metadata snapshot the dynamic broker configs are
	// read from (set by New; nil: static configs only).
	meta func() *controller.Snapshot

	// ThrottleWindowNum and ThrottleWindowSize are
	// replication.quota.window.num and .size.seconds: the samples of the
	// replication throttle rates (replication_throttle.go).
	ThrottleWindowNum  int
	ThrottleWindowSize time.Duration
}

// clusterOpsConfigDefs are the keys of ClusterOpsConfig.
var clusterOpsConfigDefs = replicationThrottleConfigDefs

// Kafka's DescribeConfigs sources of broker-level values.
const (
	configSourceDynamicBroker  int8 = 2
	configSourceDynamicDefault int8 = 3
)

// dynamicBrokerKeys are the keys gregor applies at run time, as Kafka
// does: the broker defaults of topic configs (Kafka's DynamicLogConfig:
// the first broker synonym of each, so log.retention.ms but not
// log.retention.hours), the cleaner's back-off (LogCleaner) and the
// connection limits (DynamicConnectionQuota). Every other key is read-only
// (Kafka needs a restart for it, or gregor does not apply it live).
var dynamicBrokerKeys = buildDynamicBrokerKeys()

func buildDynamicBrokerKeys() map[string]bool {
	m := map[string]bool{"log.cleaner.backoff.ms": true, "max.connections": true, "max.connections.per.ip": true,
		leaderThrottledRate: true, followerThrottledRate: true}
	for _, def := range controller.TopicConfigDefs() {
		switch def.BrokerKey {
		case "", "unclean.leader.election.enable": // the controller reads only the topic's own setting
			continue
		}
		if _, ok := configDefByName(def.BrokerKey); ok {
			m[def.BrokerKey] = true
		}
	}
	return m
}

// brokerValue resolves a broker key for this broker: its value and where
// it comes from (dynamic per-broker, dynamic default, static, default).
func (c *Config) brokerValue(key string) (v string, source int8, ok bool) {
	levels := c.brokerLevels(key, true)
	if len(levels) == 0 {
		return "", configSourceDefault, false
	}
	return levels[0].value, levels[0].source, true
}

// brokerLevels lists a broker key's values in precedence order: dynamic
// per-broker (when perBroker), dynamic cluster default, static, default;
// levels that do not set it are left out. DescribeConfigs lists them as
// synonyms.
func (c *Config) brokerLevels(key string, perBroker bool) []brokerLevelValue {
	var out []brokerLevelValue
	if dynamicBrokerKeys[key] && c.ClusterOps.meta != nil {
		if s := c.ClusterOps.meta(); s != nil {
			if v, ok := s.BrokerConfigs(c.NodeID)[key]; ok && perBroker {
				out = append(out, brokerLevelValue{v, configSourceDynamicBroker})
			}
			if v, ok := s.BrokerConfigs(controller.DefaultBrokerConfigs)[key]; ok {
				out = append(out, brokerLevelValue{v, configSourceDynamicDefault})
			}
		}
	}
	v, explicit, ok := c.value(key)
	if ok && explicit {
		out = append(out, brokerLevelValue{v, configSourceStaticBroker})
	}
	if d, known := configDefByName(key); known && (d.def != "" || (ok && !explicit)) {
		out = append(out, brokerLevelValue{d.def, configSourceDefault})
	}
	return out
}

type brokerLevelValue struct {
	value  string
	source int8
}

// liveInt is an int key's dynamic value when one is set and valid, else
// static (the typed field Load parsed).
func (c *Config) liveInt(key string, static int) int {
	v, src, _ := c.brokerValue(key)
	if src != configSourceDynamicBroker && src != configSourceDynamicDefault {
		return static
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return static
	}
	return int(n)
}

// liveDuration is a milliseconds key's dynamic value when one is set and
// positive, else static.
func (c *Config) liveDuration(key string, static time.Duration) time.Duration {
	n := c.liveInt(key, -1)
	if n <= 0 {
		return static
	}
	return time.Duration(n) * time.Millisecond
}

// brokerConfigError is the INVALID_REQUEST Kafka answers for a refused
// broker config change, with its message shape.
func brokerConfigError(res configResource, format string, args ...any) error {
	return fmt.Errorf("%w: Invalid config value for resource ConfigResource(type=BROKER, name='%s'): %s",
		controller.ErrInvalidRequest, res.name, fmt.Sprintf(format, args...))
}

// nextBrokerConfigs applies ops to cur (a resource's dynamic configs) and
// validates the result: every key known and dynamic, every value valid
// for its key. incremental applies SET, DELETE, APPEND and SUBTRACT in
// order; otherwise the ops replace the whole set (AlterConfigs).
func (c *Config) nextBrokerConfigs(res configResource, cur map[string]string, ops []controller.ConfigOp, incremental bool) (map[string]string, error) {
	var unknown, static []string
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return nil, fmt.Errorf("%w: duplicate config key %s", controller.ErrInvalidRequest, op.Name)
		}
		seen[op.Name] = true
		if _, ok := configDefByName(op.Name); !ok {
			unknown = append(unknown, op.Name)
		} else if !dynamicBrokerKeys[op.Name] {
			static = append(static, op.Name)
		}
	}
	if len(unknown) > 0 {
		return nil, brokerConfigError(res, "Unknown broker configs: Set(%s)", strings.Join(unknown, ", "))
	}
	if len(static) > 0 {
		return nil, brokerConfigError(res, "Cannot update these configs dynamically: Set(%s)", strings.Join(static, ", "))
	}
	next := cur
	if next == nil || !incremental {
		next = map[string]string{}
	}
	for _, op := range ops {
		def, _ := configDefByName(op.Name)
		switch {
		case !incremental || op.Op == controller.OpSet:
			if op.Value == nil {
				if !incremental {
					continue
				}
				return nil, fmt.Errorf("%w: null value not supported for: %s", controller.ErrInvalidConfig, op.Name)
			}
			next[op.Name] = strings.TrimSpace(*op.Value)
		case op.Op == controller.OpDelete:
			delete(next, op.Name)
		case op.Op == controller.OpAppend || op.Op == controller.OpSubtract:
			if def.typ != "list" {
				return nil, fmt.Errorf("%w: can't %s to key %s because its type is not LIST", controller.ErrInvalidConfig,
					map[int8]string{controller.OpAppend: "append", controller.OpSubtract: "subtract"}[op.Op], op.Name)
			}
			if op.Value == nil {
				return nil, fmt.Errorf("%w: null value not supported for: %s", controller.ErrInvalidConfig, op.Name)
			}
			curV, ok := next[op.Name]
			if !ok {
				curV, _, _ = c.value(op.Name)
			}
			next[op.Name] = controller.ListOp(curV, *op.Value, op.Op)
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d for %s", controller.ErrInvalidRequest, op.Op, op.Name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		def, _ := configDefByName(k)
		scratch := Config{values: map[string]string{}, set: map[string]bool{}}
		if err := def.apply(&scratch, next[k]); err != nil {
			return nil, brokerConfigError(res, "%s: %v", k, err)
		}
	}
	return next, nil
}
