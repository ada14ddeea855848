package broker

// AuthzConfig holds the authorizer's settings.
type AuthzConfig struct{}

// authzConfigDefs are the keys of AuthzConfig.
var authzConfigDefs = []configDef{}
