package broker

import "context"

// txnVerifier answers, for a transactional Produce, whether each partition
// is in the producer's ongoing transaction: its coordinator is asked
// (AddPartitionsToTxn with verify_only, KIP-890 part 1), locally when this
// broker is the coordinator. The codes are per partition (0: in the
// transaction; INVALID_TXN_STATE, PRODUCER_FENCED, NOT_COORDINATOR, ...);
// an error means the coordinator could not be asked.
type txnVerifier interface {
	verifyTxnPartitions(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, topic string, partitions []int32) (map[int32]int16, error)
}
