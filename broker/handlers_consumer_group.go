package broker

// consumerGroupHandlers lists the APIs of KIP-848 consumer groups: ConsumerGroupHeartbeat, ConsumerGroupDescribe.
var consumerGroupHandlers = []handler{
	consumerGroupHeartbeatHandler,
	consumerGroupDescribeHandler,
}
