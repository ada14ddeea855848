package broker

// ClusterOpsConfig holds cluster-operation settings.
type ClusterOpsConfig struct{}

// clusterOpsConfigDefs are the keys of ClusterOpsConfig.
var clusterOpsConfigDefs = []configDef{}
