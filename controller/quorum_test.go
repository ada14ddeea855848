package controller

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	"slices"
	"strings"
	"testing"
	"time"
)

// quorumIDs are the voter and observer ids of q, sorted.
func quorumIDs(q Quorum) (voters, observers []int32) {
	for _, r := range q.Voters {
		voters = append(voters, r.ID)
	}
	for _, r := range q.Observers {
		observers = append(observers, r.ID)
	}
	slices.Sort(voters)
	slices.Sort(observers)
	return voters, observers
}

// waitQuorum waits until the leader describes the given voters and
// observers, each holding the log up to the high watermark.
func (cl *cluster) waitQuorum(wantVoters, wantObservers []int32) Quorum {
	cl.t.Helper()
	var q Quorum
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for {
		i := cl.leader()
		var err error
		q, err = cl.nodes[i].DescribeQuorum()
		if err == nil {
			v, o := quorumIDs(q)
			caughtUp := true
			for _, r := range slices.Concat(q.Voters, q.Observers) {
				if r.LogEndOffset < q.HighWatermark {
					caughtUp = false
				}
			}
			if slices.Equal(v, wantVoters) && slices.Equal(o, wantObservers) && caughtUp {
				return q
			}
			last = fmt.Sprintf("voters %v observers %v %+v", v, o, q)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			cl.t.Fatalf("quorum never became voters %v observers %v: %s", wantVoters, wantObservers, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// steadyRaft lengthens fastRaft's timeouts: membership tests change the
// quorum under a leader, which 50 ms leases lose when the machine is busy.
func steadyRaft(cfg *Config) {
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
}

func TestQuorumMembership(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 5, func(cfg *Config) {
		all := cfg.Voters
		cfg.Voters, cfg.Observers = all[:3], all[3:]
		steadyRaft(cfg)
		if os.Getenv("QDEBUG") != "" {
			cfg.Logger = zerolog.New(os.Stderr).Level(zerolog.InfoLevel)
		}
	})
	l := cl.leader()
	if l > 2 {
		t.Fatalf("observer node %d leads", l+1)
	}
	cl.registerBrokers(l, 1, 2, 3, 4, 5)
	q := cl.waitQuorum([]int32{1, 2, 3}, []int32{4, 5})
	if q.LeaderID != int32(l+1) || q.Epoch == 0 || q.HighWatermark <= 0 {
		t.Fatalf("quorum %+v, leader node %d", q, l+1)
	}
	for _, r := range slices.Concat(q.Voters, q.Observers) {
		if r.Addr != fmt.Sprintf("node%d", r.ID) || r.LastFetch.IsZero() || r.LastCaughtUp.IsZero() {
			t.Fatalf("replica %+v", r)
		}
	}
	// Observers replicate the metadata.
	mustCreate(t, cl.nodes[l], CreateTopic{Name: "before"})
	cl.converged("topic before everywhere", func(s *Snapshot) bool { return s.Topic("before") != nil })

	other := (l + 1) % 3
	_, err := cl.nodes[other].DescribeQuorum()
	wantErr(t, err, ErrNotController, "")
	wantErr(t, cl.nodes[other].AddVoter(t.Context(), 4, "node4"), ErrNotController, "")
	wantErr(t, cl.nodes[3].RemoveVoter(t.Context(), 1), ErrNotController, "")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wantErr(t, cl.nodes[l].AddVoter(ctx, 4, "node4"), nil, "")
	wantErr(t, cl.nodes[l].AddVoter(ctx, 4, "node4"), ErrDuplicateVoter, "already a voter")
	wantErr(t, cl.nodes[l].AddVoter(ctx, 1, "node1"), ErrDuplicateVoter, "")
	wantErr(t, cl.nodes[l].AddVoter(ctx, -1, "x"), ErrInvalidRequest, "")
	mustCreate(t, cl.nodes[l], CreateTopic{Name: "between"})
	wantErr(t, cl.nodes[l].AddVoter(ctx, 5, "node5"), nil, "")
	cl.waitQuorum([]int32{1, 2, 3, 4, 5}, nil)

	// A node nobody can reach does not become a voter, and is not left
	// in the configuration.
	short, cancelShort := context.WithTimeout(t.Context(), 200*time.Millisecond)
	wantErr(t, cl.nodes[l].AddVoter(short, 6, "node6"), ErrQuorumTimeout, "not yet")
	cancelShort()
	cl.waitQuorum([]int32{1, 2, 3, 4, 5}, nil)

	wantErr(t, cl.nodes[l].RemoveVoter(ctx, 9), ErrVoterNotFound, "")
	// The leader removes itself: it stays as an observer and a new
	// leader takes over among the other voters.
	wantErr(t, cl.nodes[l].RemoveVoter(ctx, int32(l+1)), nil, "")
	cl.leaderExcept(l)
	lead := func() *Controller { return cl.nodes[cl.leader()] }
	mustCreate(t, lead(), CreateTopic{Name: "after-leader-removal"})
	// Remove the two that started as observers (either may lead now);
	// node l+1 joins again.
	wantErr(t, lead().RemoveVoter(ctx, 4), nil, "")
	wantErr(t, lead().RemoveVoter(ctx, 4), ErrVoterNotFound, "")
	wantErr(t, lead().RemoveVoter(ctx, 5), nil, "")
	wantErr(t, lead().AddVoter(ctx, int32(l+1), fmt.Sprintf("node%d", l+1)), nil, "")
	cl.waitQuorum([]int32{1, 2, 3}, []int32{4, 5})
	mustCreate(t, lead(), CreateTopic{Name: "after"})
	cl.converged("every topic everywhere", func(s *Snapshot) bool {
		for _, n := range []string{"before", "between", "after-leader-removal", "after"} {
			if s.Topic(n) == nil {
				return false
			}
		}
		return true
	})
}

// A voter that is not a live broker leaves the configuration; the last
// voter cannot be removed.
func TestQuorumRemoveDeadVoter(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, steadyRaft)
	l := cl.leader()
	cl.registerBrokers(l, int32(l+1))
	victim := (l + 1) % 3
	cl.stop(victim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wantErr(t, cl.nodes[l].RemoveVoter(ctx, int32(victim+1)), nil, "")
	var rest []int32
	for i := range 3 {
		if i != victim {
			rest = append(rest, int32(i+1))
		}
	}
	cl.waitQuorum(rest, nil)
	third := 3 - l - victim
	wantErr(t, cl.nodes[l].RemoveVoter(ctx, int32(third+1)), nil, "") // not registered: removed
	cl.waitQuorum([]int32{int32(l + 1)}, nil)
	wantErr(t, cl.nodes[l].RemoveVoter(ctx, int32(l+1)), ErrInvalidRequest, "last voter")
	mustCreate(t, cl.nodes[l], CreateTopic{Name: "alone"})
}

func TestQuorumSingleNode(t *testing.T) {
	t.Parallel()
	c := openTest(t, "")
	q, err := c.DescribeQuorum()
	wantErr(t, err, nil, "")
	if q.LeaderID != 0 || len(q.Voters) != 1 || q.Voters[0].ID != 0 || len(q.Observers) != 0 {
		t.Fatalf("quorum %+v", q)
	}
	wantErr(t, c.AddVoter(t.Context(), 1, "a:1"), ErrNoQuorum, "")
	wantErr(t, c.RemoveVoter(t.Context(), 0), ErrNoQuorum, "")
}

func TestQuorumObserverConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		sub  string
	}{
		{"voter and observer", Config{NodeID: 1, Voters: []Voter{{1, "a:1"}}, Observers: []Voter{{1, "b:1"}}}, "duplicate id 1"},
		{"observer without address", Config{NodeID: 2, Voters: []Voter{{1, "a:1"}}, Observers: []Voter{{2, ""}}}, "no address"},
		{"in neither", Config{NodeID: 3, Voters: []Voter{{1, "a:1"}}, Observers: []Voter{{2, "b:1"}}}, "not in controller.quorum.voters or controller.quorum.observers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.MetadataDir = t.TempDir()
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.sub) {
				t.Fatalf("Validate = %v, want %q", err, tc.sub)
			}
		})
	}
	cfg := Config{NodeID: 2, MetadataDir: t.TempDir(), Voters: []Voter{{1, "a:1"}}, Observers: []Voter{{2, "b:1"}}}
	if err := cfg.Validate(); err != nil || cfg.RaftBind != "b:1" || !cfg.isObserver() {
		t.Fatalf("Validate = %v, bind %q", err, cfg.RaftBind)
	}
}

