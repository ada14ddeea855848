package coordinator

// The transaction coordinator (Kafka's TransactionCoordinator and
// TransactionStateManager): transactional ids, their producer ids and
// epochs, and the transactions they run, persisted in __transaction_state.
//
//	Empty/CompleteCommit/CompleteAbort ──AddPartitionsToTxn──► Ongoing
//	Ongoing ──EndTxn(commit)──► PrepareCommit ──markers written──► CompleteCommit
//	Ongoing ──EndTxn(abort), timeout, fencing InitProducerId──► PrepareAbort ──markers written──► CompleteAbort
//	Empty/Complete* idle past transactional.id.expiration.ms ──► tombstone
//
// As with groups, each loaded __transaction_state partition is a shard
// owned by one goroutine; every state change is appended to the
// partition's Log (durable when Append returns) before it takes effect
// and before the request is answered. COMMIT/ABORT markers go through the
// MarkerWriter from a goroutine of the shard, retried until every
// partition has its marker; only then is the Complete state written.

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// TxnMarker is one transaction's COMMIT or ABORT control record, to be
// written to each of Partitions by its leader (WriteTxnMarkers).
type TxnMarker struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TxnPartition
}

// MarkerWriter writes transaction markers to partition leaders.
type MarkerWriter interface {
	// WriteTxnMarkers writes m's control record to each of m.Partitions
	// and returns the partitions not written yet, which the coordinator
	// retries after TxnConfig.MarkerRetryBackoff. A partition that no
	// longer exists counts as written. It returns promptly once ctx ends
	// (the coordinator's partition was unloaded); it may be called from
	// several goroutines at once.
	WriteTxnMarkers(ctx context.Context, m TxnMarker) (retry []TxnPartition)
}

// ProducerIDAllocator hands out producer ids unique in the cluster.
type ProducerIDAllocator interface {
	AllocateProducerID() (int64, error)
}

// TxnConfig configures a TxnCoordinator. Kafka's broker key names in
// comments.
type TxnConfig struct {
	// Partitions is transaction.state.log.num.partitions (50).
	Partitions int32
	// OffsetsPartitions is offsets.topic.num.partitions (50): AddOffsetsToTxn
	// adds the group's __consumer_offsets partition.
	OffsetsPartitions int32
	// MaxTimeout is transaction.max.timeout.ms (15 min).
	MaxTimeout time.Duration
	// AbortTimedOutInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s).
	AbortTimedOutInterval time.Duration
	// IDExpiration is transactional.id.expiration.ms (7 days), checked
	// every ExpirationCheckInterval
	// (transaction.remove.expired.transaction.cleanup.interval.ms, 1 h).
	IDExpiration            time.Duration
	ExpirationCheckInterval time.Duration
	// MarkerRetryBackoff is the wait before markers that could not be
	// written, or a Complete state that could not be appended, are retried
	// (100 ms).
	MarkerRetryBackoff time.Duration
	// EndTxnWait is how long EndTxn waits for the transaction's markers
	// and Complete state before it answers; 0 answers as soon as the
	// Prepare state is durable, as Kafka does. Waiting spares the client
	// the CONCURRENT_TRANSACTIONS retry (and its backoff: 20 ms in kgo,
	// 100 ms in sarama) of its next AddPartitionsToTxn. The outcome is the
	// same either way: the Prepare state decides it.
	EndTxnWait time.Duration
	// PartitionExists reports whether a partition may join a transaction
	// (nil: any).
	PartitionExists func(topic string, partition int32) bool
	// ProducerIDs and Markers are required.
	ProducerIDs ProducerIDAllocator
	Markers     MarkerWriter
	// Clock defaults to the wall clock.
	Clock  Clock
	Logger zerolog.Logger
}

// DefaultTxnConfig returns Kafka's defaults (without ProducerIDs and
// Markers).
func DefaultTxnConfig() TxnConfig {
	return TxnConfig{
		Partitions:              50,
		OffsetsPartitions:       50,
		MaxTimeout:              15 * time.Minute,
		AbortTimedOutInterval:   10 * time.Second,
		IDExpiration:            7 * 24 * time.Hour,
		ExpirationCheckInterval: time.Hour,
		MarkerRetryBackoff:      100 * time.Millisecond,
		Logger:                  zerolog.Nop(),
	}
}

