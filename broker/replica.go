package broker

// Replication. Every partition replica on this node is a leader or a
// follower, as the metadata says (reconcile applies each new snapshot).
//
// Leaders track each follower's log end offset from the fetch offsets of
// its Fetch requests, advance the high watermark to the smallest log end
// offset in the ISR, shrink the ISR when a follower has not caught up for
// replica.lag.time.max.ms, and expand it when one catches up (AlterPartition
// to the controller). acks=all produce responses wait for the high
// watermark; consumers read only below it.
//
// Followers fetch from their leader with the Fetch API (replica id set),
// one fetcher goroutine, connection and incremental fetch session
// (fetcher_session.go) per leader node. After a leader
// change a follower first truncates its log to the end of its latest epoch
// at the new leader (OffsetForLeaderEpoch), so logs never diverge.
//
// Lock order: see LOCKS.md.

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/controller"
)

type role int8

const (
	roleNone role = iota
	roleLeader
	roleFollower
)

type replicaState struct {
	mu             sync.Mutex
	role           role
	topicID        [16]byte
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32
	followers      map[int32]*followerState // leader only
	hwCh           chan struct{}            // closed when the high watermark advances
	altering       bool                     // an AlterPartition is in flight
	// expanding is the ISR an in-flight AlterPartition proposes when it
	// adds members (nil otherwise): the high watermark counts them from
	// the proposal on (Kafka's maximal ISR, KIP-497), so that the new
	// member, once the controller commits it, holds every record below
	// the high watermark and may be elected without losing any.
	expanding []int32
}

// followerState is a leader's view of one follower.
type followerState struct {
	leo          int64     // the follower's log end offset (its last fetch offset); -1 unknown
	lastCaughtUp time.Time // last time it had everything the leader had
	lastFetch    time.Time
	leoAtFetch   int64 // the leader's log end offset at the last fetch
	logStart     int64 // the follower's log start offset at its last fetch
	hwSent       int64 // the high watermark the last answer to it carried; -1 none
}

// hwChanged returns a channel closed when p's high watermark next advances.
func (p *partition) hwChanged() <-chan struct{} {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	if p.rep.hwCh == nil {
		p.rep.hwCh = make(chan struct{})
	}
	return p.rep.hwCh
}

// isr returns the current ISR (a copy) and whether this node leads p.
func (p *partition) leaderISR(self int32) ([]int32, bool) {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return slices.Clone(p.rep.isr), p.rep.role == roleLeader && p.rep.leader == self
}

// inISR reports whether broker id is in p's ISR as this node knows it.
func (p *partition) inISR(id int32) bool {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return slices.Contains(p.rep.isr, id)
}

// advanceHWLocked moves the high watermark to the smallest log end offset
// in the ISR, and in the ISR being proposed while an expansion is in
// flight. p.rep.mu must be held; p must be the leader.
func (p *partition) advanceHWLocked(self int32) {
	hw := p.log.LogEndOffset()
	members := p.rep.isr
	if p.rep.expanding != nil {
		members = p.rep.expanding // a superset of isr
	}
	for _, id := range members {
		if id == self {
			continue
		}
		f := p.rep.followers[id]
		if f == nil || f.leo < 0 {
			return // not heard from an ISR member yet: wait for it
		}
		hw = min(hw, f.leo)
	}
	if hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		if p.rep.hwCh != nil {
			close(p.rep.hwCh)
			p.rep.hwCh = nil
		}
		p.wake()
	}
}

// afterAppend is called by a leader after appending: a single-replica ISR
// moves the high watermark at once.
func (p *partition) afterAppend(self int32) {
	p.rep.mu.Lock()
	if p.rep.role == roleLeader {
		p.advanceHWLocked(self)
	}
	p.rep.mu.Unlock()
}

// signal is a coalescing wake-up: notify never blocks, and any number of
// notifies before the receiver looks count as one.
type signal chan struct{}

func newSignal() signal { return make(signal, 1) }

func (s signal) notify() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// offsetsLoader is what replication tells the group coordinator: which
// __consumer_offsets partitions this node now leads or no longer leads.
type offsetsLoader interface {
	loadPartition(i int32, p *partition)
	unloadPartition(i int32)
}

