package coordinator

import "errors"

// Sentinel errors. Protocol-level group errors (UNKNOWN_MEMBER_ID,
// ILLEGAL_GENERATION, ...) are Kafka error codes in the responses the
// coordinator builds; these are failures of the coordinator itself.
var (
	// ErrClosed: the coordinator (or the partition's shard) was shut down
	// while a request waited.
	ErrClosed = errors.New("coordinator: closed")
	// ErrNotCoordinator: this coordinator has not loaded the group's
	// __consumer_offsets partition.
	ErrNotCoordinator = errors.New("coordinator: not the coordinator for this group")
	// ErrCorruptRecord: a __consumer_offsets record that does not decode.
	ErrCorruptRecord = errors.New("coordinator: corrupt __consumer_offsets record")
)
