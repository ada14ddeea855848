package controller

// Quorum membership (KIP-595's DescribeQuorum, KIP-853's AddRaftVoter and
// RemoveRaftVoter) on hashicorp/raft.
//
// The Raft configuration is the membership: voters vote and count for
// commits; non-voters replicate the log but do not vote. gregor's nodes
// are all brokers, and a broker needs the metadata log, so every node is
// in the configuration: Kafka's observers are Raft's non-voters. The
// voters bootstrap the first configuration from Config.Voters and
// Config.Observers; afterwards it lives in the Raft log and snapshots
// (the static lists only matter on a node's first start).
//
// AddVoter adds an unknown node as a non-voter first, waits until it has
// the leader's log up to the commit index at the start (Kafka refuses a
// voter that is not caught up), then makes it a voter; a node that does
// not catch up within the deadline is taken out again. RemoveVoter makes
// a voter that still runs as a broker (registered and unfenced) a
// non-voter again, so it keeps its metadata, and removes a dead one from
// the configuration. One change runs at a time.
//
// Raft offers no per-follower replication state, so observedTransport
// watches the leader's AppendEntries and InstallSnapshot round trips to
// learn, per follower, its log end (the index it holds after the call),
// when it last answered (Kafka's last fetch) and when it last held
// everything the leader had when the call was sent (Kafka's last caught
// up). Offsets are Raft log indexes: the high watermark is the commit
// index, a log end offset a last index (entries at 1..N are Kafka's
// offsets 0..N-1, so both are exclusive ends as Kafka's are).

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// QuorumReplica is one member of the quorum as the leader sees it.
type QuorumReplica struct {
	ID   int32
	Addr string // its Raft address (the CONTROLLER listener)
	// LogEndOffset is the index of its last log entry as the leader last
	// learned it; -1 while unknown.
	LogEndOffset int64
	// LastFetch is when it last answered the leader, LastCaughtUp when it
	// last held all the leader had; zero while unknown.
	LastFetch    time.Time
	LastCaughtUp time.Time
}

// Quorum is the controller quorum as the leader describes it.
type Quorum struct {
	LeaderID      int32
	Epoch         uint64 // the Raft term
	HighWatermark int64  // the commit index
	Voters        []QuorumReplica
	Observers     []QuorumReplica // Raft non-voters
}

// isObserver reports whether this node starts outside the voter set.
func (cfg *Config) isObserver() bool {
	return slices.ContainsFunc(cfg.Observers, func(v Voter) bool { return v.ID == cfg.NodeID })
}

// DescribeQuorum describes the quorum. It needs the leader
// (ErrNotController elsewhere). A single node without Raft is the only
// voter and its offsets are unknown.
func (c *Controller) DescribeQuorum() (Quorum, error) {
	if c.closed.Load() {
		return Quorum{}, ErrClosed
	}
	if c.raft == nil {
		now := c.cfg.Now()
		return Quorum{LeaderID: c.cfg.NodeID, HighWatermark: -1,
			Voters: []QuorumReplica{{ID: c.cfg.NodeID, LogEndOffset: -1, LastFetch: now, LastCaughtUp: now}}}, nil
	}
	if c.raft.State() != raft.Leader {
		return Quorum{}, c.notControllerErr()
	}
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return Quorum{}, c.raftErr(err)
	}
	q := Quorum{LeaderID: c.cfg.NodeID, Epoch: c.raft.CurrentTerm(), HighWatermark: int64(c.raft.CommitIndex())}
	now := c.cfg.Now()
	for _, s := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue // not one of ours
		}
		rep := QuorumReplica{ID: int32(id), Addr: string(s.Address), LogEndOffset: -1}
		if rep.ID == c.cfg.NodeID {
			rep.LogEndOffset, rep.LastFetch, rep.LastCaughtUp = int64(c.raft.LastIndex()), now, now
		} else if p, ok := c.rs.obs.progress(s.ID); ok {
			rep.LogEndOffset, rep.LastFetch, rep.LastCaughtUp = int64(p.leo), p.lastFetch, p.lastCaughtUp
		}
		if s.Suffrage == raft.Voter {
			q.Voters = append(q.Voters, rep)
		} else {
			q.Observers = append(q.Observers, rep)
		}
	}
	return q, nil
}