// replication owns the follower fetchers and the ISR checks.
type replication struct {
	self      int32
	clustered bool
	cfg       ReplicationConfig
	meta      metaView
	parts     *partitions
	offsets   offsetsLoader
	txnState  offsetsLoader        // __transaction_state partitions (broker/txns.go); nil: none
	link      *link                // ISR changes
	throttle  *replicationThrottle // replication throttles (replication_throttle.go); nil: none
	peers     *peers               // follower fetch connections
	clock     Clock
	log       zerolog.Logger
	ctx       context.Context // ends at shutdown
	wg        *sync.WaitGroup // fetchers and ISR changes; the server waits for it

	topics map[string]*controller.Topic // as last reconciled (run goroutine only)

	mu       sync.Mutex
	fetchers map[int32]*fetcher

	// kick asks run for a reconcile although the metadata did not change:
	// a log was opened outside reconcile (a request got there first, or
	// an earlier open failed), and only reconcile gives it its replica
	// state (leadership, high watermark, fetcher, group loading).
	kick signal

	isrShrinks, isrExpands atomic.Int64 // ISR changes this node made as leader (metrics)
	fetches                fetchStats   // this node's follower fetch requests (metrics)
	// Consumer fetches of partitions this node served as a follower, and
	// answered with a preferred read replica as leader (fetch_rack.go).
	followerReads, readRedirects atomic.Int64
}

// newReplication returns the replication of node self's replicas in
// parts, as meta says, reconciling also when kick is notified.
func newReplication(self int32, clustered bool, cfg ReplicationConfig, meta metaView, parts *partitions, offsets offsetsLoader,
	link *link, peers *peers, clock Clock, log zerolog.Logger, ctx context.Context, wg *sync.WaitGroup, kick signal) *replication {
	return &replication{self: self, clustered: clustered, cfg: cfg, meta: meta, parts: parts, offsets: offsets, link: link, peers: peers,
		clock: clock, log: log, ctx: ctx, wg: wg, fetchers: map[int32]*fetcher{}, kick: kick}
}

// run applies metadata snapshots until shutdown, and checks ISRs.
func (rp *replication) run() {
	ch, unsub := rp.meta.Subscribe()
	defer unsub()
	rp.reconcile()
	tick := newTicker(rp.clock, max(rp.cfg.LagTimeMax/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-rp.ctx.Done():
			rp.mu.Lock()
			for _, f := range rp.fetchers {
				f.stop()
			}
			rp.mu.Unlock()
			return
		case <-ch:
			rp.reconcile()
		case <-rp.kick:
			rp.reconcile()
		case <-tick.C:
			rp.checkISRs()
		}
	}
}

