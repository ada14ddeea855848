package controller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRaftConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		sub  string
	}{
		{"self not a voter", Config{NodeID: 4, Voters: []Voter{{1, "a:1"}, {2, "b:1"}}}, "not in controller.quorum.voters"},
		{"duplicate voter", Config{NodeID: 1, Voters: []Voter{{1, "a:1"}, {1, "b:1"}}}, "duplicate"},
		{"no address", Config{NodeID: 1, Voters: []Voter{{1, ""}}}, "no address"},
		{"negative timeout", Config{NodeID: 1, Voters: []Voter{{1, "a:1"}}, ElectionTimeout: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MetadataDir = t.TempDir()
			c, err := Open(tc.cfg)
			if err == nil {
				_ = c.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.sub) {
				t.Fatalf("error %q does not mention %q", err, tc.sub)
			}
		})
	}
}

// TestRaftCluster drives a 3-node quorum: election, replication to
// followers, forwarding errors, failover and rejoin.
func TestRaftCluster(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, nil)
	li := cl.leader()
	lc := cl.nodes[li]
	cid := lc.Snapshot().ClusterID
	if len(cid) != 22 {
		t.Fatalf("cluster id %q", cid)
	}
	cl.converged("cluster id on every node", func(s *Snapshot) bool { return s.ClusterID == cid })
	cl.converged("controller id on every node", func(s *Snapshot) bool { return s.ControllerID == int32(li+1) })
	cl.registerBrokers(li, 1, 2, 3)

	fi := (li + 1) % 3
	sub, cancel := cl.nodes[fi].Subscribe()
	defer cancel()

	tp := mustCreate(t, lc, CreateTopic{Name: "orders", NumPartitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000"}})
	cl.converged("topic on every node", func(s *Snapshot) bool {
		got := s.Topic("orders")
		return got != nil && got.ID == tp.ID && len(got.Partitions) == 6 && got.Configs["retention.ms"] == "1000"
	})
	select {
	case <-sub:
	case <-time.After(10 * time.Second):
		t.Fatal("follower subscriber not notified")
	}

	// Followers refuse mutations and name the leader.
	for _, op := range []struct {
		name string
		do   func(c *Controller) error
	}{
		{"create", func(c *Controller) error {
			_, err := c.CreateTopic(CreateTopic{Name: "x", NumPartitions: 1, ReplicationFactor: 1})
			return err
		}},
		{"delete", func(c *Controller) error { _, err := c.DeleteTopic("orders"); return err }},
		{"partitions", func(c *Controller) error { _, err := c.CreatePartitions("orders", 8, nil, false); return err }},
		{"configs", func(c *Controller) error {
			return c.AlterTopicConfigs("orders", []ConfigOp{{Name: "retention.ms", Value: ptr("5")}}, true, false)
		}},
		{"register", func(c *Controller) error { return c.RegisterBroker(Broker{NodeID: 9, Host: "h", Port: 1}) }},
		{"producer ids", func(c *Controller) error { _, err := c.AllocateProducerIDs(10); return err }},
		{"heartbeat", func(c *Controller) error { _, err := c.BrokerHeartbeat(1, false); return err }},
	} {
		err := op.do(cl.nodes[fi])
		wantErr(t, err, ErrNotController, fmt.Sprintf("node %d", li+1))
	}
	if id, addr, ok := cl.nodes[fi].Leader(); !ok || id != int32(li+1) || addr != fmt.Sprintf("node%d", li+1) {
		t.Fatalf("follower Leader() = %d %q %v", id, addr, ok)
	}
	if cl.nodes[fi].IsLeader() {
		t.Fatal("follower claims leadership")
	}

	// One writer: concurrent creates of one name, exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = lc.CreateTopic(CreateTopic{Name: "race", NumPartitions: 1, ReplicationFactor: 1})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrTopicExists):
			t.Fatalf("racing create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing creates succeeded", won)
	}
	if _, err := lc.DeleteTopic("race"); err != nil {
		t.Fatal(err)
	}
	cl.converged("delete on every node", func(s *Snapshot) bool { return s.Topic("race") == nil })

	// Fail over: cut the leader off; the others elect a new one that
	// has all committed state.
	start := time.Now()
	cl.isolate(li)
	ni := cl.leaderExcept(li)
	t.Logf("failover took %v", time.Since(start))
	nc := cl.nodes[ni]
	if got := nc.Snapshot().Topic("orders"); got == nil || got.ID != tp.ID {
		t.Fatal("new leader lost the topic")
	}
	mustCreate(t, nc, CreateTopic{Name: "after", NumPartitions: 2, ReplicationFactor: 2})
	waitFor(t, "old leader to step down", func() bool { return !lc.IsLeader() })
	_, err := lc.CreateTopic(CreateTopic{Name: "stale", NumPartitions: 1, ReplicationFactor: 1})
	wantErr(t, err, ErrNotController, "")

	// Heal: the old leader rejoins as a follower and catches up.
	cl.connectAll()
	cl.converged("rejoined node caught up", func(s *Snapshot) bool {
		return s.Topic("after") != nil && s.ControllerID == int32(ni+1) && s.ClusterID == cid
	})
	if cl.nodes[li].Snapshot().Topic("stale") != nil {
		t.Fatal("a write refused by a deposed leader appeared")
	}
	for _, c := range cl.nodes {
		checkTopicInvariants(t, c.Snapshot())
	}
}

