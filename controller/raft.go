package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// The replicated mode (Config.Voters set): the record batches that the
// single-node mode applies directly become Raft log entries (a JSON array
// of records). Every node applies committed entries through fsm.Apply,
// which runs the same applyLocked, so every node's Snapshot is the
// committed state. Mutations run on the leader only: validation against
// the leader's snapshot (after a barrier, so it holds everything
// committed by earlier leaders), then raft.Apply, waiting until the
// entry is committed and applied locally.

// applyTimeout bounds how long a mutation waits to enqueue its entry or
// for a barrier; commit itself ends with success or lost leadership.
const applyTimeout = 10 * time.Second

// raftRuntime is what the replicated mode adds to a Controller.
type raftRuntime struct {
	trans    raft.Transport
	obs      *observedTransport // trans as Raft uses it (quorum.go)
	logs     *raftboltdb.BoltStore
	vmu      sync.Mutex // one voter change at a time (quorum.go)
	observer *raft.Observer
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// startRaft opens the Raft stores, bootstraps the voter set on first
// start and starts Raft and the goroutines that follow leadership.
func (c *Controller) startRaft() (err error) {
	cfg := &c.cfg
	if err := os.MkdirAll(cfg.RaftDir, 0o755); err != nil {
		return fmt.Errorf("controller: create raft dir: %w", err)
	}
	hlog := newHCLogger(c.log.With().Str("component", "raft").Logger())
	logs, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.RaftDir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("controller: open raft log: %w", err)
	}
	trans := cfg.Transport
	defer func() {
		if err != nil {
			_ = logs.Close()
			if trans != nil && cfg.Transport == nil {
				if wc, ok := trans.(raft.WithClose); ok {
					_ = wc.Close()
				}
			}
		}
	}()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.RaftDir, 2, hlog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("controller: open raft snapshots: %w", err)
	}
	if trans == nil {
		var self string
		for _, v := range slices.Concat(cfg.Voters, cfg.Observers) {
			if v.ID == cfg.NodeID {
				self = v.Addr
			}
		}
		adv, err := net.ResolveTCPAddr("tcp", self)
		if err != nil {
			return fmt.Errorf("controller: resolve raft address %s: %w", self, err)
		}
		if cfg.RaftTLS != nil || cfg.RaftSASL != nil {
			t, err := newSecureTransport(cfg.RaftBind, adv, cfg.RaftTLS, cfg.RaftSASL, hlog.Named("transport"))
			if err != nil {
				return fmt.Errorf("controller: raft listen on %s: %w", cfg.RaftBind, err)
			}
			trans = t
		} else {
			t, err := raft.NewTCPTransportWithLogger(cfg.RaftBind, adv, 3, 10*time.Second, hlog.Named("transport"))
			if err != nil {
				return fmt.Errorf("controller: raft listen on %s: %w", cfg.RaftBind, err)
			}
			trans = t
		}
	}

	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	rc.Logger = hlog
	// A voter removed from the quorum stays a member (an observer) when
	// it still runs as a broker: Raft must keep running (quorum.go).
	rc.ShutdownOnRemove = false
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("controller: raft config: %w", err)
	}

	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return fmt.Errorf("controller: read raft state: %w", err)
	}
	if !has {
		if err := c.resetForBootstrap(); err != nil {
			return err
		}
		var conf raft.Configuration
		for _, v := range cfg.Voters {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr)})
		}
		for _, v := range cfg.Observers {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Nonvoter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr)})
		}
		if cfg.Transport != nil {
			// An injected transport names its own address.
			for i := range conf.Servers {
				if conf.Servers[i].ID == rc.LocalID {
					conf.Servers[i].Address = trans.LocalAddr()
				}
			}
		}
		if cfg.isObserver() {
			// An observer starts with no configuration: it waits for the
			// leader, which has it in its configuration, to replicate to it.
			c.log.Info().Msg("starting as an observer without bootstrapping the quorum")
		} else if err := raft.BootstrapCluster(rc, logs, logs, snaps, trans, conf); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("controller: bootstrap raft: %w", err)
		}
	} else if err := c.checkAheadOfLog(logs, snaps); err != nil {
		return err
	}

	obs := newObservedTransport(trans, cfg.Now)
	if _, ok := trans.(raft.WithPreVote); !ok {
		rc.PreVoteDisabled = true // obs offers pre-votes only as trans does
	}
	r, err := raft.NewRaft(rc, fsm{c}, logs, logs, snaps, obs)
	if err != nil {
		return fmt.Errorf("controller: start raft: %w", err)
	}
	obs.setRaft(r)
	c.raft = r
	ctx, cancel := context.WithCancel(context.Background())
	obsCh := make(chan raft.Observation, 16)
	c.rs = &raftRuntime{
		trans:  trans,
		obs:    obs,
		logs:   logs,
		cancel: cancel,
		observer: raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
			_, ok := o.Data.(raft.LeaderObservation)
			return ok
		}),
	}
	r.RegisterObserver(c.rs.observer)
	c.rs.wg.Go(func() { c.followLeader(ctx, obsCh) })
	c.rs.wg.Go(func() { c.leadWhileLeader(ctx) })
	c.publishLeader()
	return nil
}

