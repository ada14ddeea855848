package broker

// applyTxnMarker is called when a COMMIT (commit true) or ABORT marker for
// producerID has been written to __consumer_offsets partition p: offsets
// the producer committed in its transaction (TxnOffsetCommit) become the
// group's offsets, or are dropped.
func (g *groups) applyTxnMarker(p int32, producerID int64, producerEpoch int16, commit bool) error {
	_, _, _, _ = p, producerID, producerEpoch, commit
	return nil
}
