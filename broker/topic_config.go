package broker

// A topic's effective configuration: its own settings over the broker
// keys that supply their defaults over Kafka's defaults, and the storage
// configuration of its logs.

import (
	"math"
	"strconv"
	"strings"

	"gregor/controller"
	"gregor/storage"
)

// topicConfig returns a topic config's effective value and its source:
// the topic's own setting, else the broker key that supplies its default
// (dynamic per-broker, dynamic cluster default, static, or its default;
// config_cluster_ops.go), else Kafka's default.
func (c *Config) topicConfig(t *controller.Topic, def controller.ConfigDef) (value string, source int8) {
	if t != nil {
		if v, ok := t.Configs[def.Name]; ok {
			return v, configSourceTopic
		}
	}
	if def.BrokerKey != "" {
		if v, src, ok := c.brokerValue(def.BrokerKey); ok {
			return v, src
		}
	}
	return def.Default, configSourceDefault
}

// Kafka's DescribeConfigs sources.
const (
	configSourceTopic        int8 = 1
	configSourceStaticBroker int8 = 4
	configSourceDefault      int8 = 5
)

// storageConfig resolves the topic's effective storage configuration.
func (c *Config) storageConfig(t *controller.Topic) storage.Config {
	cfg := storage.DefaultConfig()
	cfg.FS = c.Log.FS
	get := func(name string) string {
		def, ok := controller.LookupTopicConfig(name)
		if !ok {
			return ""
		}
		v, _ := c.topicConfig(t, def)
		return v
	}
	i64 := func(name string, dst *int64) {
		if n, err := strconv.ParseInt(get(name), 10, 64); err == nil {
			*dst = n
		}
	}
	i32 := func(name string, dst *int32) {
		if n, err := strconv.ParseInt(get(name), 10, 32); err == nil {
			*dst = int32(n)
		}
	}
	i64("segment.bytes", &cfg.SegmentBytes)
	i64("segment.ms", &cfg.SegmentMs)
	i32("index.interval.bytes", &cfg.IndexIntervalBytes)
	i32("segment.index.bytes", &cfg.SegmentIndexBytes)
	i64("flush.messages", &cfg.FlushMessages)
	i64("flush.ms", &cfg.FlushMs)
	i32("max.message.bytes", &cfg.MaxMessageBytes)
	i64("retention.ms", &cfg.RetentionMs)
	i64("retention.bytes", &cfg.RetentionBytes)
	cfg.LogAppendTime = get("message.timestamp.type") == "LogAppendTime"
	if cfg.RetentionMs == 0 {
		cfg.RetentionMs = 1 // storage reads 0 as "default"
	}
	if cfg.RetentionBytes == 0 {
		cfg.RetentionBytes = 1 // storage reads 0 as "default"; 1 differs only when sizes add up exactly
	}
	cfg.CleanupPolicy = get("cleanup.policy")
	if strings.TrimSpace(cfg.CleanupPolicy) == "" {
		cfg.CleanupPolicy = "none" // an empty list: neither delete nor compact
	}
	i64("delete.retention.ms", &cfg.DeleteRetentionMs)
	i64("min.compaction.lag.ms", &cfg.MinCompactionLagMs)
	if f, err := strconv.ParseFloat(strings.TrimSpace(get("min.cleanable.dirty.ratio")), 64); err == nil {
		cfg.MinCleanableDirtyRatio = f
	}
	cfg.FsyncOnAppend = c.Log.FlushOnAppend
	if cfg.FlushMessages <= 0 {
		cfg.FlushMessages = math.MaxInt64
	}
	return cfg
}

// minInsyncReplicas returns the topic's effective min.insync.replicas.
func (c *Config) minInsyncReplicas(t *controller.Topic) int {
	def, _ := controller.LookupTopicConfig("min.insync.replicas")
	v, _ := c.topicConfig(t, def)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
