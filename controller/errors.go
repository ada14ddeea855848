package controller

import "errors"

// Sentinel errors. Functions return them wrapped with detail
// (fmt.Errorf("%w: ...")); test with errors.Is. The broker maps each to a
// Kafka error code in one table and may use err.Error() as ErrorMessage.
var (
	// ErrClosed: the controller was closed.
	ErrClosed = errors.New("controller: closed")
	// ErrTopicExists maps to TOPIC_ALREADY_EXISTS (36).
	ErrTopicExists = errors.New("controller: topic already exists")
	// ErrUnknownTopic maps to UNKNOWN_TOPIC_OR_PARTITION (3), or
	// UNKNOWN_TOPIC_ID (100) when the request named the topic by ID.
	ErrUnknownTopic = errors.New("controller: unknown topic")
	// ErrInvalidTopic maps to INVALID_TOPIC_EXCEPTION (17): bad name or a
	// name colliding with an existing one ('.' and '_' treated as equal).
	ErrInvalidTopic = errors.New("controller: invalid topic")
	// ErrInvalidPartitions maps to INVALID_PARTITIONS (37).
	ErrInvalidPartitions = errors.New("controller: invalid partitions")
	// ErrInvalidReplicationFactor maps to INVALID_REPLICATION_FACTOR (38).
	ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")
	// ErrInvalidReplicaAssignment maps to INVALID_REPLICA_ASSIGNMENT (39).
	ErrInvalidReplicaAssignment = errors.New("controller: invalid replica assignment")
	// ErrInvalidConfig maps to INVALID_CONFIG (40): unknown key, bad
	// value, or an operation a key does not support. The message names the key.
	ErrInvalidConfig = errors.New("controller: invalid config")
	// ErrInvalidRequest maps to INVALID_REQUEST (42): contradictory
	// arguments, e.g. a manual assignment together with a partition count,
	// or the same config key twice in one alter.
	ErrInvalidRequest = errors.New("controller: invalid request")
	// ErrInvalidBroker: a broker registration with bad fields.
	ErrInvalidBroker = errors.New("controller: invalid broker registration")
)

// Sentinels of the replicated controller and of partition leadership.
var (
	// ErrNotController maps to NOT_CONTROLLER (41): this node is not the
	// Raft leader. The message names the leader when one is known; the
	// broker forwards the request to Leader().
	ErrNotController = errors.New("controller: not the active controller")
	// ErrBrokerNotRegistered maps to BROKER_ID_NOT_REGISTERED (122): a
	// heartbeat from a broker that never registered.
	ErrBrokerNotRegistered = errors.New("controller: broker not registered")
	// ErrNotLeader maps to NOT_LEADER_OR_FOLLOWER (6): AlterPartition
	// from a broker that does not lead the partition.
	ErrNotLeader = errors.New("controller: not the partition leader")
	// ErrFencedLeaderEpoch maps to FENCED_LEADER_EPOCH (74): the caller's
	// leader epoch is not the current one.
	ErrFencedLeaderEpoch = errors.New("controller: fenced leader epoch")
	// ErrInvalidUpdateVersion maps to INVALID_UPDATE_VERSION (95): the
	// caller's partition epoch is not the current one, or a finalized
	// feature update that Kafka's rules refuse (features.go).
	ErrInvalidUpdateVersion = errors.New("controller: invalid partition epoch")
	// ErrIneligibleReplica maps to INELIGIBLE_REPLICA (107): an ISR
	// expansion adds a fenced or unregistered broker.
	ErrIneligibleReplica = errors.New("controller: ineligible replica")
	// ErrElectionNotNeeded maps to ELECTION_NOT_NEEDED (84).
	ErrElectionNotNeeded = errors.New("controller: election not needed")
	// ErrPreferredLeaderNotAvailable maps to PREFERRED_LEADER_NOT_AVAILABLE (80).
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	// ErrEligibleLeadersNotAvailable maps to ELIGIBLE_LEADERS_NOT_AVAILABLE
	// (83): an unclean election found no live replica.
	ErrEligibleLeadersNotAvailable = errors.New("controller: eligible leaders not available")
	// ErrStaleBrokerEpoch maps to STALE_BROKER_EPOCH (77): a broker's
	// request carries an epoch other than its registration's.
	ErrStaleBrokerEpoch = errors.New("controller: stale broker epoch")
	// ErrNoReassignmentInProgress maps to NO_REASSIGNMENT_IN_PROGRESS
	// (85): a cancellation of a partition that is not being reassigned.
	ErrNoReassignmentInProgress = errors.New("controller: no reassignment in progress")
)

// Sentinels of quorum membership (quorum.go).
var (
	// ErrDuplicateVoter maps to DUPLICATE_VOTER (126): AddVoter of a
	// node that already votes.
	ErrDuplicateVoter = errors.New("controller: already a voter")
	// ErrVoterNotFound maps to VOTER_NOT_FOUND (127): RemoveVoter of a
	// node that does not vote.
	ErrVoterNotFound = errors.New("controller: not a voter")
	// ErrQuorumTimeout maps to REQUEST_TIMED_OUT (7): another voter
	// change is in progress, or the new voter did not catch up in time.
	ErrQuorumTimeout = errors.New("controller: voter change timed out")
	// ErrNoQuorum maps to UNSUPPORTED_VERSION (35): a single node without
	// Raft has no quorum to change (as Kafka answers a static quorum).
	ErrNoQuorum = errors.New("controller: no raft quorum")
)

// Raft transport login errors (raft_sasl.go): they end a Raft connection
// and never reach a Kafka client.
var (
	errRaftSASLDenied  = errors.New("controller: raft sasl: authentication failed")
	errRaftSASLRequest = errors.New("controller: raft sasl: malformed login")
)
