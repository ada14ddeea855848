package broker

import "math"

// TelemetryConfig holds the settings of client telemetry (KIP-714,
// telemetry.go).
type TelemetryConfig struct {
	// MaxBytes is the largest PushTelemetry payload accepted, compressed
	// and decompressed (telemetry.max.bytes).
	MaxBytes int
	// MaxSeries bounds the pushed series the broker keeps for export, over
	// all clients (gregor: telemetry.max.series); past it new series are
	// dropped and counted.
	MaxSeries int
}

// telemetryConfigDefs are the keys of TelemetryConfig.
var telemetryConfigDefs = []configDef{
	intKey("telemetry.max.bytes", "1048576", "Largest client telemetry push (KIP-714) accepted, compressed and decompressed.", 1, math.MaxInt32, func(c *Config, n int64) { c.Telemetry.MaxBytes = int(n) }),
	intKey("telemetry.max.series", "10000", "gregor: pushed client metric series kept for /metrics over all clients; more are dropped and counted.", 0, math.MaxInt32, func(c *Config, n int64) { c.Telemetry.MaxSeries = int(n) }),
}