// resetForBootstrap checks that meta.db holds no state a new quorum would
// not know about (a single-node store cannot be turned into a quorum
// member) and forgets its cluster ID: the first leader makes the
// quorum's.
func (c *Controller) resetForBootstrap() error {
	s := c.snap.Load()
	if len(s.Topics) > 0 || len(s.Brokers) > 0 || c.applied > 0 {
		return fmt.Errorf("controller: %s holds metadata but %s holds no raft state; refusing to bootstrap a quorum over it",
			c.cfg.MetadataDir, c.cfg.RaftDir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	empty := &Snapshot{ControllerID: -1, Topics: map[string]*Topic{}, TopicsByID: map[[16]byte]*Topic{}}
	if err := c.db.Update(func(tx *bolt.Tx) error { return persistAll(tx, empty, 0) }); err != nil {
		return fmt.Errorf("controller: reset metadata: %w", err)
	}
	c.snap.Store(empty)
	return nil
}

// checkAheadOfLog refuses a meta.db that has applied entries the Raft
// log and snapshots do not hold (the raft dir was replaced).
func (c *Controller) checkAheadOfLog(logs raft.LogStore, snaps raft.SnapshotStore) error {
	last, err := logs.LastIndex()
	if err != nil {
		return fmt.Errorf("controller: read raft log: %w", err)
	}
	if metas, err := snaps.List(); err == nil && len(metas) > 0 {
		last = max(last, metas[0].Index)
	}
	if c.applied > last {
		return fmt.Errorf("controller: %s applied raft index %d but the raft log in %s ends at %d",
			c.cfg.MetadataDir, c.applied, c.cfg.RaftDir, last)
	}
	return nil
}

func (c *Controller) stopRaft() error {
	c.rs.cancel()
	err := c.raft.Shutdown().Error()
	// Shutdown closes the TCP transport's listener but not the pooled
	// connections it dialled, so the peers' handlers of those connections
	// would wait on them until the process exits.
	if nt, ok := c.rs.trans.(*raft.NetworkTransport); ok {
		nt.CloseStreams()
	}
	c.rs.wg.Wait()
	c.raft.DeregisterObserver(c.rs.observer)
	if cerr := c.rs.logs.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("controller: stop raft: %w", err)
	}
	return nil
}

// followLeader republishes the snapshot with the new ControllerID when
// the Raft leader changes (on every node).
func (c *Controller) followLeader(ctx context.Context, ch <-chan raft.Observation) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			c.publishLeader()
		}
	}
}

func (c *Controller) publishLeader() {
	id := int32(-1)
	if lid, _, ok := c.Leader(); ok {
		id = lid
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if old.ControllerID == id {
		return
	}
	s := *old
	s.ControllerID = id
	s.Version++
	c.snap.Store(&s)
	c.notify()
}

// leadWhileLeader runs lead for as long as this node is the leader.
func (c *Controller) leadWhileLeader(ctx context.Context) {
	var cur *leadership
	defer func() { cur.stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-c.raft.LeaderCh():
			cur.stop()
			cur = nil
			if leader {
				lctx, cancel := context.WithCancel(ctx)
				cur = &leadership{cancel: cancel, done: make(chan struct{})}
				go func(l *leadership) {
					defer close(l.done)
					c.lead(lctx)
				}(cur)
			}
		}
	}
}

// leadership is one term's run of lead.
type leadership struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *leadership) stop() {
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// lead is the active controller's background work: catch up with the
// log, generate the cluster ID if no leader has yet, then fence brokers
// whose session expired.
func (c *Controller) lead(ctx context.Context) {
	c.resetHeartbeats()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		err := c.establish()
		if err == nil {
			break
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotController) {
			return
		}
		c.log.Warn().Err(err).Msg("establish leadership failed")
		retry.Reset(c.cfg.CommitTimeout)
	}
	c.log.Info().Msg("active controller")
	tick := time.NewTicker(c.cfg.sessionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := c.fenceExpired(); err != nil && !errors.Is(err, ErrNotController) && !errors.Is(err, ErrClosed) {
				c.log.Warn().Err(err).Msg("fence expired brokers failed")
			}
		}
	}
}

