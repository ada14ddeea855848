package compat

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnAPIs are the transaction APIs a transactional producer uses.
var TxnAPIs = []kmsg.Key{kmsg.InitProducerID, kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn, kmsg.TxnOffsetCommit}

// Aborted is one entry of a read_committed Fetch's aborted_transactions.
type Aborted struct {
	ProducerID  int64
	FirstOffset int64
}

// TxnPartition is what a raw read_committed Fetch from offset 0 says of one
// partition: its high watermark, last stable offset and aborted
// transactions.
type TxnPartition struct {
	HighWatermark    int64
	LastStableOffset int64
	Aborted          []Aborted
}

// FetchTxnPartition asks the broker for topic/partition with a raw
// read_committed Fetch (isolation_level 1) from offset 0, so a scenario can
// check the aborted-transaction list a read_uncommitted client never sees.
func FetchTxnPartition(topic string, partition int32) (TxnPartition, error) {
	var tp TxnPartition
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	f, err := newPartitionFetcher(ctx, topic, partition)
	if err != nil {
		return tp, err
	}
	defer f.close()
	p, err := f.fetch(ctx, 0, 1)
	if err != nil {
		return tp, err
	}
	tp.HighWatermark, tp.LastStableOffset = p.HighWatermark, p.LastStableOffset
	for _, a := range p.AbortedTransactions {
		tp.Aborted = append(tp.Aborted, Aborted{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset})
	}
	return tp, nil
}

// CheckAborted fails unless topic/partition's read_committed Fetch from 0
// lists exactly the aborted transactions starting at firsts (in any
// producer) and its last stable offset is its high watermark (no
// transaction left open).
func CheckAborted(topic string, partition int32, firsts ...int64) error {
	tp, err := FetchTxnPartition(topic, partition)
	if err != nil {
		return err
	}
	if tp.LastStableOffset != tp.HighWatermark {
		return fmt.Errorf("last stable offset %d, high watermark %d: a transaction is still open", tp.LastStableOffset, tp.HighWatermark)
	}
	got := map[int64]bool{}
	for _, a := range tp.Aborted {
		got[a.FirstOffset] = true
	}
	want := map[int64]bool{}
	for _, f := range firsts {
		want[f] = true
	}
	if len(got) != len(want) {
		return fmt.Errorf("aborted transactions %v, want first offsets %v", tp.Aborted, firsts)
	}
	for f := range want {
		if !got[f] {
			return fmt.Errorf("aborted transactions %v, want first offsets %v", tp.Aborted, firsts)
		}
	}
	return nil
}
