package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/controller"
	"gregor/coordinator"
	"gregor/storage"
)

// errorCodes maps our packages' sentinel errors to Kafka error codes: the
// one place that does it. Errors not listed are UNKNOWN_SERVER_ERROR.
var errorCodes = []struct {
	err  error
	kerr *kerr.Error
}{
	{storage.ErrCorruptMessage, kerr.CorruptMessage},
	{storage.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{storage.ErrMessageTooLarge, kerr.MessageTooLarge},
	{storage.ErrInvalidRecord, kerr.InvalidRecord},
	{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrClosed, kerr.NotLeaderForPartition},
	{storage.ErrStorage, kerr.KafkaStorageError},
	{controller.ErrTopicExists, kerr.TopicAlreadyExists},
	{controller.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{controller.ErrInvalidTopic, kerr.InvalidTopicException},
	{controller.ErrInvalidPartitions, kerr.InvalidPartitions},
	{controller.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{controller.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{controller.ErrInvalidConfig, kerr.InvalidConfig},
	{controller.ErrInvalidRequest, kerr.InvalidRequest},
	{storage.ErrPolicyViolation, kerr.PolicyViolation},
	{errUnknownPartition, kerr.UnknownTopicOrPartition},
	{errInternalTopic, kerr.InvalidTopicException},
	{errNoController, kerr.NotController},
	{controller.ErrNotController, kerr.NotController},
	{controller.ErrBrokerNotRegistered, kerr.BrokerIDNotRegistered},
	{controller.ErrNotLeader, kerr.NotLeaderForPartition},
	{controller.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{controller.ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{controller.ErrIneligibleReplica, kerr.IneligibleReplica},
	{controller.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{controller.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{controller.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{controller.ErrNoReassignmentInProgress, kerr.NoReassignmentInProgress},
	{controller.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{controller.ErrResourceNotFound, kerr.ResourceNotFound},
	{controller.ErrDuplicateResource, kerr.DuplicateResource},
	{controller.ErrUnsupportedSaslMechanism, kerr.UnsupportedSaslMechanism},
	{controller.ErrUnacceptableCredential, kerr.UnacceptableCredential},
	{controller.ErrDuplicateVoter, kerr.DuplicateVoter},
	{controller.ErrVoterNotFound, kerr.VoterNotFound},
	{controller.ErrQuorumTimeout, kerr.RequestTimedOut},
	{controller.ErrNoQuorum, kerr.UnsupportedVersion},
	{coordinator.ErrNotCoordinator, kerr.NotCoordinator},
	{coordinator.ErrClosed, kerr.CoordinatorNotAvailable},
	{coordinator.ErrCorruptRecord, kerr.CorruptMessage},
}

var (
	errUnknownPartition = errors.New("broker: unknown topic or partition")
	errInternalTopic    = errors.New("broker: cannot append to internal topic")
	// errSessionMismatch: a leader's fetch response named a partition
	// outside the follower's fetch session (fetcher_session.go).
	errSessionMismatch = errors.New("broker: fetch response does not match the fetch session")
)

// errCode returns the Kafka error code for err (0 for nil).
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.kerr.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errMessage returns err's text for a response's ErrorMessage field.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