// reconcile makes every local replica match the current metadata.
func (rp *replication) reconcile() {
	snap := rp.meta.Snapshot()
	self := rp.self
	wantFetch := map[int32]map[tp]fetchTarget{}
	seen := map[string]*controller.Topic{}
	// Open new replicas' logs in parallel first (openMany); the loop
	// below then finds them open.
	if missing := rp.parts.missing(localPartitions(snap, self)); len(missing) > 1 {
		rp.parts.openMany(missing)
	}
	var short int
	var shortErr error
	defer func() {
		if short > 0 {
			rp.log.Error().Err(shortErr).Int("partitions", short).
				Msg("replicas not opened: out of file descriptors or memory")
		}
	}()
	for _, t := range snap.Topics {
		// Snapshots copy only changed topics: a new pointer may carry new
		// configs (AlterConfigs on the controller node).
		seen[t.Name] = t
		if old, ok := rp.topics[t.Name]; ok && old != t {
			rp.parts.reconfigure(t)
		}
		for i := range t.Partitions {
			meta := &t.Partitions[i]
			if !slices.Contains(meta.Replicas, self) {
				continue
			}
			p, err := rp.parts.getReconciled(t.Name, meta.Index)
			if err != nil {
				if isDiskFailure(err) {
					rp.log.Error().Err(err).Str("topic", t.Name).Int32("partition", meta.Index).Msg("opening replica failed")
				} else {
					short, shortErr = short+1, err // one line for all below
				}
				continue
			}
			becameLeader, lostLeader := rp.apply(p, t, meta)
			if t.Name == controller.ConsumerOffsetsTopic && rp.offsets != nil {
				if becameLeader {
					rp.offsets.loadPartition(meta.Index, p)
				} else if lostLeader {
					rp.offsets.unloadPartition(meta.Index)
				}
			}
			if t.Name == txnStateTopic && rp.txnState != nil {
				if becameLeader {
					rp.txnState.loadPartition(meta.Index, p)
				} else if lostLeader {
					rp.txnState.unloadPartition(meta.Index)
				}
			}
			if meta.Leader != self && meta.Leader >= 0 && p.offline() == nil { // a failed dir's replicas fetch nothing
				if wantFetch[meta.Leader] == nil {
					wantFetch[meta.Leader] = map[tp]fetchTarget{}
				}
				wantFetch[meta.Leader][tp{t.Name, meta.Index}] = fetchTarget{p: p, epoch: meta.LeaderEpoch}
			}
		}
	}
	// Deleted topics: drop their logs (a single node drops them in the
	// DeleteTopics handler already; this is idempotent).
	// List open topics first, then look them up in the newest snapshot: a
	// topic created (and opened) after snap was taken must not be taken
	// for deleted.
	open := rp.parts.topics()
	latest := rp.meta.Snapshot()
	for _, name := range open {
		if latest.Topic(name) == nil {
			rp.parts.dropTopic(name)
		}
	}
	// Replicas moved away by a reassignment: drop their logs, as Kafka's
	// StopReplica with delete does (after the fetchers let go of them).
	var gone []*partition
	for _, p := range rp.parts.all() {
		t := latest.Topic(p.topic)
		if meta := t.Partition(p.index); meta != nil && t.ID == p.topicID && !slices.Contains(meta.Replicas, self) {
			gone = append(gone, p)
		}
	}
	defer func() {
		for _, p := range gone {
			rp.removeReplica(p)
		}
	}()
	rp.topics = seen
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for id, f := range rp.fetchers {
		if _, ok := wantFetch[id]; !ok {
			f.set(nil)
		}
	}
	for id, targets := range wantFetch {
		f := rp.fetchers[id]
		if f == nil {
			f = newFetcher(id, rp.self, rp.cfg, rp.peers, rp.clock, rp.log, rp.ctx)
			f.throttle, f.meta, f.stats = rp.throttle, rp.meta, &rp.fetches
			rp.fetchers[id] = f
			rp.wg.Go(f.run)
		}
		f.set(targets)
	}
}

// removeReplica ends this node's replica p, which the metadata no longer
// lists (a reassignment moved it away): a leader's waiters answer
// NOT_LEADER_OR_FOLLOWER, the group and transaction coordinators unload
// it, and its log is deleted.
func (rp *replication) removeReplica(p *partition) {
	r := &p.rep
	r.mu.Lock()
	wasLeader := r.role == roleLeader
	r.role, r.followers = roleNone, nil
	if r.hwCh != nil {
		close(r.hwCh)
		r.hwCh = nil
	}
	r.mu.Unlock()
	if wasLeader {
		switch {
		case p.topic == controller.ConsumerOffsetsTopic && rp.offsets != nil:
			rp.offsets.unloadPartition(p.index)
		case p.topic == txnStateTopic && rp.txnState != nil:
			rp.txnState.unloadPartition(p.index)
		}
	}
	if rp.parts.dropPartition(p) {
		rp.log.Info().Str("topic", p.topic).Int32("partition", p.index).Msg("replica removed, log deleted")
	}
}

