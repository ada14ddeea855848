package broker

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ConsumerGroupConfig holds the settings of KIP-848 consumer groups.
type ConsumerGroupConfig struct {
	Assignors         []string      // group.consumer.assignors, the first is the default
	HeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	SessionTimeout    time.Duration // group.consumer.session.timeout.ms
	MaxSize           int           // group.consumer.max.size
	MigrationPolicy   string        // group.consumer.migration.policy (lower case)
}

// consumerAssignorNames maps the names group.consumer.assignors accepts,
// Kafka's short names and class names, to gregor's assignors.
var consumerAssignorNames = map[string]string{
	"uniform": "uniform",
	"range":   "range",
	"org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
	"org.apache.kafka.coordinator.group.assignor.RangeAssignor":   "range",
}

// consumerGroupConfigDefs are the keys of KIP-848 consumer groups
// (group.consumer.*), set in GroupsConfig.Consumer.
var consumerGroupConfigDefs = []configDef{
	{name: "group.consumer.assignors", typ: "list", def: "uniform,range", doc: "Server-side assignors of consumer groups (uniform, range); the first is the default.", apply: func(c *Config, v string) error {
		var out []string
		for _, n := range strings.Split(v, ",") {
			a, ok := consumerAssignorNames[strings.TrimSpace(n)]
			if !ok {
				return fmt.Errorf("unknown assignor %q (uniform, range)", strings.TrimSpace(n))
			}
			out = append(out, a)
		}
		c.Groups.Consumer.Assignors = out
		return nil
	}},
	msKey("group.consumer.heartbeat.interval.ms", "5000", "Heartbeat interval given to consumer group members.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Groups.Consumer.HeartbeatInterval = d }),
	msKey("group.consumer.session.timeout.ms", "45000", "Session timeout of consumer group members.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Groups.Consumer.SessionTimeout = d }),
	intKey("group.consumer.max.size", "2147483647", "Most members a consumer group may have.", 1, math.MaxInt32, func(c *Config, n int64) { c.Groups.Consumer.MaxSize = int(n) }),
	{name: "group.consumer.migration.policy", typ: "string", def: "bidirectional", doc: "Online conversion of groups with members between the classic and the consumer protocol: disabled, upgrade, downgrade or bidirectional.", apply: func(c *Config, v string) error {
		switch p := strings.ToLower(v); p {
		case "disabled", "upgrade", "downgrade", "bidirectional":
			c.Groups.Consumer.MigrationPolicy = p
			return nil
		}
		return fmt.Errorf("%q is not one of disabled, upgrade, downgrade, bidirectional", v)
	}},
}
