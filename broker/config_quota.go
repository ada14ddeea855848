package broker

// QuotaConfig holds client quota settings.
type QuotaConfig struct{}

// quotaConfigDefs are the keys of QuotaConfig.
var quotaConfigDefs = []configDef{}