func (c *Controller) establish() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	if c.snap.Load().ClusterID != "" {
		return nil
	}
	return c.commitLocked(append([]record{{Type: recClusterID, ClusterID: newClusterID()}}, c.cfg.bootstrapScramRecords()...))
}

// beginWriteLocked starts a mutation: the controller must be open and,
// with Raft, the leader, having applied everything committed before its
// term. Lock wmu must be held.
func (c *Controller) beginWriteLocked() error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.raft == nil {
		return nil
	}
	if c.raft.State() != raft.Leader {
		return c.notControllerErr()
	}
	term := c.raft.CurrentTerm()
	if term != c.barrierTerm {
		if err := c.raft.Barrier(applyTimeout).Error(); err != nil {
			return c.raftErr(err)
		}
		c.barrierTerm = term
		c.activeTerm.Store(term)
	}
	return nil
}

// commitLocked applies recs: directly without Raft, else as one log
// entry, returning once it is committed and applied here. A batch the
// state machine rejects returns its error. Lock wmu must be held (after
// beginWriteLocked).
func (c *Controller) commitLocked(recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	if c.raft == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.applyLocked(recs, 0)
	}
	data, err := json.Marshal(recs)
	if err != nil {
		return fmt.Errorf("controller: encode records: %w", err)
	}
	f := c.raft.Apply(data, applyTimeout)
	if err := f.Error(); err != nil {
		return c.raftErr(err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func (c *Controller) raftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return c.notControllerErr()
	case errors.Is(err, raft.ErrLeadershipLost):
		// The entry may still commit under the next leader.
		return fmt.Errorf("%w (leadership lost, the change may or may not take effect): %w", c.notControllerErr(), err)
	}
	return fmt.Errorf("controller: raft: %w", err)
}

func (c *Controller) notControllerErr() error {
	if c.raft != nil && c.raft.State() == raft.Leader {
		return fmt.Errorf("%w: this node was just elected and is catching up; retry", ErrNotController)
	}
	if id, addr, ok := c.Leader(); ok && id != c.cfg.NodeID {
		return fmt.Errorf("%w: the active controller is node %d (%s)", ErrNotController, id, addr)
	}
	return fmt.Errorf("%w: no active controller is known", ErrNotController)
}

// Leader returns the active controller: this node without Voters, else
// the Raft leader as this node last heard (ok false while none is known).
// raftAddr is its Raft address; the broker finds its Kafka address in
// Snapshot().Broker(id).
func (c *Controller) Leader() (id int32, raftAddr string, ok bool) {
	if c.raft == nil {
		return c.cfg.NodeID, "", true
	}
	addr, sid := c.raft.LeaderWithID()
	if sid == "" {
		return -1, "", false
	}
	n, err := strconv.ParseInt(string(sid), 10, 32)
	if err != nil {
		return -1, "", false
	}
	return int32(n), string(addr), true
}

// IsLeader reports whether this node is the active controller: the Raft
// leader, having applied everything committed before its term (always,
// without Voters). A node that just won an election reports false until
// it has caught up (a few milliseconds).
func (c *Controller) IsLeader() bool {
	if c.raft == nil {
		return !c.closed.Load()
	}
	return c.raft.State() == raft.Leader && c.activeTerm.Load() == c.raft.CurrentTerm()
}

// fsm is the Raft state machine over a Controller.
type fsm struct{ c *Controller }

// Apply applies one committed entry; entries meta.db already holds (a
// restart replays the log from the last snapshot) are skipped.
func (f fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.Index <= c.applied {
		return nil
	}
	var recs []record
	if err := json.Unmarshal(l.Data, &recs); err != nil {
		c.applied = l.Index
		return fmt.Errorf("controller: undecodable log entry %d: %w", l.Index, err)
	}
	if err := c.applyLocked(recs, l.Index); err != nil {
		return err
	}
	return nil
}