// member returns the configuration's entry for id and its index.
func (c *Controller) member(id int32) (raft.Server, bool, []raft.Server, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Server{}, false, nil, c.raftErr(err)
	}
	servers := f.Configuration().Servers
	for _, s := range servers {
		if s.ID == serverID(id) {
			return s, true, servers, nil
		}
	}
	return raft.Server{}, false, servers, nil
}

// beginVoterChange checks that a voter change can start here and takes
// the change lock; the caller runs the returned unlock.
func (c *Controller) beginVoterChange() (func(), error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if c.raft == nil {
		return nil, fmt.Errorf("%w: this is a single node without controller.quorum.voters", ErrNoQuorum)
	}
	if !c.rs.vmu.TryLock() {
		return nil, fmt.Errorf("%w: another voter change is in progress", ErrQuorumTimeout)
	}
	if !c.IsLeader() {
		c.rs.vmu.Unlock()
		return nil, c.notControllerErr()
	}
	return c.rs.vmu.Unlock, nil
}

// raftTimeout is how long Raft may take to enqueue a change before ctx's
// deadline.
func raftTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return applyTimeout
}

// AddVoter makes node id, reachable for Raft at addr, a voter: a
// non-voter is promoted once caught up, an unknown node is first added
// as a non-voter. It returns once the new configuration is committed.
// ErrDuplicateVoter if it already votes; ErrQuorumTimeout if it did not
// catch up before ctx ended (an unknown node is then taken out again).
func (c *Controller) AddVoter(ctx context.Context, id int32, addr string) error {
	unlock, err := c.beginVoterChange()
	if err != nil {
		return err
	}
	defer unlock()
	if id < 0 || addr == "" {
		return fmt.Errorf("%w: voter id %d at %q", ErrInvalidRequest, id, addr)
	}
	if b, ok := c.snap.Load().Broker(id); ok && b.BrokerOnly {
		return fmt.Errorf("%w: node %d is a broker-only node (process.roles=broker) and cannot be a voter", ErrInvalidRequest, id)
	}
	s, known, _, err := c.member(id)
	if err != nil {
		return err
	}
	if known && s.Suffrage == raft.Voter {
		return fmt.Errorf("%w: node %d is already a voter", ErrDuplicateVoter, id)
	}
	sid, saddr := serverID(id), raft.ServerAddress(addr)
	if !known || s.Address != saddr {
		if err := c.raft.AddNonvoter(sid, saddr, 0, raftTimeout(ctx)).Error(); err != nil {
			return c.raftErr(err)
		}
	}
	target := c.raft.CommitIndex()
	if err := c.waitCaughtUp(ctx, sid, target); err != nil {
		if !known {
			if rerr := c.raft.RemoveServer(sid, 0, applyTimeout).Error(); rerr != nil {
				c.log.Warn().Err(rerr).Int32("voter", id).Msg("remove node that did not catch up failed")
			}
		}
		return err
	}
	if err := c.raft.AddVoter(sid, saddr, 0, raftTimeout(ctx)).Error(); err != nil {
		return c.raftErr(err)
	}
	c.log.Info().Int32("voter", id).Str("addr", addr).Msg("voter added")
	return nil
}

// waitCaughtUp waits until follower sid holds the log up to index.
func (c *Controller) waitCaughtUp(ctx context.Context, sid raft.ServerID, index uint64) error {
	tick := time.NewTicker(c.cfg.CommitTimeout)
	defer tick.Stop()
	for {
		if p, ok := c.rs.obs.progress(sid); ok && p.leo >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			p, _ := c.rs.obs.progress(sid)
			return fmt.Errorf("%w: node %s holds the log up to %d, not yet %d", ErrQuorumTimeout, sid, p.leo, index)
		case <-tick.C:
		}
		if c.raft.State() != raft.Leader {
			return c.notControllerErr()
		}
	}
}