// A node no voter lists starts as an observer of itself, without Raft
// state, and joins when the leader adds it.
func TestQuorumJoinLater(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, steadyRaft)
	l := cl.leader()
	cl.registerBrokers(l, 1)
	mustCreate(t, cl.nodes[l], CreateTopic{Name: "early"})
	addr, tr := raft.NewInmemTransport("node4")
	for _, o := range cl.trans {
		o.Connect(addr, tr)
		tr.Connect(o.LocalAddr(), o)
	}
	cfg := cl.cfgs[0]
	cfg.NodeID, cfg.MetadataDir, cfg.Transport = 4, t.TempDir(), tr
	cfg.Observers = []Voter{{ID: 4, Addr: string(addr)}}
	n4, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n4.Close() })
	if id, _, ok := n4.Leader(); ok || n4.Snapshot().Topic("early") != nil {
		t.Fatalf("a node outside the quorum knows leader %d or the topics", id)
	}
	cl.waitQuorum([]int32{1, 2, 3}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wantErr(t, cl.nodes[cl.leader()].AddVoter(ctx, 4, string(addr)), nil, "")
	cl.waitQuorum([]int32{1, 2, 3, 4}, nil)
	waitFor(t, "node 4 has the topic", func() bool { return n4.Snapshot().Topic("early") != nil })
	mustCreate(t, cl.nodes[cl.leader()], CreateTopic{Name: "late"})
	waitFor(t, "node 4 has the new topic", func() bool { return n4.Snapshot().Topic("late") != nil })
}
