package broker

// consumerGroupConfigDefs are the keys of KIP-848 consumer groups
// (group.consumer.*), set in GroupsConfig.
var consumerGroupConfigDefs = []configDef{}
