package controller

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

// newLive starts a one-voter Raft controller (node 1, so the leader loop
// runs) with brokers 1, 2 and 3 registered.
func newLive(t *testing.T) (*cluster, *Controller) {
	t.Helper()
	cl := newCluster(t, 1, nil)
	cl.leader()
	cl.registerBrokers(0, 1, 2, 3)
	return cl, cl.nodes[0]
}

func part(t *testing.T, c *Controller, topic string, p int32) Partition {
	t.Helper()
	tp := c.Snapshot().Topic(topic)
	if tp == nil || tp.Partition(p) == nil {
		t.Fatalf("no partition %s-%d", topic, p)
	}
	return *tp.Partition(p)
}

func wantPart(t *testing.T, got Partition, leader int32, isr []int32, leaderEpoch, partEpoch int32) {
	t.Helper()
	if got.Leader != leader || !slices.Equal(got.ISR, isr) || got.LeaderEpoch != leaderEpoch || got.PartitionEpoch != partEpoch {
		t.Fatalf("partition %d = leader %d isr %v epochs %d/%d, want leader %d isr %v epochs %d/%d",
			got.Index, got.Leader, got.ISR, got.LeaderEpoch, got.PartitionEpoch, leader, isr, leaderEpoch, partEpoch)
	}
}

func heartbeat(t *testing.T, c *Controller, id int32, wantFence bool) bool {
	t.Helper()
	fenced, err := c.BrokerHeartbeat(id, wantFence)
	if err != nil {
		t.Fatalf("BrokerHeartbeat(%d, %v): %v", id, wantFence, err)
	}
	return fenced
}

func fenced(c *Controller, id int32) bool {
	b, ok := c.Snapshot().Broker(id)
	return ok && b.Fenced
}

// TestSessionExpiry: a broker that stops heartbeating is fenced by the
// leader's loop, loses its leaderships and ISR memberships; when it comes
// back it leads again the partition it was the last ISR member of, and
// preferred election hands it back its preferred leaderships.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	cl, c := newLive(t)
	mustCreate(t, c, CreateTopic{Name: "t", Assignments: map[int32][]int32{0: {3, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 1}}})
	mustCreate(t, c, CreateTopic{Name: "solo", Assignments: map[int32][]int32{0: {3}}})

	cl.clock.Advance(5 * time.Second)
	heartbeat(t, c, 1, false)
	heartbeat(t, c, 2, false)
	cl.clock.Advance(5 * time.Second) // 3 silent for 10s > 9s
	waitFor(t, "broker 3 fenced", func() bool { return fenced(c, 3) })
	if fenced(c, 1) || fenced(c, 2) {
		t.Fatal("live brokers fenced")
	}
	wantPart(t, part(t, c, "t", 0), 1, []int32{1, 2}, 1, 1)
	wantPart(t, part(t, c, "t", 1), 1, []int32{1, 2}, 0, 1)
	wantPart(t, part(t, c, "t", 2), 2, []int32{2, 1}, 0, 1)
	wantPart(t, part(t, c, "solo", 0), -1, []int32{3}, 1, 1) // offline, ISR keeps its last member

	// New replicas avoid the fenced broker.
	_, err := c.CreateTopic(CreateTopic{Name: "big", NumPartitions: 1, ReplicationFactor: 3})
	wantErr(t, err, ErrInvalidReplicationFactor, "")
	for _, p := range mustCreate(t, c, CreateTopic{Name: "two", NumPartitions: 4, ReplicationFactor: 2}).Partitions {
		if slices.Contains(p.Replicas, 3) {
			t.Fatalf("new partition on fenced broker: %+v", p)
		}
	}

	// Broker 3 returns.
	if heartbeat(t, c, 3, false) {
		t.Fatal("heartbeat left broker 3 fenced")
	}
	wantPart(t, part(t, c, "solo", 0), 3, []int32{3}, 2, 2)
	wantPart(t, part(t, c, "t", 0), 1, []int32{1, 2}, 1, 1) // back in the ISR only via AlterPartition

	// Preferred election needs it in the ISR.
	res, err := c.ElectLeaders(true, map[string][]int32{"t": {0}})
	if err != nil || !errors.Is(res[TopicPartition{"t", 0}], ErrPreferredLeaderNotAvailable) {
		t.Fatalf("ElectLeaders = %v, %v", res, err)
	}
	if _, err := c.AlterPartition(c.Snapshot().Topic("t").ID, 0, 1, 1, 1, []int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	res, err = c.ElectLeaders(true, map[string][]int32{"t": {0, 1, 7}, "nope": {0}})
	if err != nil {
		t.Fatal(err)
	}
	for tp, want := range map[TopicPartition]error{
		{"t", 0}: nil, {"t", 1}: ErrElectionNotNeeded, {"t", 7}: ErrUnknownTopic, {"nope", 0}: ErrUnknownTopic,
	} {
		if got, ok := res[tp]; !ok || !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("ElectLeaders %v = %v, want %v", tp, got, want)
		}
	}
	wantPart(t, part(t, c, "t", 0), 3, []int32{1, 2, 3}, 2, 3)

	// nil = all partitions; only changes are reported.
	if _, err := c.AlterPartition(c.Snapshot().Topic("t").ID, 2, 2, 0, 1, []int32{2, 1, 3}); err != nil {
		t.Fatal(err)
	}
	res, err = c.ElectLeaders(true, nil)
	if err != nil || len(res) != 0 {
		t.Fatalf("ElectLeaders(all) = %v, %v (partition 2's preferred leader already leads)", res, err)
	}
}

