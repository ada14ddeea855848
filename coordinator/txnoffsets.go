package coordinator

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
//
// Pending offsets are held in memory: a coordinator that loses the
// partition before the marker arrives loses them.
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
		if g == nil {
			code = kerr.IllegalGeneration.Code
		} else {
			code = g.commitCheck(&kmsg.OffsetCommitRequest{Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID})
		}
	}
	resp := txnOffsetResponse(req, code)
	if code != 0 {
		return resp
	}
	nowMs := sh.now().UnixMilli()
	exists := sh.c.cfg.PartitionExists
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
				if sh.txnOffsets == nil {
					sh.txnOffsets = map[int64][]txnOffset{}
				}
				sh.txnOffsets[req.ProducerID] = append(sh.txnOffsets[req.ProducerID], txnOffset{req.Group, rt.Topic, rp.Partition, e})
			}
		}
	}
	return resp
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
	pending := sh.txnOffsets[producerID]
	delete(sh.txnOffsets, producerID)
	if !commit || len(pending) == 0 {
		return nil
	}
	recs := make([]kv, 0, len(pending))
	for _, o := range pending {
		recs = append(recs, kv{offsetCommitKey(o.group, o.topic, o.part), offsetCommitValue(o.e)})
	}
	if err := sh.write(recs); err != nil {
		return err
	}
	for _, o := range pending {
		g := sh.groups[o.group]
		if g == nil {
			g = newGroup(sh, o.group)
			sh.groups[o.group] = g
		}
		g.setOffset(o.topic, o.part, o.e)
	}
	return nil
}
