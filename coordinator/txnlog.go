package coordinator

// The __transaction_state record formats, Kafka's TransactionLogKey and
// TransactionLogValue (transaction-coordinator module), so that Kafka's
// tools (kafka-dump-log --transaction-log-decoder) read a gregor log:
//
//   - key version 0: int16 version, string transactional_id;
//   - value version 0: int16 version, int64 producer_id, int16
//     producer_epoch, int32 transaction_timeout_ms, int8 state, a nullable
//     array of (string topic, array of int32 partition ids), int64
//     last_update_timestamp_ms, int64 start_timestamp_ms;
//   - value version 1 is the same fields in the flexible encoding (compact
//     strings and arrays, tag buffers) with tagged fields 0
//     PreviousProducerId (default -1), 1 NextProducerId (-1) and 2
//     ClientTransactionVersion (0);
//   - a null value is a tombstone: the transactional id expired.
//
// The coordinator writes value version 1 (Kafka 3.5+ reads it) and reads
// both. An Empty state is written with null partitions, as Kafka does.

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	txnKeyVersion   = 0
	txnValueVersion = 1
)

// TxnState is a transaction's state as __transaction_state stores it.
type TxnState int8

// The transaction states, numbered as in the log.
const (
	TxnEmpty TxnState = iota
	TxnOngoing
	TxnPrepareCommit
	TxnPrepareAbort
	TxnCompleteCommit
	TxnCompleteAbort
	TxnDead
	TxnPrepareEpochFence
)

var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is Kafka's name for the state (DescribeTransactions,
// ListTransactions).
func (s TxnState) String() string {
	if s < 0 || int(s) >= len(txnStateNames) {
		return fmt.Sprintf("TxnState(%d)", int8(s))
	}
	return txnStateNames[s]
}

// parseTxnState is String's inverse.
func parseTxnState(name string) (TxnState, bool) {
	i := slices.Index(txnStateNames[:], name)
	return TxnState(i), i >= 0
}

// TxnPartition is one partition in a transaction.
type TxnPartition struct {
	Topic     string
	Partition int32
}

func compareTxnPartitions(a, b TxnPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// txnRecord is the persisted part of a transactional id's metadata.
type txnRecord struct {
	producerID     int64
	prevProducerID int64 // -1: none
	epoch          int16
	timeoutMs      int32
	state          TxnState
	partitions     []TxnPartition // sorted
	updateMs       int64
	startMs        int64
	clientVersion  int16
}

func encodeTxnKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: txnKeyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

func encodeTxnValue(r txnRecord) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = txnValueVersion
	v.ProducerID, v.ProducerEpoch = r.producerID, r.epoch
	v.TimeoutMillis = r.timeoutMs
	v.State = kmsg.TransactionState(r.state)
	v.LastUpdateTimestamp, v.StartTimestamp = r.updateMs, r.startMs
	v.PreviousProducerID = r.prevProducerID
	v.ClientTransactionVersion = r.clientVersion
	if r.state != TxnEmpty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, p := range r.partitions {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != p.Topic {
				v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: p.Topic})
			}
			t := &v.Topics[len(v.Topics)-1]
			t.Partitions = append(t.Partitions, p.Partition)
		}
	}
	return v.AppendTo(nil)
}

// decodeTxnRecord decodes one __transaction_state record: the
// transactional id, and its metadata (nil for a tombstone). A key of
// another version decodes to skip (the loader ignores it).
func decodeTxnRecord(key, value []byte) (id string, rec *txnRecord, skip bool, err error) {
	if len(key) < 2 {
		return "", nil, false, fmt.Errorf("%w: __transaction_state key of %d bytes", ErrCorruptRecord, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != txnKeyVersion {
		return "", nil, true, nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, false, fmt.Errorf("%w: transaction key: %v", ErrCorruptRecord, err)
	}
	if value == nil {
		return k.TransactionalID, nil, false, nil
	}
	if len(value) < 2 {
		return "", nil, false, fmt.Errorf("%w: transaction value of %d bytes", ErrCorruptRecord, len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v < 0 || v > txnValueVersion {
		return "", nil, false, fmt.Errorf("%w: transaction value version %d", ErrCorruptRecord, v)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, false, fmt.Errorf("%w: transaction value: %v", ErrCorruptRecord, err)
	}
	if v.State < 0 || v.State > kmsg.TransactionState(TxnPrepareEpochFence) {
		return "", nil, false, fmt.Errorf("%w: transaction state %d", ErrCorruptRecord, v.State)
	}
	r := &txnRecord{
		producerID:     v.ProducerID,
		prevProducerID: -1,
		epoch:          v.ProducerEpoch,
		timeoutMs:      v.TimeoutMillis,
		state:          TxnState(v.State),
		updateMs:       v.LastUpdateTimestamp,
		startMs:        v.StartTimestamp,
	}
	if v.Version >= 1 {
		r.prevProducerID, r.clientVersion = v.PreviousProducerID, v.ClientTransactionVersion
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			r.partitions = append(r.partitions, TxnPartition{t.Topic, p})
		}
	}
	slices.SortFunc(r.partitions, compareTxnPartitions)
	r.partitions = slices.Compact(r.partitions)
	return k.TransactionalID, r, false, nil
}
