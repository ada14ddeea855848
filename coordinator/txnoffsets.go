package coordinator

// Transactional offset commits (TxnOffsetCommit, KIP-98/447), as Kafka's
// group coordinator keeps them: the offsets are written to the group's
// __consumer_offsets partition at once, in a transactional batch of the
// committing producer, and kept pending for that producer; the COMMIT
// marker of its transaction on that partition makes them the groups'
// offsets, the ABORT marker drops them. Loading a partition replays both
// from the log, so a coordinator that takes over before the marker still
// has them. While an offset is pending, OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnOffset is one offset a producer committed inside its transaction
// (TxnOffsetCommit): the group sees it only after the COMMIT marker.
type txnOffset struct {
	group, topic string
	part         int32
	e            offsetEntry
}

// CommitTxnOffsets serves TxnOffsetCommit: the offsets are kept pending
// for the producer until its transaction's marker reaches this group's
// __consumer_offsets partition (ApplyTxnMarker). v3+ carry the member's
// generation (KIP-447) and are checked as an OffsetCommit is; older
// versions and generation -1 without a member are not.
func (c *Coordinator) CommitTxnOffsets(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	var resp *kmsg.TxnOffsetCommitResponse
	err := c.run(ctx, req.Group, func(sh *shard) { resp = sh.commitTxn(req) })
	if resp == nil && err == nil {
		resp = txnOffsetResponse(req, kerr.NotCoordinator.Code)
	}
	return resp, err
}

func txnOffsetResponse(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (sh *shard) commitTxn(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	code := int16(0)
	switch {
	case req.Group == "":
		code = kerr.InvalidGroupID.Code
	case req.Version >= 3 && (req.Generation >= 0 || req.MemberID != ""):
		g := sh.groups[req.Group]
		switch {
		case g == nil:
			code = kerr.IllegalGeneration.Code
		case g.cg != nil:
			// Transactional commits of consumer group members need no
			// OffsetCommit v9+ (Kafka's rule): the member epoch is checked.
			code = g.consumerCommitCheck(req.MemberID, req.Generation, 9, false)
		default:
			code = g.commitCheck(&kmsg.OffsetCommitRequest{Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID})
		}
	}
	resp := txnOffsetResponse(req, code)
	if code != 0 {
		return resp
	}
	nowMs := sh.now().UnixMilli()
	exists := sh.c.cfg.PartitionExists
	var recs []kv
	var pending []txnOffset
	var codes []*int16
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			switch {
			case exists != nil && !exists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case len(md) > sh.c.cfg.MaxMetadataSize:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				e := offsetEntry{offset: rp.Offset, leaderEpoch: -1, metadata: md, commitMs: nowMs}
				if req.Version >= 2 {
					e.leaderEpoch = rp.LeaderEpoch
				}
				recs = append(recs, kv{offsetCommitKey(req.Group, rt.Topic, rp.Partition), offsetCommitValue(e)})
				pending = append(pending, txnOffset{req.Group, rt.Topic, rp.Partition, e})
				codes = append(codes, &sp.ErrorCode)
			}
		}
	}
	if len(recs) == 0 {
		return resp
	}
	base, err := sh.appendBatch(buildTxnBatch(nowMs, req.ProducerID, req.ProducerEpoch, recs))
	if err != nil {
		// Retriable: the producer commits them again, or aborts.
		for _, c := range codes {
			*c = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	for i := range pending {
		pending[i].e.logOffset = base + int64(i)
	}
	sh.addPendingTxn(req.ProducerID, pending...)
	return resp
}

func (sh *shard) addPendingTxn(producerID int64, offs ...txnOffset) {
	if sh.txnOffsets == nil {
		sh.txnOffsets = map[int64][]txnOffset{}
	}
	sh.txnOffsets[producerID] = append(sh.txnOffsets[producerID], offs...)
}

// replayTxn loads one record of producerID's transactional batch: offset
// commits are pending until the producer's marker.
func (sh *shard) replayTxn(producerID int64, r record) {
	if o := r.offset; o != nil && o.value != nil {
		sh.addPendingTxn(producerID, txnOffset{o.group, o.topic, o.partition, *o.value})
	}
}

// ApplyTxnMarker is told that a COMMIT (commit true) or ABORT marker of
// producerID was written to __consumer_offsets partition p: the producer's
// pending offsets for groups of p are written as ordinary commits and
// become the groups' offsets, or are dropped.
func (c *Coordinator) ApplyTxnMarker(ctx context.Context, p int32, producerID int64, commit bool) error {
	c.mu.Lock()
	sh := c.shards[p]
	c.mu.Unlock()
	if sh == nil {
		return nil
	}
	var werr error
	err := sh.call(ctx, func() { werr = sh.applyTxnMarker(producerID, commit) })
	if err == ErrClosed {
		return nil
	}
	if err != nil {
		return err
	}
	return werr
}

func (sh *shard) applyTxnMarker(producerID int64, commit bool) error {
	sh.endTxn(producerID, commit)
	return nil
}

// endTxn ends producerID's transaction on this partition: on commit its
// pending offsets become the groups' offsets, each unless the group's
// offset for that partition was committed by a later record; on abort
// they are dropped. The offsets are in the log already: nothing is
// written.
func (sh *shard) endTxn(producerID int64, commit bool) {
	pending := sh.txnOffsets[producerID]
	delete(sh.txnOffsets, producerID)
	if !commit {
		return
	}
	for _, o := range pending {
		g := sh.groups[o.group]
		if g == nil {
			g = newGroup(sh, o.group)
			sh.groups[o.group] = g
		}
		if cur, ok := g.offsets[o.topic][o.part]; ok && cur.logOffset > o.e.logOffset {
			continue
		}
		g.setOffset(o.topic, o.part, o.e)
	}
}

// hasPendingTxn reports whether a transaction holds an offset of group
// pending: for the partition topic/part, or for any partition when topic
// is empty.
func (sh *shard) hasPendingTxn(group, topic string, part int32) bool {
	for _, offs := range sh.txnOffsets {
		for _, o := range offs {
			if o.group == group && (topic == "" || o.topic == topic && o.part == part) {
				return true
			}
		}
	}
	return false
}

// FetchStableOffsets is FetchOffsets for OffsetFetch with require_stable
// (v7+, KIP-447): a partition with an offset pending in an open
// transaction answers UNSTABLE_OFFSET_COMMIT (the client retries) instead
// of its committed offset.
func (c *Coordinator) FetchStableOffsets(ctx context.Context, group string, topics []TopicPartitions) (out []FetchedTopic, code int16, err error) {
	code = kerr.NotCoordinator.Code
	err = c.run(ctx, group, func(sh *shard) {
		out, code = sh.fetch(group, topics), 0
		if len(sh.txnOffsets) == 0 {
			return
		}
		for i := range out {
			for j := range out[i].Partitions {
				fp := &out[i].Partitions[j]
				if sh.hasPendingTxn(group, out[i].Topic, fp.Partition) {
					*fp = FetchedPartition{Partition: fp.Partition, Offset: -1, LeaderEpoch: -1, ErrorCode: kerr.UnstableOffsetCommit.Code}
				}
			}
		}
	})
	return out, code, err
}
