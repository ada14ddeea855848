package storage

// ProducerInfo is one producer's state on a partition, as DescribeProducers
// reports it.
type ProducerInfo struct {
	ProducerID            int64
	ProducerEpoch         int16
	LastSequence          int32 // -1 when no batch is retained
	LastTimestamp         int64
	CoordinatorEpoch      int32 // -1 when no marker was seen
	CurrentTxnStartOffset int64 // -1 when no transaction is ongoing
}

// Producers returns the state of every producer the log tracks.
func (l *Log) Producers() []ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ps == nil {
		return nil
	}
	out := make([]ProducerInfo, 0, len(l.ps.producers))
	for pid, e := range l.ps.producers {
		pi := ProducerInfo{ProducerID: pid, ProducerEpoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTs,
			CoordinatorEpoch: e.coordEpoch, CurrentTxnStartOffset: e.txnFirst}
		if n := len(e.batches); n > 0 {
			pi.LastSequence = e.batches[n-1].lastSeq
		}
		out = append(out, pi)
	}
	return out
}
