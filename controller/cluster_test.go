package controller

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeClock is an injected clock for broker sessions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// cluster is n in-process controllers (node IDs 1..n) on Raft's
// in-memory transport.
type cluster struct {
	t     *testing.T
	clock *fakeClock
	cfgs  []Config
	nodes []*Controller // nil while stopped
	trans []*raft.InmemTransport
}

// fastRaft are timeouts for in-memory clusters: Raft's own tests use
// 50 ms, which loses leadership mid-commit on a machine at load 20 (CI with
// parallel builds); 200 ms holds and still elects in well under a second.
func fastRaft(cfg *Config) {
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
}

func newCluster(t *testing.T, n int, mod func(*Config)) *cluster {
	t.Helper()
	cl := &cluster{t: t, clock: newFakeClock(), nodes: make([]*Controller, n), trans: make([]*raft.InmemTransport, n)}
	var voters []Voter
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i+1)))
		cl.trans[i] = tr
		voters = append(voters, Voter{ID: int32(i + 1), Addr: string(addr)})
	}
	cl.connectAll()
	for i := range n {
		cfg := Config{
			NodeID:               int32(i + 1),
			MetadataDir:          t.TempDir(),
			Voters:               voters,
			Now:                  cl.clock.Now,
			BrokerSessionTimeout: 9 * time.Second,
			sessionCheckInterval: 2 * time.Millisecond,
		}
		fastRaft(&cfg)
		if mod != nil {
			mod(&cfg)
		}
		cl.cfgs = append(cl.cfgs, cfg)
	}
	for i := range n {
		cl.start(i)
	}
	t.Cleanup(func() {
		for i := range cl.nodes {
			cl.stop(i)
		}
	})
	return cl
}

func (cl *cluster) connectAll() {
	for i, a := range cl.trans {
		for j, b := range cl.trans {
			if i != j && a != nil && b != nil {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

func (cl *cluster) start(i int) {
	cl.t.Helper()
	if cl.trans[i] == nil { // restarted: Raft closed the old transport
		_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i+1)))
		cl.trans[i] = tr
		cl.connectAll()
	}
	cfg := cl.cfgs[i]
	cfg.Transport = cl.trans[i]
	c, err := Open(cfg)
	if err != nil {
		cl.t.Fatalf("Open node %d: %v", i+1, err)
	}
	cl.nodes[i] = c
}

func (cl *cluster) stop(i int) {
	if cl.nodes[i] == nil {
		return
	}
	if err := cl.nodes[i].Close(); err != nil {
		cl.t.Errorf("Close node %d: %v", i+1, err)
	}
	cl.nodes[i] = nil
	cl.trans[i] = nil
}

// isolate cuts node i off from the others (both directions).
func (cl *cluster) isolate(i int) {
	cl.trans[i].DisconnectAll()
	for j, tr := range cl.trans {
		if j != i && tr != nil {
			tr.Disconnect(cl.trans[i].LocalAddr())
		}
	}
}

// leader waits until exactly one running node leads and has established
// itself (cluster ID set), and returns its index.
func (cl *cluster) leader() int {
	cl.t.Helper()
	idx := -1
	waitFor(cl.t, "a leader", func() bool {
		idx = -1
		for i, c := range cl.nodes {
			if c != nil && c.IsLeader() {
				if idx >= 0 {
					return false
				}
				idx = i
			}
		}
		return idx >= 0 && cl.nodes[idx].Snapshot().ClusterID != ""
	})
	return idx
}

// leaderExcept waits for a leader other than node skip.
func (cl *cluster) leaderExcept(skip int) int {
	cl.t.Helper()
	idx := -1
	waitFor(cl.t, "a new leader", func() bool {
		for i, c := range cl.nodes {
			if i != skip && c != nil && c.IsLeader() && c.Snapshot().ClusterID != "" {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// converged waits until every running node's snapshot satisfies cond.
func (cl *cluster) converged(what string, cond func(*Snapshot) bool) {
	cl.t.Helper()
	waitFor(cl.t, what, func() bool {
		for _, c := range cl.nodes {
			if c != nil && !cond(c.Snapshot()) {
				return false
			}
		}
		return true
	})
}

func (cl *cluster) registerBrokers(leader int, ids ...int32) {
	cl.t.Helper()
	for _, id := range ids {
		if err := cl.nodes[leader].RegisterBroker(Broker{NodeID: id, Host: "localhost", Port: 9000 + id}); err != nil {
			cl.t.Fatalf("RegisterBroker(%d): %v", id, err)
		}
	}
}