func TestHeartbeatErrors(t *testing.T) {
	t.Parallel()
	_, c := newLive(t)
	_, err := c.BrokerHeartbeat(9, false)
	wantErr(t, err, ErrBrokerNotRegistered, "broker 9")
	_, err = c.BrokerHeartbeat(9, true)
	wantErr(t, err, ErrBrokerNotRegistered, "")
}

// TestControlledShutdown: a broker asking to be fenced hands off every
// leadership it can and leaves every ISR it is not the last member of.
func TestControlledShutdown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"raft", "single node"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var c *Controller
			if mode == "raft" {
				_, c = newLive(t)
			} else {
				c = openTest(t, "", 1, 2, 3)
			}
			mustCreate(t, c, CreateTopic{Name: "t", NumPartitions: 6, ReplicationFactor: 3})
			mustCreate(t, c, CreateTopic{Name: "solo", Assignments: map[int32][]int32{0: {2}}})
			before := c.Snapshot().Topic("t")
			if !heartbeat(t, c, 2, true) {
				t.Fatal("controlled shutdown did not fence")
			}
			if !fenced(c, 2) {
				t.Fatal("broker 2 not fenced in the snapshot")
			}
			for i, p := range c.Snapshot().Topic("t").Partitions {
				old := before.Partitions[i]
				if p.Leader == 2 || slices.Contains(p.ISR, 2) || p.Leader == -1 {
					t.Fatalf("partition %d after shutdown: %+v", i, p)
				}
				if (old.Leader == 2) != (p.LeaderEpoch == old.LeaderEpoch+1) || p.PartitionEpoch != old.PartitionEpoch+1 {
					t.Fatalf("partition %d epochs %+v -> %+v", i, old, p)
				}
			}
			wantPart(t, part(t, c, "solo", 0), -1, []int32{2}, 1, 1)
			v := c.Snapshot().Version
			if !heartbeat(t, c, 2, true) || c.Snapshot().Version != v {
				t.Fatal("repeated shutdown heartbeat changed state")
			}
			if heartbeat(t, c, 2, false) || fenced(c, 2) {
				t.Fatal("broker 2 not unfenced")
			}
			wantPart(t, part(t, c, "solo", 0), 2, []int32{2}, 2, 2)
		})
	}
}

