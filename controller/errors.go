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