// TestRaftRestart restarts nodes from their directories: from meta.db
// plus the log, from a Raft snapshot with meta.db gone, and the whole
// cluster at once.
func TestRaftRestart(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	li := cl.leader()
	cid := cl.nodes[li].Snapshot().ClusterID
	cl.registerBrokers(li, 1, 2, 3)
	for i := range 4 {
		mustCreate(t, cl.nodes[li], CreateTopic{Name: fmt.Sprintf("t%d", i), NumPartitions: 2, ReplicationFactor: 3})
	}
	pid1, err := cl.nodes[li].AllocateProducerIDs(1000)
	if err != nil {
		t.Fatal(err)
	}
	cl.converged("topics everywhere", func(s *Snapshot) bool { return len(s.Topics) == 4 && s.NextProducerID == pid1+1000 })
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	mustCreate(t, cl.nodes[li], CreateTopic{Name: "after-snapshot", NumPartitions: 1, ReplicationFactor: 3})
	cl.converged("post-snapshot topic everywhere", func(s *Snapshot) bool { return s.Topic("after-snapshot") != nil })

	// A follower restarts from meta.db: its state is there before it
	// hears from the leader, and it catches up with what it missed.
	fi := (li + 1) % 3
	cl.stop(fi)
	mustCreate(t, cl.nodes[li], CreateTopic{Name: "while-down", NumPartitions: 1, ReplicationFactor: 2})
	cl.start(fi)
	if s := cl.nodes[fi].Snapshot(); s.Topic("after-snapshot") == nil || s.ClusterID != cid {
		t.Fatalf("restarted node lost state: %v", s.TopicNames())
	}
	cl.converged("restarted follower caught up", func(s *Snapshot) bool { return s.Topic("while-down") != nil })

	// The other follower loses meta.db: Raft restores its snapshot and
	// replays the log after it.
	oi := (li + 2) % 3
	cl.stop(oi)
	if err := os.Remove(filepath.Join(cl.cfgs[oi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(oi)
	if s := cl.nodes[oi].Snapshot(); s.Topic("t0") == nil || s.ClusterID != cid {
		t.Fatalf("snapshot not restored: %v %q", s.TopicNames(), s.ClusterID)
	}
	cl.converged("node without meta.db caught up", func(s *Snapshot) bool { return s.Topic("while-down") != nil })

	// Whole cluster down and up.
	want := cl.nodes[li].Snapshot()
	for i := range cl.nodes {
		cl.stop(i)
	}
	for i := range cl.nodes {
		cl.start(i)
	}
	for i, c := range cl.nodes {
		s := c.Snapshot()
		if s.ClusterID != cid || !slices.Equal(s.TopicNames(), want.TopicNames()) || s.NextProducerID != want.NextProducerID {
			t.Fatalf("node %d after full restart: %q %v %d", i+1, s.ClusterID, s.TopicNames(), s.NextProducerID)
		}
	}
	li = cl.leader()
	pid2, err := cl.nodes[li].AllocateProducerIDs(1000)
	if err != nil {
		t.Fatal(err)
	}
	if pid2 < pid1+1000 {
		t.Fatalf("producer ids reused: %d after [%d, %d)", pid2, pid1, pid1+1000)
	}
	mustCreate(t, cl.nodes[li], CreateTopic{Name: "after-restart", NumPartitions: 1, ReplicationFactor: 3})
	cl.converged("cluster works after restart", func(s *Snapshot) bool { return s.Topic("after-restart") != nil && s.ClusterID == cid })
	for _, c := range cl.nodes {
		snapshotsEqual(t, withVersion(c.Snapshot(), 0), withVersion(cl.nodes[li].Snapshot(), 0))
	}
}

func withVersion(s *Snapshot, v int64) *Snapshot {
	c := *s
	c.Version = v
	return &c
}

// TestRaftInstallSnapshot: a node down while the leader compacts its log
// gets the state as a snapshot.
func TestRaftInstallSnapshot(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 1 })
	li := cl.leader()
	cl.registerBrokers(li, 1, 2, 3)
	fi := (li + 1) % 3
	cl.stop(fi)
	for i := range 5 {
		mustCreate(t, cl.nodes[li], CreateTopic{Name: fmt.Sprintf("t%d", i), NumPartitions: 1, ReplicationFactor: 2})
	}
	snapshotNow(t, cl.nodes[li])
	cl.start(fi)
	cl.converged("snapshot installed", func(s *Snapshot) bool { return len(s.Topics) == 5 && len(s.Brokers) == 3 })
	// Raft records the installed snapshot just after restoring it.
	waitFor(t, "follower to record the installed snapshot", func() bool {
		return cl.nodes[fi].raft.Stats()["last_snapshot_index"] != "0"
	})
	cl.stop(fi)
	cl.start(fi)
	if got := len(cl.nodes[fi].Snapshot().Topics); got != 5 {
		t.Fatalf("installed snapshot not persisted: %d topics", got)
	}
}

// TestProducerIDsAcrossFailover: blocks never overlap across leaders.
func TestProducerIDsAcrossFailover(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, nil)
	type block struct{ first, n int64 }
	var blocks []block
	alloc := func(c *Controller, n int) {
		t.Helper()
		first, err := c.AllocateProducerIDs(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, block{first, int64(n)})
	}
	li := cl.leader()
	alloc(cl.nodes[li], 1000)
	alloc(cl.nodes[li], 10)
	cl.isolate(li)
	ni := cl.leaderExcept(li)
	alloc(cl.nodes[ni], 1000)
	cl.connectAll()
	cl.stop(ni)
	alloc(cl.nodes[cl.leaderExcept(ni)], 5)
	_, err := cl.nodes[cl.leaderExcept(ni)].AllocateProducerIDs(0)
	wantErr(t, err, ErrInvalidRequest, "")
	slices.SortFunc(blocks, func(a, b block) int { return int(a.first - b.first) })
	for i := 1; i < len(blocks); i++ {
		if blocks[i].first < blocks[i-1].first+blocks[i-1].n {
			t.Fatalf("overlapping producer id blocks %v", blocks)
		}
	}
}