// apply updates p's replication state from its metadata.
func (rp *replication) apply(p *partition, t *controller.Topic, meta *controller.Partition) (becameLeader, lostLeader bool) {
	self := rp.self
	r := &p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.role != roleNone && meta.LeaderEpoch < r.leaderEpoch {
		return false, false // older news
	}
	newEpoch := meta.LeaderEpoch != r.leaderEpoch || r.role == roleNone
	r.topicID = t.ID
	r.replicas = slices.Clone(meta.Replicas)
	if meta.PartitionEpoch > r.partitionEpoch || newEpoch {
		r.expanding = nil // the committed ISR supersedes a proposal
	}
	if meta.PartitionEpoch >= r.partitionEpoch || newEpoch {
		r.isr = slices.Clone(meta.ISR)
		r.partitionEpoch = meta.PartitionEpoch
	}
	wasLeader := r.role == roleLeader
	r.leader, r.leaderEpoch = meta.Leader, meta.LeaderEpoch
	if meta.Leader == self {
		p.log.SetAutoHighWatermark(len(meta.Replicas) == 1)
		if !wasLeader || newEpoch {
			r.role = roleLeader
			now := rp.clock.Now()
			r.followers = map[int32]*followerState{}
			for _, id := range meta.Replicas {
				if id != self {
					r.followers[id] = &followerState{leo: -1, lastCaughtUp: now, lastFetch: now, hwSent: -1}
				}
			}
			if rp.clustered {
				rp.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int32("epoch", meta.LeaderEpoch).Msg("became leader")
			}
		} else {
			// Same epoch, other replicas (a reassignment adding some):
			// track the new followers, forget the gone ones.
			now := rp.clock.Now()
			for _, id := range meta.Replicas {
				if id != self && r.followers[id] == nil {
					r.followers[id] = &followerState{leo: -1, lastCaughtUp: now, lastFetch: now}
				}
			}
			for id := range r.followers {
				if !slices.Contains(meta.Replicas, id) {
					delete(r.followers, id)
				}
			}
		}
		p.advanceHWLocked(self)
		return !wasLeader, false
	}
	p.log.SetAutoHighWatermark(false)
	r.role = roleFollower
	r.followers, r.expanding = nil, nil
	if r.hwCh != nil { // wake acks=all waiters: they answer NOT_LEADER_OR_FOLLOWER
		close(r.hwCh)
		r.hwCh = nil
	}
	if wasLeader {
		rp.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int32("leader", meta.Leader).Int32("epoch", meta.LeaderEpoch).Msg("became follower")
	}
	return false, wasLeader
}

// recordFollowerFetch updates a leader's view of follower id after a fetch
// at fetchOffset (the follower's log end offset) with its log start
// offset logStart, advancing the high watermark and expanding the ISR
// when the follower caught up. It returns the high watermark to answer
// with, whether that is news to the follower (higher than the last one
// it was answered with: answer at once), and whether id is a follower of
// p here.
func (rp *replication) recordFollowerFetch(p *partition, id int32, fetchOffset, logStart int64) (hw int64, news, ok bool) {
	r := &p.rep
	r.mu.Lock()
	if r.role != roleLeader {
		r.mu.Unlock()
		return 0, false, false
	}
	f := r.followers[id]
	if f == nil {
		r.mu.Unlock()
		return 0, false, false // not a replica of this partition
	}
	now := rp.clock.Now()
	leo := p.log.LogEndOffset()
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case fetchOffset >= f.leoAtFetch:
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.leoAtFetch, f.logStart = fetchOffset, now, leo, logStart
	p.advanceHWLocked(rp.self)
	hw = p.log.HighWatermark()
	news = hw > f.hwSent
	f.hwSent = hw
	var expand []int32
	if !slices.Contains(r.isr, id) && fetchOffset >= p.log.HighWatermark() && !r.altering {
		// Claimed here, under the lock that saw the follower caught up:
		// from now on the high watermark waits for it too.
		expand = append(slices.Clone(r.isr), id)
		slices.Sort(expand)
		r.altering, r.expanding = true, expand
	}
	r.mu.Unlock()
	if expand != nil {
		rp.wg.Go(func() { rp.sendISR(p, expand) })
	}
	return hw, news, true
}

