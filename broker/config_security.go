package broker

// SecurityConfig holds the listeners' TLS and SASL settings.
type SecurityConfig struct{}

// securityConfigDefs are the keys of SecurityConfig.
var securityConfigDefs = []configDef{}
