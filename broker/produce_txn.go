package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// verifyTxnProduce checks a transactional Produce partition before its
// records are appended: the producer must be allowed to write for its
// transactional id, and the partition must be in its ongoing transaction
// (KIP-890 part 1: the coordinator is asked with AddPartitionsToTxn
// verify_only). It returns the partition's error code, 0 to append.
//
// With transaction.partition.verification.enable false batches are
// appended unverified, as Kafka did before 3.6.
func (s *deps) verifyTxnProduce(r *request, txnID string, topic string, partition int32, records []byte) int16 {
	if !s.authorize(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, txnID) {
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	pid, epoch, txnal, ok := batchProducer(records)
	if !ok {
		return 0 // storage reports the malformed batch
	}
	if !txnal || s.txnVerify == nil || !s.cfg.Txn.PartitionVerification {
		return 0
	}
	codes, err := s.txnVerify.verifyTxnPartitions(s.ctx, txnID, pid, epoch, topic, []int32{partition})
	if err != nil {
		return kerr.NotEnoughReplicas.Code // retriable: the coordinator could not be asked now
	}
	switch code := codes[partition]; code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code, kerr.ConcurrentTransactions.Code:
		return kerr.NotEnoughReplicas.Code
	default:
		return code
	}
}

// batchProducer reads the producer id, epoch and transactional bit of the
// first record batch of records (magic 2).
func batchProducer(records []byte) (pid int64, epoch int16, transactional, ok bool) {
	if len(records) < 61 || records[16] != 2 {
		return 0, 0, false, false
	}
	attrs := binary.BigEndian.Uint16(records[21:23])
	return int64(binary.BigEndian.Uint64(records[43:51])), int16(binary.BigEndian.Uint16(records[51:53])), attrs&0x10 != 0, true
}