// checkISRs shrinks the ISR of led partitions whose followers fell behind.
func (rp *replication) checkISRs() {
	now := rp.clock.Now()
	for _, p := range rp.parts.all() {
		r := &p.rep
		r.mu.Lock()
		if r.role == roleLeader && !r.altering && r.expanding != nil {
			// An expansion whose answer was lost: once its new member
			// has not caught up for replica.lag.time.max.ms the metadata
			// would long have shown it committed, so it was not: stop
			// waiting for that member.
			for _, id := range r.expanding {
				if f := r.followers[id]; !slices.Contains(r.isr, id) && (f == nil || now.Sub(f.lastCaughtUp) > rp.cfg.LagTimeMax) {
					r.expanding = nil
					p.advanceHWLocked(rp.self)
					break
				}
			}
		}
		if r.role != roleLeader || r.altering || len(r.isr) <= 1 {
			r.mu.Unlock()
			continue
		}
		var keep []int32
		for _, id := range r.isr {
			f := r.followers[id]
			if id == rp.self || f == nil || now.Sub(f.lastCaughtUp) <= rp.cfg.LagTimeMax {
				keep = append(keep, id)
			}
		}
		shrink := len(keep) < len(r.isr)
		r.mu.Unlock()
		if shrink {
			rp.log.Info().Str("topic", p.topic).Int32("partition", p.index).Ints32("isr", keep).Msg("shrinking isr")
			rp.alterISR(p, keep)
		}
	}
}

// alterISR asks the controller to set p's ISR. No lock is held across
// the controller round trip: altering keeps a second change out meanwhile.
func (rp *replication) alterISR(p *partition, isr []int32) {
	r := &p.rep
	r.mu.Lock()
	if r.role != roleLeader || r.altering {
		r.mu.Unlock()
		return
	}
	r.altering = true
	r.mu.Unlock()
	rp.sendISR(p, isr)
}

// sendISR sends the AlterPartition its caller claimed (altering set) and
// applies the result; it clears altering when done. An expansion's
// members keep counting for the high watermark until the result is
// applied here or newer metadata replaces the ISR (apply): a failed or
// ignored answer may still have been committed (the controller may even
// have made the new member leader in the same change, completing a
// reassignment), so falling back to the smaller ISR could acknowledge
// records the new member lacks.
func (rp *replication) sendISR(p *partition, isr []int32) {
	r := &p.rep
	r.mu.Lock()
	topicID, epoch, pepoch := r.topicID, r.leaderEpoch, r.partitionEpoch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.altering = false
		r.mu.Unlock()
	}()
	result, err := rp.link.alterPartition(topicID, p.index, epoch, pepoch, isr)
	if err != nil {
		rp.log.Debug().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("alter partition failed")
		return
	}
	r.mu.Lock()
	if r.role == roleLeader && result.LeaderEpoch == r.leaderEpoch && result.PartitionEpoch > r.partitionEpoch {
		switch {
		case len(result.ISR) < len(r.isr):
			rp.isrShrinks.Add(1)
		case len(result.ISR) > len(r.isr):
			rp.isrExpands.Add(1)
		}
		r.isr, r.partitionEpoch = slices.Clone(result.ISR), result.PartitionEpoch
		r.expanding = nil // committed: isr holds the outcome
		p.advanceHWLocked(rp.self)
	}
	r.mu.Unlock()
}

// waitAcks waits as an acks=all append does: until the high watermark
// reaches offset, then NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR has
// fewer than minISR members; otherwise as waitHW.
func (p *partition) waitAcks(ctx context.Context, offset int64, epoch int32, minISR int, self int32) int16 {
	if code := p.waitHW(ctx, offset, epoch); code != 0 {
		return code
	}
	if isr, _ := p.leaderISR(self); len(isr) < minISR {
		return kerr.NotEnoughReplicasAfterAppend.Code
	}
	return 0
}

// waitHW waits until p's high watermark reaches offset (acks=all) and
// reports a Kafka error code: 0, REQUEST_TIMED_OUT, or
// NOT_LEADER_OR_FOLLOWER when leadership moved meanwhile.
func (p *partition) waitHW(ctx context.Context, offset int64, epoch int32) int16 {
	for {
		ch := p.hwChanged()
		if p.log.HighWatermark() >= offset {
			return 0
		}
		p.rep.mu.Lock()
		lost := p.rep.role != roleLeader || p.rep.leaderEpoch != epoch
		p.rep.mu.Unlock()
		if lost {
			return kerr.NotLeaderForPartition.Code
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut.Code
		}
	}
}