// freeAddrs reserves n loopback TCP addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		_ = l.Close()
	}
	return addrs
}

// TestRaftTCP runs the production transport with the default (LAN)
// timeouts and logs election and commit times.
func TestRaftTCP(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real timeouts")
	}
	addrs := freeAddrs(t, 3)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	cl := &cluster{t: t, nodes: make([]*Controller, 3)}
	start := time.Now()
	for i := range 3 {
		c, err := Open(Config{NodeID: int32(i + 1), MetadataDir: t.TempDir(), Voters: voters})
		if err != nil {
			t.Fatal(err)
		}
		cl.nodes[i] = c
		t.Cleanup(func() { _ = c.Close() })
	}
	li := cl.leader()
	t.Logf("first election: %v", time.Since(start))
	cl.registerBrokers(li, 1, 2, 3)
	const n = 50
	start = time.Now()
	for i := range n {
		mustCreate(t, cl.nodes[li], CreateTopic{Name: fmt.Sprintf("t%d", i), NumPartitions: 3, ReplicationFactor: 3})
	}
	t.Logf("create topic (commit on 3 nodes + apply): %v each", time.Since(start)/n)
	start = time.Now()
	if err := cl.nodes[li].Close(); err != nil {
		t.Fatal(err)
	}
	cl.nodes[li] = nil
	ni := cl.leaderExcept(li)
	t.Logf("failover after leader shutdown: %v", time.Since(start))
	if len(cl.nodes[ni].Snapshot().Topics) != n {
		t.Fatal("new leader lost topics")
	}
}
