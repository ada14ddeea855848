package broker

import (
	"time"
)

// QuotaConfig holds client quota settings: how quota rates are sampled
// (Kafka's quota.window.num windows of quota.window.size.seconds).
type QuotaConfig struct {
	WindowNum  int           // quota.window.num
	WindowSize time.Duration // quota.window.size.seconds
}

// quotaConfigDefs are the keys of QuotaConfig.
var quotaConfigDefs = []configDef{
	intKey("quota.window.num", "11", "Number of samples kept in memory for client quota rates.", 1, 1<<16, func(c *Config, n int64) { c.Quota.WindowNum = int(n) }),
	intKey("quota.window.size.seconds", "1", "Time span of each client quota sample.", 1, 1<<20, func(c *Config, n int64) { c.Quota.WindowSize = time.Duration(n) * time.Second }),
}
