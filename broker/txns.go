package broker

// Glue between the broker and the transaction coordinator: the
// __transaction_state topic (created on first use, compacted, internal),
// loading the partitions this broker leads into the coordinator (on first
// use of each, as groups does for __consumer_offsets), producer ids from
// the cluster's blocks, and transaction markers written by each
// partition's leader (locally, or WriteTxnMarkers over the inter-broker
// listener).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/coordinator"
)

// txnStateTopic is Kafka's transaction log topic.
const txnStateTopic = "__transaction_state"

type txns struct {
	coord   *coordinator.TxnCoordinator
	cfg     TxnConfig
	self    int32
	meta    metaView
	parts   *partitions
	creator topicCreator
	peers   *peers
	log     zerolog.Logger
	ctx     context.Context // ends at shutdown
	clock   Clock
	// local writes markers to partitions this broker leads
	// (WriteTxnMarkers' partition-leader side).
	local func(ctx context.Context, m coordinator.TxnMarker, ps []coordinator.TxnPartition) (retry []coordinator.TxnPartition)

	mu sync.Mutex // serializes creating the topic and loading partitions
}

// newTxns returns the transaction coordinator of node self.
func newTxns(cfg TxnConfig, offsetsPartitions int32, self int32, meta metaView, parts *partitions, creator topicCreator,
	peers *peers, pids *producerIDs, clock Clock, log zerolog.Logger, ctx context.Context) (*txns, error) {
	t := &txns{cfg: cfg, self: self, meta: meta, parts: parts, creator: creator, peers: peers, log: log, ctx: ctx, clock: clock}
	cc := coordinator.DefaultTxnConfig()
	cc.Partitions = cfg.StateLogPartitions
	cc.OffsetsPartitions = offsetsPartitions
	cc.MaxTimeout = cfg.MaxTimeout
	cc.AbortTimedOutInterval = cfg.AbortTimedOutInterval
	cc.IDExpiration = cfg.IDExpiration
	cc.ExpirationCheckInterval = cfg.RemoveExpiredCheckInterval
	cc.EndTxnWait = cfg.EndWait
	cc.PartitionExists = func(topic string, partition int32) bool {
		tp := meta.Snapshot().Topic(topic)
		return tp != nil && partition >= 0 && int(partition) < len(tp.Partitions)
	}
	cc.ProducerIDs = pidAllocator{pids}
	cc.Markers = t
	cc.Clock = clock
	cc.Logger = log.With().Str("component", "txn_coordinator").Logger()
	c, err := coordinator.NewTxnCoordinator(cc)
	if err != nil {
		return nil, err
	}
	t.coord = c
	return t, nil
}

type pidAllocator struct{ p *producerIDs }

func (a pidAllocator) AllocateProducerID() (int64, error) { return a.p.allocate() }

func (t *txns) close() { t.coord.Close() }

// start loads the partitions of an existing __transaction_state this
// broker leads, so transactions left preparing are completed at startup.
func (t *txns) start() {
	tp := t.meta.Snapshot().Topic(txnStateTopic)
	if tp == nil {
		return
	}
	for i := range tp.Partitions {
		if tp.Partitions[i].Leader == t.self {
			if _, err := t.ensure(int32(i)); err != nil {
				t.log.Error().Err(err).Msg("loading __transaction_state failed")
				return
			}
		}
	}
}

