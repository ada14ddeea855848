package broker

// DescribeConfigs (key 32), v0-v4.
//
// Topics (resource type 2): every topic config with its effective value
// and source: TOPIC_CONFIG when the topic sets it, else the level that
// sets the broker key behind it (DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG), DEFAULT_CONFIG
// otherwise; synonyms (v1+) list the same chain. Brokers (type 4, our node
// id): every broker key gregor knows, resolved the same way, read-only
// unless it is a dynamic key (config_cluster_ops.go); name "": the same
// at the cluster-default level (per-broker values left out; Kafka lists
// only the dynamic defaults there). Broker loggers (type 8, our node id):
// the loggers and their levels. v3+ adds types and documentation.
//
// Needs DESCRIBE_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or, for
// broker and broker-logger resources, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED) once the authorizer is on.

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var describeConfigsHandler = handle(kmsg.DescribeConfigs, 0, 4, func(s *deps, r *request, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	snap := s.ctrl.Snapshot()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if sr.ErrorCode = s.configDenied(r, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName); sr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		wanted := func(name string) bool {
			if rr.ConfigNames == nil {
				return true
			}
			for _, n := range rr.ConfigNames {
				if n == name {
					return true
				}
			}
			return false
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := snap.Topic(rr.ResourceName)
			if t == nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if controller.ValidateTopicName(rr.ResourceName) != nil {
					sr.ErrorCode = kerr.InvalidTopicException.Code
				}
				break
			}
			for _, def := range controller.TopicConfigDefs() {
				if wanted(def.Name) {
					sr.Configs = append(sr.Configs, s.describeTopicConfig(req, t, def))
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = kmsg.StringPtr("unexpected broker id " + rr.ResourceName)
				break
			}
			for _, def := range configDefs {
				if wanted(def.name) {
					sr.Configs = append(sr.Configs, s.describeBrokerConfig(req, def, rr.ResourceName != ""))
				}
			}
		case kmsg.ConfigResourceTypeBrokerLogger:
			if rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = kmsg.StringPtr("unexpected broker id " + rr.ResourceName)
				break
			}
			for _, c := range s.loggers.describe() {
				if wanted(c.Name) {
					sr.Configs = append(sr.Configs, c)
				}
			}
		case kmsg.ConfigResourceTypeClientMetrics:
			s.describeClientMetrics(req, snap, &sr, wanted)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr("unsupported resource type")
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
})

func (s *deps) describeTopicConfig(req *kmsg.DescribeConfigsRequest, t *controller.Topic, def controller.ConfigDef) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	v, src := s.topicConfig(t, def)
	rc.Name = def.Name
	rc.Value = kmsg.StringPtr(v)
	rc.Source = kmsg.ConfigSource(src)
	rc.IsDefault = src == configSourceDefault
	rc.IsSensitive = def.Sensitive
	rc.ConfigType = kmsg.ConfigType(def.Type)
	if req.IncludeDocumentation {
		rc.Documentation = kmsg.StringPtr(def.Doc)
	}
	if req.IncludeSynonyms {
		if tv, ok := t.Configs[def.Name]; ok {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(def.Name, tv, configSourceTopic))
		}
		if def.BrokerKey == "" {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(def.Name, def.Default, configSourceDefault))
		}
		for _, l := range s.cfg.brokerLevels(def.BrokerKey, true) {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(def.BrokerKey, l.value, l.source))
		}
	}
	return rc
}

// describeBrokerConfig describes one broker key: for this broker
// (perBroker) or at the cluster-default level (resource name "", where
// per-broker dynamic values do not apply).
func (s *deps) describeBrokerConfig(req *kmsg.DescribeConfigsRequest, def configDef, perBroker bool) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = def.name
	levels := s.cfg.brokerLevels(def.name, perBroker)
	rc.Source = kmsg.ConfigSourceDefaultConfig
	if len(levels) > 0 {
		rc.Value = kmsg.StringPtr(levels[0].value)
		rc.Source = kmsg.ConfigSource(levels[0].source)
	}
	if def.typ == "password" {
		rc.Value, rc.IsSensitive = nil, true // as Kafka: secrets are never described
	}
	rc.ReadOnly = !dynamicBrokerKeys[def.name]
	rc.IsDefault = rc.Source == kmsg.ConfigSourceDefaultConfig
	rc.ConfigType = brokerConfigType(def.typ)
	if req.IncludeDocumentation {
		rc.Documentation = kmsg.StringPtr(def.doc)
	}
	if req.IncludeSynonyms && !rc.IsSensitive {
		for _, l := range levels {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(def.name, l.value, l.source))
		}
	}
	return rc
}

func synonym(name, value string, source int8) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	sy.Name, sy.Value, sy.Source = name, kmsg.StringPtr(value), kmsg.ConfigSource(source)
	return sy
}

func brokerConfigType(typ string) kmsg.ConfigType {
	switch typ {
	case "boolean":
		return kmsg.ConfigTypeBoolean
	case "int":
		return kmsg.ConfigTypeInt
	case "long":
		return kmsg.ConfigTypeLong
	case "list":
		return kmsg.ConfigTypeList
	case "double":
		return kmsg.ConfigTypeDouble
	case "password":
		return kmsg.ConfigTypePassword
	default:
		return kmsg.ConfigTypeString
	}
}