// fsmState is the Raft snapshot: the whole state as of Applied.
type fsmState struct {
	Applied        uint64      `json:"applied"`
	ClusterID      string      `json:"cluster_id"`
	NextProducerID int64       `json:"next_producer_id"`
	Brokers        []Broker    `json:"brokers"`
	Topics         []snapTopic `json:"topics"`

	Scram  []snapScram `json:"scram,omitempty"`  // scram.go
	Quotas []snapQuota `json:"quotas,omitempty"` // quotas.go

	BrokerConfigs []snapBrokerConfigs `json:"broker_configs,omitempty"` // brokerconfigs.go
	ACLs          []ACL               `json:"acls,omitempty"`           // acls.go

	Features      map[string]int16    `json:"features,omitempty"`       // features.go
	FeaturesEpoch int64               `json:"features_epoch,omitempty"` // features.go
	ClientMetrics []snapClientMetrics `json:"client_metrics,omitempty"` // clientmetrics.go
}

type snapTopic struct {
	ID [16]byte `json:"id"`
	storedTopic
}

// Snapshot captures the current immutable snapshot; Persist encodes it.
func (f fsm) Snapshot() (raft.FSMSnapshot, error) {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return fsmSnapshot{s: c.snap.Load(), applied: c.applied}, nil
}

type fsmSnapshot struct {
	s       *Snapshot
	applied uint64
}

func (fs fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	st := fsmState{Applied: fs.applied, ClusterID: fs.s.ClusterID, NextProducerID: fs.s.NextProducerID, Brokers: fs.s.Brokers, Scram: scramSnapshot(fs.s),
		BrokerConfigs: brokerConfigsSnapshot(fs.s), Quotas: quotaSnapshot(fs.s), ACLs: aclSnapshot(fs.s),
		Features: fs.s.features, FeaturesEpoch: fs.s.featuresEpoch,
		ClientMetrics: clientMetricsSnapshot(fs.s)}
	for _, name := range fs.s.TopicNames() {
		t := fs.s.Topics[name]
		st.Topics = append(st.Topics, snapTopic{ID: t.ID, storedTopic: storedTopic{Name: t.Name, Internal: t.Internal, Partitions: t.Partitions, Configs: t.Configs}})
	}
	if err := json.NewEncoder(sink).Encode(&st); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}

// Restore replaces the state with a snapshot, unless meta.db already
// holds it or a later state (on restart).
func (f fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st fsmState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("controller: read snapshot: %w", err)
	}
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.openLocked(); err != nil {
		return err
	}
	if st.Applied <= c.applied {
		return nil
	}
	old := c.snap.Load()
	s := &Snapshot{
		Version:        old.Version + 1,
		ClusterID:      st.ClusterID,
		ControllerID:   old.ControllerID,
		Brokers:        st.Brokers,
		NextProducerID: st.NextProducerID,
		Topics:         make(map[string]*Topic, len(st.Topics)),
		TopicsByID:     make(map[[16]byte]*Topic, len(st.Topics)),
	}
	for _, t := range st.Topics {
		tp := &Topic{Name: t.Name, ID: t.ID, Internal: t.Internal, Partitions: t.Partitions, Configs: t.Configs}
		if tp.Configs == nil {
			tp.Configs = map[string]string{}
		}
		s.Topics[tp.Name] = tp
		s.TopicsByID[tp.ID] = tp
	}
	restoreScram(s, st.Scram)
	restoreBrokerConfigs(s, old, st.BrokerConfigs)
	restoreQuotas(s, st.Quotas)
	restoreACLs(s, st.ACLs)
	s.features, s.featuresEpoch = st.Features, st.FeaturesEpoch
	restoreClientMetrics(s, old, st.ClientMetrics)
	if err := c.db.Update(func(tx *bolt.Tx) error { return persistAll(tx, s, st.Applied) }); err != nil {
		c.dbStale = true
		c.log.Error().Err(err).Uint64("index", st.Applied).Msg("persist restored snapshot failed")
	} else {
		c.dbStale = false
	}
	c.applied = st.Applied
	c.snap.Store(s)
	c.notify()
	return nil
}

// RaftState is the quorum's state as this node sees it (metrics).
type RaftState struct {
	Enabled      bool   // false for a single node without voters
	State        string // Follower, Candidate, Leader, Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
}

// RaftState returns the Raft node's term and indexes.
func (c *Controller) RaftState() RaftState {
	if c.raft == nil {
		return RaftState{}
	}
	st := c.raft.Stats()
	num := func(k string) uint64 { n, _ := strconv.ParseUint(st[k], 10, 64); return n }
	return RaftState{Enabled: true, State: c.raft.State().String(), Term: num("term"),
		CommitIndex: num("commit_index"), AppliedIndex: num("applied_index"), LastIndex: num("last_log_index")}
}