// ErrTxnConfig: a TxnConfig without a required part.
var ErrTxnConfig = errors.New("coordinator: invalid transaction coordinator config")

// TxnCoordinator owns the transactional ids of the __transaction_state
// partitions loaded into it.
type TxnCoordinator struct {
	cfg   TxnConfig
	clock Clock
	log   zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	shards map[int32]*txnShard
}

// NewTxnCoordinator returns a transaction coordinator with no partitions
// loaded; zero durations take Kafka's defaults.
func NewTxnCoordinator(cfg TxnConfig) (*TxnCoordinator, error) {
	if cfg.ProducerIDs == nil || cfg.Markers == nil {
		return nil, ErrTxnConfig
	}
	def := DefaultTxnConfig()
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = def.Partitions
	}
	if cfg.OffsetsPartitions <= 0 {
		cfg.OffsetsPartitions = def.OffsetsPartitions
	}
	for _, d := range []struct{ v, def *time.Duration }{
		{&cfg.MaxTimeout, &def.MaxTimeout},
		{&cfg.AbortTimedOutInterval, &def.AbortTimedOutInterval},
		{&cfg.IDExpiration, &def.IDExpiration},
		{&cfg.ExpirationCheckInterval, &def.ExpirationCheckInterval},
		{&cfg.MarkerRetryBackoff, &def.MarkerRetryBackoff},
	} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	c := &TxnCoordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, shards: map[int32]*txnShard{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Partition returns the __transaction_state partition of a transactional
// id.
func (c *TxnCoordinator) Partition(transactionalID string) int32 {
	return PartitionFor(transactionalID, c.cfg.Partitions)
}

// Load makes this coordinator own __transaction_state partition p, whose
// log is l and whose leader epoch (the coordinator epoch markers carry) is
// epoch. A shard goroutine replays l, answering requests meanwhile with
// COORDINATOR_LOAD_IN_PROGRESS, then completes the transactions it found
// preparing a commit or an abort. Loading a loaded partition does nothing.
func (c *TxnCoordinator) Load(p, epoch int32, l Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil || c.shards[p] != nil {
		return
	}
	sh := &txnShard{c: c, part: p, epoch: epoch, log: l, mailbox: newMailbox(c.ctx), txns: map[string]*txnMeta{}}
	sh.loading.Store(true)
	c.shards[p] = sh
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sh.run()
	}()
}

// Loaded reports whether partition p is loaded (or loading).
func (c *TxnCoordinator) Loaded(p int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shards[p] != nil
}

// Unload stops serving partition p and waits for its goroutines (marker
// writes in flight see their context end). Transactions it was completing
// are completed by the next coordinator that loads p.
func (c *TxnCoordinator) Unload(p int32) {
	c.mu.Lock()
	sh := c.shards[p]
	delete(c.shards, p)
	c.mu.Unlock()
	if sh != nil {
		sh.cancel()
		<-sh.done
	}
}

// Close unloads every partition and waits for the shard goroutines.
func (c *TxnCoordinator) Close() {
	c.mu.Lock()
	c.cancel()
	c.shards = map[int32]*txnShard{}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *TxnCoordinator) shardFor(id string) *txnShard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shards[c.Partition(id)]
}

func (c *TxnCoordinator) allShards() []*txnShard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Values(c.shards))
}

// txnMeta is one transactional id's state, owned by its shard goroutine.
type txnMeta struct {
	id string
	txnRecord
	// lastEpoch is the epoch before the latest InitProducerId bump, kept
	// in memory only (as Kafka does) so a retried KIP-360 bump gets the
	// same answer; -1: none.
	lastEpoch int16
	// marking: markers for the Prepare state are being written.
	marking bool
}

func (m *txnMeta) has(p TxnPartition) bool {
	_, ok := slices.BinarySearchFunc(m.partitions, p, compareTxnPartitions)
	return ok
}

// clone returns a copy whose partitions may be changed.
func (m *txnMeta) clone() txnMeta {
	n := *m
	n.partitions = slices.Clone(m.partitions)
	return n
}

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: the
// epoch cannot be bumped once more and still leave room for a fence.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// txnShard is one loaded __transaction_state partition.
type txnShard struct {
	c     *TxnCoordinator
	part  int32
	epoch int32
	log   Log
	mailbox
	loading atomic.Bool
	markers sync.WaitGroup // marker writes in flight

	txns          map[string]*txnMeta
	ended         map[string][]chan struct{} // EndTxn calls waiting for markersWritten
	abortTimer    Timer
	expireTimer   Timer
	pendingTimers map[Timer]struct{}
}

