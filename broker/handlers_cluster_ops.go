package broker

// clusterOpsHandlers lists the APIs of cluster operations: partition reassignments, log dirs.
var clusterOpsHandlers = []handler{
	describeLogDirsHandler,
	alterPartitionReassignmentsHandler,
	listPartitionReassignmentsHandler,
	alterReplicaLogDirsHandler,
}