// TestUncleanElection: the ISR's only member dies; the partition goes
// offline unless the topic allows unclean election.
func TestUncleanElection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		unclean bool
		leader  int32
		isr     []int32
	}{
		{"clean", false, -1, []int32{3}},
		{"unclean", true, 1, []int32{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := newLive(t)
			cfgs := map[string]string{}
			if tc.unclean {
				cfgs["unclean.leader.election.enable"] = "true"
			}
			tp := mustCreate(t, c, CreateTopic{Name: "t", Assignments: map[int32][]int32{0: {3, 1}}, Configs: cfgs})
			if _, err := c.AlterPartition(tp.ID, 0, 3, 0, 0, []int32{3}); err != nil {
				t.Fatal(err)
			}
			heartbeat(t, c, 3, true)
			wantPart(t, part(t, c, "t", 0), tc.leader, tc.isr, 1, 2)
			res, err := c.ElectLeaders(false, map[string][]int32{"t": {0}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.unclean {
				if !errors.Is(res[TopicPartition{"t", 0}], ErrElectionNotNeeded) {
					t.Fatalf("unclean ElectLeaders on a led partition: %v", res)
				}
				return
			}
			// An explicit unclean election picks a live replica.
			if err := res[TopicPartition{"t", 0}]; err != nil {
				t.Fatal(err)
			}
			wantPart(t, part(t, c, "t", 0), 1, []int32{1}, 2, 3)
		})
	}
}

// TestAlterPartition checks Kafka's AlterPartition validation, in order.
func TestAlterPartition(t *testing.T) {
	t.Parallel()
	_, c := newLive(t)
	id := mustCreate(t, c, CreateTopic{Name: "t", Assignments: map[int32][]int32{0: {1, 2, 3}}}).ID
	heartbeat(t, c, 3, true) // fenced: ISR [1 2], partition epoch 1
	for _, tc := range []struct {
		name                      string
		topic                     [16]byte
		partition, leader, le, pe int32
		isr                       []int32
		want                      error
		wantISR                   []int32
		wantPE                    int32
	}{
		{name: "unknown topic", topic: [16]byte{1}, leader: 1, pe: 1, isr: []int32{1}, want: ErrUnknownTopic},
		{name: "unknown partition", partition: 9, leader: 1, pe: 1, isr: []int32{1}, want: ErrUnknownTopic},
		{name: "stale leader epoch", leader: 1, le: -1, pe: 1, isr: []int32{1}, want: ErrFencedLeaderEpoch},
		{name: "future leader epoch", leader: 1, le: 3, pe: 1, isr: []int32{1}, want: ErrFencedLeaderEpoch},
		{name: "not the leader", leader: 2, pe: 1, isr: []int32{2}, want: ErrNotLeader},
		{name: "stale partition epoch", leader: 1, pe: 0, isr: []int32{1}, want: ErrInvalidUpdateVersion},
		{name: "empty", leader: 1, pe: 1, want: ErrInvalidRequest},
		{name: "not a replica", leader: 1, pe: 1, isr: []int32{1, 4}, want: ErrInvalidRequest},
		{name: "duplicate", leader: 1, pe: 1, isr: []int32{1, 1}, want: ErrInvalidRequest},
		{name: "without leader", leader: 1, pe: 1, isr: []int32{2}, want: ErrInvalidRequest},
		{name: "fenced joins", leader: 1, pe: 1, isr: []int32{1, 2, 3}, want: ErrIneligibleReplica},
		{name: "no change", leader: 1, pe: 1, isr: []int32{1, 2}, wantISR: []int32{1, 2}, wantPE: 1},
		{name: "shrink", leader: 1, pe: 1, isr: []int32{1}, wantISR: []int32{1}, wantPE: 2},
		{name: "expand", leader: 1, pe: 2, isr: []int32{1, 2}, wantISR: []int32{1, 2}, wantPE: 3},
	} {
		topic := id
		if tc.topic != ([16]byte{}) {
			topic = tc.topic
		}
		before := c.Snapshot().Version
		got, err := c.AlterPartition(topic, tc.partition, tc.leader, tc.le, tc.pe, tc.isr)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if err != nil {
			if c.Snapshot().Version != before {
				t.Fatalf("%s: failed alter changed state", tc.name)
			}
			continue
		}
		wantPart(t, got, 1, tc.wantISR, 0, tc.wantPE)
		wantPart(t, part(t, c, "t", 0), 1, tc.wantISR, 0, tc.wantPE)
	}
}

// TestAlterPartitions: a batch is checked change by change (a second
// change of a partition sees the first), refused changes leave the rest
// alone, and the accepted ones are one commit.
func TestAlterPartitions(t *testing.T) {
	t.Parallel()
	_, c := newLive(t)
	id := mustCreate(t, c, CreateTopic{Name: "t", Assignments: map[int32][]int32{0: {1, 2, 3}, 1: {1, 2, 3}, 2: {2, 1, 3}}}).ID
	heartbeat(t, c, 3, true) // fenced: every ISR loses 3, partition epoch 1
	before := c.Snapshot().Version
	res, err := c.AlterPartitions(1, []ISRChange{
		{TopicID: id, Partition: 0, PartitionEpoch: 1, ISR: []int32{1}},    // shrink
		{TopicID: id, Partition: 0, PartitionEpoch: 2, ISR: []int32{1, 2}}, // sees the shrink
		{TopicID: id, Partition: 1, PartitionEpoch: 0, ISR: []int32{1}},    // stale partition epoch
		{TopicID: id, Partition: 2, PartitionEpoch: 1, ISR: []int32{1, 2}}, // 1 does not lead it
		{TopicID: id, Partition: 1, PartitionEpoch: 1, ISR: []int32{1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, nil, ErrInvalidUpdateVersion, ErrNotLeader, nil} {
		if !errors.Is(res[i].Err, want) || (want == nil && res[i].Err != nil) {
			t.Errorf("change %d: %v, want %v", i, res[i].Err, want)
		}
	}
	wantPart(t, res[1].Partition, 1, []int32{1, 2}, 0, 3)
	wantPart(t, part(t, c, "t", 0), 1, []int32{1, 2}, 0, 3)
	wantPart(t, res[4].Partition, 1, []int32{1}, 0, 2)
	wantPart(t, part(t, c, "t", 1), 1, []int32{1}, 0, 2)
	wantPart(t, part(t, c, "t", 2), 2, []int32{2, 1}, 0, 1)
	if v := c.Snapshot().Version; v != before+1 {
		t.Fatalf("snapshot version %d -> %d: want one commit for the batch", before, v)
	}
}

func TestRackAwareAssignment(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1)
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for id, r := range racks {
		if err := c.RegisterBroker(Broker{NodeID: id, Host: "h", Port: 1, Rack: ptr(r)}); err != nil {
			t.Fatal(err)
		}
	}
	tp := mustCreate(t, c, CreateTopic{Name: "r", NumPartitions: 12, ReplicationFactor: 3})
	leaders := map[int32]int{}
	for _, p := range tp.Partitions {
		seen := map[string]bool{}
		for _, r := range p.Replicas {
			seen[racks[r]] = true
		}
		if len(seen) != 3 {
			t.Fatalf("partition %d replicas %v span racks %v", p.Index, p.Replicas, slices.Sorted(maps.Keys(seen)))
		}
		leaders[p.Leader]++
	}
	for id := range racks {
		if leaders[id] != 2 {
			t.Fatalf("leaders not spread: %v", leaders)
		}
	}
}