func (sh *txnShard) run() {
	defer close(sh.done)
	defer sh.markers.Wait()
	defer sh.stopTimers()
	if err := sh.load(); err != nil {
		sh.c.log.Error().Err(err).Int32("partition", sh.part).Msg("loading __transaction_state partition failed")
		sh.c.mu.Lock()
		if sh.c.shards[sh.part] == sh {
			delete(sh.c.shards, sh.part)
		}
		sh.c.mu.Unlock()
		return
	}
	sh.loading.Store(false)
	for _, id := range slices.Sorted(maps.Keys(sh.txns)) {
		if m := sh.txns[id]; m.state == TxnPrepareCommit || m.state == TxnPrepareAbort {
			sh.sendMarkers(m)
		}
	}
	sh.scheduleAbort()
	sh.scheduleExpire()
	sh.serve()
}

func (sh *txnShard) stopTimers() {
	for _, t := range []Timer{sh.abortTimer, sh.expireTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for t := range sh.pendingTimers {
		t.Stop()
	}
}

// load replays the log into txns.
func (sh *txnShard) load() error {
	return sh.log.ReadAll(func(b []byte) error {
		return forEachRecord(b, func(_ int64, key, value []byte) error {
			id, rec, skip, err := decodeTxnRecord(key, value)
			if err != nil || skip {
				return err
			}
			if rec == nil || rec.state == TxnDead {
				delete(sh.txns, id)
				return nil
			}
			sh.txns[id] = &txnMeta{id: id, txnRecord: *rec, lastEpoch: -1}
			return nil
		})
	})
}

// after runs f on the shard goroutine after d, once.
func (sh *txnShard) after(d time.Duration, f func()) Timer {
	return sh.c.clock.AfterFunc(d, func() { sh.post(f) })
}

// retryLater runs f after the marker retry backoff; the timer is stopped
// when the shard stops.
func (sh *txnShard) retryLater(f func()) {
	if sh.pendingTimers == nil {
		sh.pendingTimers = map[Timer]struct{}{}
	}
	var t Timer
	t = sh.after(sh.c.cfg.MarkerRetryBackoff, func() {
		delete(sh.pendingTimers, t)
		f()
	})
	sh.pendingTimers[t] = struct{}{}
}

func (sh *txnShard) nowMs() int64 { return sh.c.clock.Now().UnixMilli() }

// write appends the new state of transactional ids (nil: tombstone) as
// one batch and returns once it is durable.
func (sh *txnShard) write(ids []string, recs []*txnRecord) error {
	kvs := make([]kv, len(ids))
	for i, id := range ids {
		kvs[i].key = encodeTxnKey(id)
		if recs[i] != nil {
			kvs[i].value = encodeTxnValue(*recs[i])
		}
	}
	if _, err := sh.log.Append(buildBatch(sh.nowMs(), kvs)); err != nil {
		sh.c.log.Error().Err(err).Int32("partition", sh.part).Msg("__transaction_state append failed")
		return err
	}
	return nil
}

// transition writes next as m's new state and then applies it.
func (sh *txnShard) transition(m *txnMeta, next txnMeta) error {
	if err := sh.write([]string{m.id}, []*txnRecord{&next.txnRecord}); err != nil {
		return err
	}
	*m = next
	return nil
}

// sendMarkers starts writing the markers of m's Prepare state.
func (sh *txnShard) sendMarkers(m *txnMeta) {
	if m.marking {
		return
	}
	m.marking = true
	sh.writeMarkers(TxnMarker{
		TransactionalID:  m.id,
		ProducerID:       m.producerID,
		ProducerEpoch:    m.epoch,
		Commit:           m.state == TxnPrepareCommit,
		CoordinatorEpoch: sh.epoch,
		Partitions:       slices.Clone(m.partitions),
	})
}

func (sh *txnShard) writeMarkers(mk TxnMarker) {
	if len(mk.Partitions) == 0 {
		sh.markersWritten(mk)
		return
	}
	sh.markers.Add(1)
	go func() {
		defer sh.markers.Done()
		retry := sh.c.cfg.Markers.WriteTxnMarkers(sh.ctx, mk)
		sh.post(func() {
			if len(retry) == 0 {
				sh.markersWritten(mk)
				return
			}
			sh.c.log.Debug().Str("transactional_id", mk.TransactionalID).Int("partitions", len(retry)).Msg("retrying transaction markers")
			next := mk
			next.Partitions = slices.Clone(retry)
			sh.retryLater(func() { sh.writeMarkers(next) })
		})
	}()
}

// markersWritten writes the Complete state of the transaction mk ended.
func (sh *txnShard) markersWritten(mk TxnMarker) {
	m := sh.txns[mk.TransactionalID]
	if m == nil || !m.marking || m.producerID != mk.ProducerID || m.epoch != mk.ProducerEpoch {
		return
	}
	next := m.clone()
	next.state = TxnCompleteAbort
	if mk.Commit {
		next.state = TxnCompleteCommit
	}
	next.partitions = nil
	next.updateMs = sh.nowMs()
	next.marking = false
	if err := sh.transition(m, next); err != nil {
		sh.retryLater(func() { sh.markersWritten(mk) })
		return
	}
	for _, ch := range sh.ended[mk.TransactionalID] {
		close(ch)
	}
	delete(sh.ended, mk.TransactionalID)
}

// awaitEnd returns a channel closed once id's transaction, whose markers
// are being written, is complete; nil if it is not being marked.
func (sh *txnShard) awaitEnd(id string) chan struct{} {
	m := sh.txns[id]
	if m == nil || !m.marking {
		return nil
	}
	if sh.ended == nil {
		sh.ended = map[string][]chan struct{}{}
	}
	ch := make(chan struct{})
	sh.ended[id] = append(sh.ended[id], ch)
	return ch
}

// scheduleAbort aborts timed-out transactions periodically.
func (sh *txnShard) scheduleAbort() {
	sh.abortTimer = sh.after(sh.c.cfg.AbortTimedOutInterval, func() {
		sh.abortTimedOut()
		sh.scheduleAbort()
	})
}

// abortTimedOut aborts every Ongoing transaction older than its timeout,
// fencing its producer with an epoch bump (Kafka's
// abortTimedOutTransactions).
func (sh *txnShard) abortTimedOut() {
	now := sh.nowMs()
	for _, id := range slices.Sorted(maps.Keys(sh.txns)) {
		m := sh.txns[id]
		if m.state != TxnOngoing || m.startMs+int64(m.timeoutMs) >= now {
			continue
		}
		sh.c.log.Info().Str("transactional_id", id).Int64("producer_id", m.producerID).Msg("aborting timed-out transaction")
		sh.fenceAndAbort(m)
	}
}

// fenceAndAbort moves an Ongoing transaction to PrepareAbort with the
// producer epoch bumped, so the producer that ran it is fenced, and
// starts its markers.
func (sh *txnShard) fenceAndAbort(m *txnMeta) error {
	next := m.clone()
	if next.epoch < math.MaxInt16 {
		next.epoch++
	}
	next.lastEpoch = -1
	next.state = TxnPrepareAbort
	next.updateMs = sh.nowMs()
	if err := sh.transition(m, next); err != nil {
		return err
	}
	sh.sendMarkers(m)
	return nil
}

// scheduleExpire removes idle transactional ids periodically.
func (sh *txnShard) scheduleExpire() {
	sh.expireTimer = sh.after(sh.c.cfg.ExpirationCheckInterval, func() {
		sh.expireIDs()
		sh.scheduleExpire()
	})
}

// expireIDs writes tombstones for the transactional ids with no
// transaction that were last updated transactional.id.expiration.ms ago.
func (sh *txnShard) expireIDs() {
	cutoff := sh.nowMs() - sh.c.cfg.IDExpiration.Milliseconds()
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(sh.txns)) {
		m := sh.txns[id]
		switch m.state {
		case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
			if m.updateMs <= cutoff {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	if err := sh.write(ids, make([]*txnRecord, len(ids))); err != nil {
		return // tried again at the next check
	}
	for _, id := range ids {
		delete(sh.txns, id)
	}
	sh.c.log.Info().Int32("partition", sh.part).Int("ids", len(ids)).Msg("expired transactional ids")
}