// ensure creates __transaction_state if it does not exist and loads
// partition p when this broker leads it.
func (t *txns) ensure(p int32) (*controller.Topic, error) {
	tp := t.meta.Snapshot().Topic(txnStateTopic)
	if tp != nil && p >= 0 && int(p) < len(tp.Partitions) && (tp.Partitions[p].Leader != t.self || t.coord.Loaded(p)) {
		return tp, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp = t.meta.Snapshot().Topic(txnStateTopic); tp == nil {
		live := int16(0)
		for _, b := range t.meta.Snapshot().Brokers {
			if b.ServesClients() {
				live++
			}
		}
		rf := max(1, min(t.cfg.StateLogReplicationFactor, live))
		var err error
		tp, err = t.creator.createTopic(controller.CreateTopic{
			Name:              txnStateTopic,
			NumPartitions:     t.cfg.StateLogPartitions,
			ReplicationFactor: rf,
			Configs: map[string]string{"cleanup.policy": "compact", "compression.type": "uncompressed",
				"segment.bytes":       strconv.FormatInt(t.cfg.StateLogSegmentBytes, 10),
				"min.insync.replicas": strconv.Itoa(min(t.cfg.StateLogMinISR, int(rf)))},
			Internal: true,
		})
		if errors.Is(err, controller.ErrTopicExists) {
			tp, err = t.meta.Snapshot().Topic(txnStateTopic), nil
		}
		if err != nil {
			return nil, fmt.Errorf("broker: create __transaction_state: %w", err)
		}
		t.log.Info().Int32("partitions", t.cfg.StateLogPartitions).Msg("created __transaction_state")
	}
	if int32(len(tp.Partitions)) != t.cfg.StateLogPartitions {
		return nil, fmt.Errorf("broker: __transaction_state has %d partitions, transaction.state.log.num.partitions is %d", len(tp.Partitions), t.cfg.StateLogPartitions)
	}
	if p >= 0 && int(p) < len(tp.Partitions) && tp.Partitions[p].Leader == t.self && !t.coord.Loaded(p) {
		part, err := t.parts.get(tp.Name, p)
		if err != nil {
			return nil, err
		}
		t.loadPartition(p, part)
	}
	return tp, nil
}

// loadPartition makes the coordinator serve __transaction_state partition
// i, which this broker leads; its leader epoch is the coordinator epoch.
func (t *txns) loadPartition(i int32, p *partition) {
	epoch := int32(0)
	if tp := t.meta.Snapshot().Topic(txnStateTopic); tp != nil && int(i) < len(tp.Partitions) {
		epoch = tp.Partitions[i].LeaderEpoch
	}
	t.coord.Load(i, epoch, &offsetsLog{p: p, meta: t.meta, self: t.self, ctx: t.ctx, clock: t.clock, timeout: 5 * time.Second})
}

// unloadPartition stops the coordinator serving partition i, which this
// broker no longer leads.
func (t *txns) unloadPartition(i int32) { t.coord.Unload(i) }

// prepare loads the partition of transactional id id when this broker
// leads it; an error leaves the coordinator answering NOT_COORDINATOR.
func (t *txns) prepare(id string) {
	p := t.coord.Partition(id)
	tp, err := t.ensure(p)
	if err != nil {
		t.log.Warn().Err(err).Msg("__transaction_state unavailable")
		return
	}
	// A partition this broker no longer leads stops being served.
	if tp.Partitions[p].Leader != t.self && t.coord.Loaded(p) {
		t.coord.Unload(p)
	}
}

// coordinatorFor returns the node coordinating transactional id key.
func (t *txns) coordinatorFor(key string, adv Listener) (node int32, host string, port int32, code int16) {
	p := t.coord.Partition(key)
	tp, err := t.ensure(p)
	if err != nil {
		t.log.Warn().Err(err).Msg("__transaction_state unavailable")
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	leader := tp.Partitions[p].Leader
	if leader == t.self {
		return leader, adv.Host, adv.Port, 0
	}
	b, ok := t.meta.Snapshot().Broker(leader)
	if !ok || b.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	host, port = b.Endpoint(adv.Name)
	return b.NodeID, host, port, 0
}

// WriteTxnMarkers implements coordinator.MarkerWriter: each partition's
// leader writes the marker; partitions that could not be written are
// returned for the coordinator to retry.
func (t *txns) WriteTxnMarkers(ctx context.Context, m coordinator.TxnMarker) (retry []coordinator.TxnPartition) {
	byLeader := map[int32][]coordinator.TxnPartition{}
	snap := t.meta.Snapshot()
	for _, p := range m.Partitions {
		tp := snap.Topic(p.Topic)
		if tp == nil || p.Partition < 0 || int(p.Partition) >= len(tp.Partitions) {
			continue // gone: nothing to end
		}
		byLeader[tp.Partitions[p.Partition].Leader] = append(byLeader[tp.Partitions[p.Partition].Leader], p)
	}
	for leader, ps := range byLeader {
		if leader == t.self {
			retry = append(retry, t.local(ctx, m, ps)...)
			continue
		}
		retry = append(retry, t.remote(ctx, leader, m, ps)...)
	}
	return retry
}

// remote sends one WriteTxnMarkers request to node leader.
func (t *txns) remote(ctx context.Context, leader int32, m coordinator.TxnMarker, ps []coordinator.TxnPartition) []coordinator.TxnPartition {
	if leader < 0 {
		return ps
	}
	peer, err := t.peers.get(leader, "txn-markers")
	if err != nil {
		return ps
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	idx := map[string]int{}
	for _, p := range ps {
		i, ok := idx[p.Topic]
		if !ok {
			i = len(mk.Topics)
			idx[p.Topic] = i
			tt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			tt.Topic = p.Topic
			mk.Topics = append(mk.Topics, tt)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, p.Partition)
	}
	req.Markers = append(req.Markers, mk)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := peer.do(rctx, req)
	if err != nil {
		return ps
	}
	var retry []coordinator.TxnPartition
	r := resp.(*kmsg.WriteTxnMarkersResponse)
	written := map[coordinator.TxnPartition]bool{}
	for _, rm := range r.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode == 0 || rp.ErrorCode == kerr.UnknownTopicOrPartition.Code {
					written[coordinator.TxnPartition{Topic: rt.Topic, Partition: rp.Partition}] = true
				}
			}
		}
	}
	for _, p := range ps {
		if !written[p] {
			retry = append(retry, p)
		}
	}
	return retry
}

