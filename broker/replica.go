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
// one fetcher goroutine and connection per leader node. After a leader
// change a follower first truncates its log to the end of its latest epoch
// at the new leader (OffsetForLeaderEpoch), so logs never diverge.
//
// Lock order: partition.rep.mu, then storage's own locks; fetcher.mu is
// never held while taking rep.mu.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
}

// followerState is a leader's view of one follower.
type followerState struct {
	leo          int64     // the follower's log end offset (its last fetch offset); -1 unknown
	lastCaughtUp time.Time // last time it had everything the leader had
	lastFetch    time.Time
	leoAtFetch   int64 // the leader's log end offset at the last fetch
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

// advanceHWLocked moves the high watermark to the smallest log end offset
// in the ISR. Lock rep.mu should be held; p must be the leader.
func (p *partition) advanceHWLocked(self int32) {
	hw := p.log.LogEndOffset()
	for _, id := range p.rep.isr {
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

// replication owns the follower fetchers and the ISR checks.
type replication struct {
	s *Server

	topics map[string]*controller.Topic // as last reconciled (run goroutine only)

	mu       sync.Mutex
	fetchers map[int32]*fetcher

	// kick asks run for a reconcile although the metadata did not change:
	// a log was opened outside reconcile (a request got there first, or
	// an earlier open failed), and only reconcile gives it its replica
	// state (leadership, high watermark, fetcher, group loading).
	kick chan struct{}
}

func newReplication(s *Server) *replication {
	return &replication{s: s, fetchers: map[int32]*fetcher{}, kick: make(chan struct{}, 1)}
}

// requestReconcile makes run reconcile soon; requests coalesce.
func (rp *replication) requestReconcile() {
	select {
	case rp.kick <- struct{}{}:
	default:
	}
}

// run applies metadata snapshots until shutdown, and checks ISRs.
func (rp *replication) run() {
	ch, unsub := rp.s.ctrl.Subscribe()
	defer unsub()
	rp.reconcile()
	tick := time.NewTicker(max(rp.s.cfg.Replication.LagTimeMax/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-rp.s.ctx.Done():
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
	s := rp.s
	snap := s.ctrl.Snapshot()
	self := s.cfg.NodeID
	wantFetch := map[int32]map[tp]fetchTarget{}
	seen := map[string]*controller.Topic{}
	// Open new replicas' logs in parallel first (10,000 new partitions
	// took 29 s one at a time); the loop below then finds them open.
	if missing := s.parts.missing(localPartitions(snap, self)); len(missing) > 1 {
		s.parts.openMany(missing)
	}
	var short int
	var shortErr error
	defer func() {
		if short > 0 {
			s.log.Error().Err(shortErr).Int("partitions", short).
				Msg("replicas not opened: out of file descriptors or memory")
		}
	}()
	for _, t := range snap.Topics {
		// Snapshots copy only changed topics: a new pointer may carry new
		// configs (AlterConfigs on the controller node).
		seen[t.Name] = t
		if old, ok := rp.topics[t.Name]; ok && old != t {
			s.parts.reconfigure(t)
		}
		for i := range t.Partitions {
			meta := &t.Partitions[i]
			if !slices.Contains(meta.Replicas, self) {
				continue
			}
			p, err := s.parts.getReconciled(t.Name, meta.Index)
			if err != nil {
				if isDiskFailure(err) {
					s.log.Error().Err(err).Str("topic", t.Name).Int32("partition", meta.Index).Msg("opening replica failed")
				} else {
					short, shortErr = short+1, err // one line for all below
				}
				continue
			}
			becameLeader, lostLeader := rp.apply(p, t, meta)
			if t.Name == controller.ConsumerOffsetsTopic && s.groups != nil {
				if becameLeader {
					s.groups.loadPartition(meta.Index, p)
				} else if lostLeader {
					s.groups.coord.Unload(meta.Index)
				}
			}
			if meta.Leader != self && meta.Leader >= 0 {
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
	open := s.parts.topics()
	latest := s.ctrl.Snapshot()
	for _, name := range open {
		if latest.Topic(name) == nil {
			if err := s.parts.dropTopic(name); err != nil {
				s.log.Error().Err(err).Str("topic", name).Msg("removing logs of deleted topic failed")
			}
		}
	}
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
			f = newFetcher(s, id)
			rp.fetchers[id] = f
			s.goroutine(f.run)
		}
		f.set(targets)
	}
}

// apply updates p's replication state from its metadata.
func (rp *replication) apply(p *partition, t *controller.Topic, meta *controller.Partition) (becameLeader, lostLeader bool) {
	self := rp.s.cfg.NodeID
	r := &p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.role != roleNone && meta.LeaderEpoch < r.leaderEpoch {
		return false, false // older news
	}
	newEpoch := meta.LeaderEpoch != r.leaderEpoch || r.role == roleNone
	r.topicID = t.ID
	r.replicas = slices.Clone(meta.Replicas)
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
			now := time.Now()
			r.followers = map[int32]*followerState{}
			for _, id := range meta.Replicas {
				if id != self {
					r.followers[id] = &followerState{leo: -1, lastCaughtUp: now, lastFetch: now}
				}
			}
			if rp.s.clustered() {
				rp.s.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int32("epoch", meta.LeaderEpoch).Msg("became leader")
			}
		}
		p.advanceHWLocked(self)
		return !wasLeader, false
	}
	p.log.SetAutoHighWatermark(false)
	r.role = roleFollower
	r.followers = nil
	if r.hwCh != nil { // wake acks=all waiters: they answer NOT_LEADER_OR_FOLLOWER
		close(r.hwCh)
		r.hwCh = nil
	}
	if wasLeader {
		rp.s.log.Info().Str("topic", p.topic).Int32("partition", p.index).Int32("leader", meta.Leader).Int32("epoch", meta.LeaderEpoch).Msg("became follower")
	}
	return false, wasLeader
}

// recordFollowerFetch updates a leader's view of follower id after a fetch
// at fetchOffset (the follower's log end offset), advancing the high
// watermark and expanding the ISR when the follower caught up. It reports
// whether id is a follower of p here.
func (p *partition) recordFollowerFetch(s *Server, id int32, fetchOffset int64) bool {
	r := &p.rep
	r.mu.Lock()
	if r.role != roleLeader {
		r.mu.Unlock()
		return false
	}
	f := r.followers[id]
	if f == nil {
		r.mu.Unlock()
		return false // not a replica of this partition
	}
	now := time.Now()
	leo := p.log.LogEndOffset()
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case fetchOffset >= f.leoAtFetch:
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.leoAtFetch = fetchOffset, now, leo
	p.advanceHWLocked(s.cfg.NodeID)
	var expand []int32
	if !slices.Contains(r.isr, id) && fetchOffset >= p.log.HighWatermark() && !r.altering {
		expand = append(slices.Clone(r.isr), id)
		slices.Sort(expand)
	}
	r.mu.Unlock()
	if expand != nil {
		s.goroutine(func() { s.alterISR(p, expand) })
	}
	return true
}

// checkISRs shrinks the ISR of led partitions whose followers fell behind.
func (rp *replication) checkISRs() {
	s := rp.s
	now := time.Now()
	for _, p := range s.parts.all() {
		r := &p.rep
		r.mu.Lock()
		if r.role != roleLeader || r.altering || len(r.isr) <= 1 {
			r.mu.Unlock()
			continue
		}
		var keep []int32
		for _, id := range r.isr {
			f := r.followers[id]
			if id == s.cfg.NodeID || f == nil || now.Sub(f.lastCaughtUp) <= s.cfg.Replication.LagTimeMax {
				keep = append(keep, id)
			}
		}
		shrink := len(keep) < len(r.isr)
		r.mu.Unlock()
		if shrink {
			s.log.Info().Str("topic", p.topic).Int32("partition", p.index).Ints32("isr", keep).Msg("shrinking isr")
			s.alterISR(p, keep)
		}
	}
}

// alterISR asks the controller to set p's ISR.
func (s *Server) alterISR(p *partition, isr []int32) {
	r := &p.rep
	r.mu.Lock()
	if r.role != roleLeader || r.altering {
		r.mu.Unlock()
		return
	}
	r.altering = true
	topicID, epoch, pepoch := r.topicID, r.leaderEpoch, r.partitionEpoch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.altering = false
		r.mu.Unlock()
	}()
	var result controller.Partition
	var err error
	if !s.clustered() || s.ctrl.IsLeader() {
		result, err = s.ctrl.AlterPartition(topicID, p.index, s.cfg.NodeID, epoch, pepoch, isr)
	} else {
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version = 2
		req.BrokerID = s.cfg.NodeID
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = topicID
		rpp := kmsg.NewAlterPartitionRequestTopicPartition()
		rpp.Partition, rpp.LeaderEpoch, rpp.PartitionEpoch, rpp.NewISR = p.index, epoch, pepoch, isr
		rt.Partitions = append(rt.Partitions, rpp)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		var resp kmsg.Response
		if resp, err = s.toController(ctx, req); err == nil {
			ar := resp.(*kmsg.AlterPartitionResponse)
			switch {
			case ar.ErrorCode != 0:
				err = kerr.ErrorForCode(ar.ErrorCode)
			case len(ar.Topics) != 1 || len(ar.Topics[0].Partitions) != 1:
				err = errors.New("broker: malformed AlterPartition response")
			case ar.Topics[0].Partitions[0].ErrorCode != 0:
				err = kerr.ErrorForCode(ar.Topics[0].Partitions[0].ErrorCode)
			default:
				sp := ar.Topics[0].Partitions[0]
				result = controller.Partition{Index: p.index, Leader: sp.LeaderID, LeaderEpoch: sp.LeaderEpoch, PartitionEpoch: sp.PartitionEpoch, ISR: sp.ISR}
			}
		}
	}
	if err != nil {
		s.log.Debug().Err(err).Str("topic", p.topic).Int32("partition", p.index).Msg("alter partition failed")
		return
	}
	r.mu.Lock()
	if r.role == roleLeader && result.LeaderEpoch == r.leaderEpoch && result.PartitionEpoch > r.partitionEpoch {
		r.isr, r.partitionEpoch = slices.Clone(result.ISR), result.PartitionEpoch
		p.advanceHWLocked(s.cfg.NodeID)
	}
	r.mu.Unlock()
}

// waitHW waits until p's high watermark reaches offset (acks=all) and
// reports a Kafka error code: 0, REQUEST_TIMED_OUT, or
// NOT_LEADER_OR_FOLLOWER when leadership moved meanwhile.
func (s *Server) waitHW(ctx context.Context, p *partition, offset int64, epoch int32) int16 {
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
