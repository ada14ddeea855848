package broker

// applyTxnMarker is called when a COMMIT (commit true) or ABORT marker for
// producerID has been written to __consumer_offsets partition p: offsets
// the producer committed in its transaction (TxnOffsetCommit) become the
// group's offsets, or are dropped. The marker's producer epoch is not
// compared, as in Kafka (GroupCoordinatorShard.replayEndTransactionMarker
// hands OffsetMetadataManager only the producer id and result): a marker
// is written only after the partition's producer state accepted its epoch.
func (g *groups) applyTxnMarker(p int32, producerID int64, producerEpoch int16, commit bool) error {
	_ = producerEpoch // fenced when the marker was written; see above
	return g.coord.ApplyTxnMarker(g.ctx, p, producerID, commit)
}
