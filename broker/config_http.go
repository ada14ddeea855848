package broker

// HTTPConfig holds the HTTP listener's settings (metrics, health, console).
type HTTPConfig struct{}

// httpConfigDefs are the keys of HTTPConfig.
var httpConfigDefs = []configDef{}