// RemoveVoter takes node id out of the voters: it stays a non-voter (an
// observer) while it is a live broker, else it leaves the configuration.
// It returns once the new configuration is committed; a leader that
// removed itself then steps down. ErrVoterNotFound if id does not vote;
// ErrInvalidRequest for the last voter.
func (c *Controller) RemoveVoter(ctx context.Context, id int32) error {
	unlock, err := c.beginVoterChange()
	if err != nil {
		return err
	}
	defer unlock()
	s, known, servers, err := c.member(id)
	if err != nil {
		return err
	}
	if !known || s.Suffrage != raft.Voter {
		return fmt.Errorf("%w: node %d is not a voter", ErrVoterNotFound, id)
	}
	voters := 0
	for _, o := range servers {
		if o.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters == 1 {
		return fmt.Errorf("%w: node %d is the last voter", ErrInvalidRequest, id)
	}
	var f raft.IndexFuture
	keep := c.snap.Load().Live(id)
	if keep {
		f = c.raft.DemoteVoter(s.ID, 0, raftTimeout(ctx))
	} else {
		f = c.raft.RemoveServer(s.ID, 0, raftTimeout(ctx))
	}
	if err := f.Error(); err != nil {
		return c.raftErr(err)
	}
	c.log.Info().Int32("voter", id).Bool("observer", keep).Msg("voter removed")
	return nil
}

// replicaProgress is what the leader learned of one follower.
type replicaProgress struct {
	leo          uint64
	lastFetch    time.Time
	lastCaughtUp time.Time
}

// observedTransport is the Raft transport with the leader's side of
// replication watched (see the top of this file). Pipelined replication
// is declined, so every AppendEntries goes through AppendEntries: the
// controller commits one entry at a time anyway (wmu), so a pipeline
// would have nothing to overlap.
type observedTransport struct {
	raft.Transport
	now  func() time.Time
	raft atomic.Pointer[raft.Raft]

	mu    sync.Mutex
	peers map[raft.ServerID]replicaProgress
}

func newObservedTransport(t raft.Transport, now func() time.Time) *observedTransport {
	return &observedTransport{Transport: t, now: now, peers: map[raft.ServerID]replicaProgress{}}
}

func (t *observedTransport) setRaft(r *raft.Raft) { t.raft.Store(r) }

// leaderLast is this node's last log index (0 before Raft runs).
func (t *observedTransport) leaderLast() uint64 {
	if r := t.raft.Load(); r != nil {
		return r.LastIndex()
	}
	return 0
}

func (t *observedTransport) progress(id raft.ServerID) (replicaProgress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.peers[id]
	return p, ok
}

// record notes that follower id answered a call sent at sent, when the
// leader's log ended at last, holding the log up to leo.
func (t *observedTransport) record(id raft.ServerID, leo, last uint64, sent time.Time) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	p.leo, p.lastFetch = leo, now
	if leo >= last && last > 0 {
		p.lastCaughtUp = sent
	}
	t.peers[id] = p
}

func (t *observedTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t *observedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	sent, last := t.now(), t.leaderLast()
	if err := t.Transport.AppendEntries(id, target, args, resp); err != nil {
		return err
	}
	// A heartbeat carries no log position; the follower's answer names
	// its last index before the call, which a successful append extends.
	leo := resp.LastLog
	if resp.Success && (args.PrevLogEntry > 0 || len(args.Entries) > 0) {
		leo = args.PrevLogEntry + uint64(len(args.Entries))
	}
	t.record(id, leo, last, sent)
	return nil
}

func (t *observedTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	sent, last := t.now(), t.leaderLast()
	if err := t.Transport.InstallSnapshot(id, target, args, resp, data); err != nil {
		return err
	}
	if resp.Success {
		t.record(id, args.LastLogIndex, last, sent)
	}
	return nil
}

// RequestPreVote is offered only when the wrapped transport has it
// (startRaft disables pre-votes otherwise).
func (t *observedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := t.Transport.(raft.WithPreVote)
	if !ok {
		return fmt.Errorf("controller: raft transport %T has no pre-vote", t.Transport)
	}
	return pv.RequestPreVote(id, target, args, resp)
}

// Close closes the wrapped transport if it can be closed (Raft's
// Shutdown calls it).
func (t *observedTransport) Close() error {
	if wc, ok := t.Transport.(raft.WithClose); ok {
		return wc.Close()
	}
	return nil
}