// verifyTxnPartitions implements txnVerifier: the transactional id's
// coordinator is asked with AddPartitionsToTxn v4 verify_only, in process
// when this broker is it, else over the inter-broker listener.
func (t *txns) verifyTxnPartitions(ctx context.Context, id string, pid int64, epoch int16, topic string, partitions []int32) (map[int32]int16, error) {
	t.prepare(id)
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = topic, partitions
	tx.Topics = append(tx.Topics, tt)
	req.Transactions = append(req.Transactions, tx)
	resp, err := t.coord.AddPartitionsToTxn(ctx, req)
	if err != nil {
		return nil, err
	}
	out := verifyCodes(resp, partitions)
	if len(partitions) == 0 || out[partitions[0]] != kerr.NotCoordinator.Code {
		return out, nil
	}
	return t.verifyRemote(ctx, id, req, partitions)
}

// verifyRemote sends the verify_only request req to the node leading
// transactional id id's __transaction_state partition.
func (t *txns) verifyRemote(ctx context.Context, id string, req *kmsg.AddPartitionsToTxnRequest, partitions []int32) (map[int32]int16, error) {
	p := t.coord.Partition(id)
	tp := t.meta.Snapshot().Topic(txnStateTopic)
	if tp == nil || int(p) >= len(tp.Partitions) {
		return nil, fmt.Errorf("broker: no %s partition %d", txnStateTopic, p)
	}
	leader := tp.Partitions[p].Leader
	if leader < 0 || leader == t.self {
		return nil, fmt.Errorf("broker: %s partition %d has no other leader (%d)", txnStateTopic, p, leader)
	}
	peer, err := t.peers.get(leader, "txn-verify")
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := peer.do(rctx, req)
	if err != nil {
		return nil, err
	}
	return verifyCodes(resp.(*kmsg.AddPartitionsToTxnResponse), partitions), nil
}

// verifyCodes returns each partition's code in a verify_only answer; a
// top-level error, or a partition left out, counts for the partition.
func verifyCodes(resp *kmsg.AddPartitionsToTxnResponse, partitions []int32) map[int32]int16 {
	out := map[int32]int16{}
	code := resp.ErrorCode
	for _, rt := range resp.Transactions {
		for _, top := range rt.Topics {
			for _, p := range top.Partitions {
				out[p.Partition] = p.ErrorCode
			}
		}
	}
	for _, p := range partitions {
		if _, ok := out[p]; !ok || code != 0 {
			if code == 0 {
				code = kerr.UnknownServerError.Code
			}
			out[p] = code
		}
	}
	return out
}
