package broker

// quorumHandlers lists the APIs of the controller quorum's membership
// (KIP-595 DescribeQuorum, KIP-853 AddRaftVoter/RemoveRaftVoter; the
// work is in controller/quorum.go).
var quorumHandlers = []handler{
	describeQuorumHandler,
	addRaftVoterHandler,
	removeRaftVoterHandler,
}

// clusterMetadataTopic is the name Kafka gives the metadata log's
// partition (gregor's is the Raft log; it is not a topic clients see).
const clusterMetadataTopic = "__cluster_metadata"

// voterChangeTimeout bounds a voter change whose request names no
// timeout (AddRaftVoter's default, RemoveRaftVoter always).
const voterChangeTimeout = 15000
