package broker

// applyTxnMarker is called when a COMMIT (commit true) or ABORT marker for
// producerID has been written to __consumer_offsets partition p: offsets
// the producer committed in its transaction (TxnOffsetCommit) become the
// group's offsets, or are dropped.
func (g *groups) applyTxnMarker(p int32, producerID int64, producerEpoch int16, commit bool) error {
	_ = producerEpoch // the marker was fenced by epoch when it was written
	return g.coord.ApplyTxnMarker(g.ctx, p, producerID, commit)
}
