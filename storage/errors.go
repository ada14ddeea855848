package storage

import "errors"

// Sentinel errors. The broker maps them to Kafka error codes (see each comment).
// Errors returned by this package wrap one of these; test with errors.Is.
var (
	// ErrCorruptMessage: bad length, bad CRC, truncated batch. Kafka:
	// CORRUPT_MESSAGE.
	ErrCorruptMessage = errors.New("storage: corrupt message")
	// ErrUnsupportedMagic: a batch whose magic is not 2. Kafka: UNSUPPORTED_FOR_MESSAGE_FORMAT.
	ErrUnsupportedMagic = errors.New("storage: unsupported message format (magic != 2)")
	// ErrMessageTooLarge: a batch larger than Config.MaxMessageBytes. Kafka: MESSAGE_TOO_LARGE.
	ErrMessageTooLarge = errors.New("storage: message too large")
	// ErrInvalidRecord: empty records, a batch whose record count does not
	// match its lastOffsetDelta, more than one batch in an append that
	// carries a producer id, or a record without a key appended to a
	// compacted log. Kafka: INVALID_RECORD.
	ErrInvalidRecord = errors.New("storage: invalid record")
	// ErrOutOfOrderSequence: sequence gap for an idempotent producer.
	// Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than the
	// one on record. Kafka: INVALID_PRODUCER_EPOCH.
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrTransactionCoordinatorFenced: a transaction marker whose
	// coordinator epoch is below the last one seen for its producer.
	// Kafka: TRANSACTION_COORDINATOR_FENCED.
	ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")
	// ErrOffsetOutOfRange: Read below the log start or above the log end.
	// Kafka: OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrPolicyViolation: DeleteRecords on a log whose cleanup.policy does
	// not include delete. Kafka: POLICY_VIOLATION.
	ErrPolicyViolation = errors.New("storage: policy violation")
	// ErrCompactionAborted: Compact gave up because the log was truncated
	// (or closed) while it cleaned; nothing was changed by the abandoned part.
	ErrCompactionAborted = errors.New("storage: compaction aborted")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("storage: log closed")
	// ErrStorage wraps I/O errors. Kafka: KAFKA_STORAGE_ERROR.
	ErrStorage = errors.New("storage: i/o error")
)
