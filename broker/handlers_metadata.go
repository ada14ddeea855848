package broker

// metadataHandlers lists the APIs of newer metadata APIs: DescribeTopicPartitions, UpdateFeatures, ListConfigResources, client telemetry.
var metadataHandlers = []handler{
	getTelemetrySubscriptionsHandler,
	pushTelemetryHandler,
	describeTopicPartitionsHandler,
	listConfigResourcesHandler,
	updateFeaturesHandler,
}
