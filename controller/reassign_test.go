package controller

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// reassignTopic creates topic name with one partition on replicas.
func reassignTopic(t *testing.T, c *Controller, name string, replicas ...int32) *Topic {
	t.Helper()
	return mustCreate(t, c, CreateTopic{Name: name, Assignments: map[int32][]int32{0: replicas}})
}

func reassign(t *testing.T, c *Controller, topic string, replicas []int32) {
	t.Helper()
	res, err := c.AlterPartitionReassignments([]Reassignment{{Topic: topic, Partition: 0, Replicas: replicas}}, true)
	if err != nil || res[0] != nil {
		t.Fatalf("AlterPartitionReassignments(%s -> %v): %v / %v", topic, replicas, err, res)
	}
}

func part0(c *Controller, topic string) Partition {
	return c.Snapshot().Topic(topic).Partitions[0]
}

func wantPartition(t *testing.T, got Partition, replicas, isr, adding, removing []int32, leader int32) {
	t.Helper()
	if !slices.Equal(got.Replicas, replicas) || !slices.Equal(got.ISR, isr) || !slices.Equal(got.AddingReplicas, adding) ||
		!slices.Equal(got.RemovingReplicas, removing) || got.Leader != leader {
		t.Fatalf("partition = replicas %v isr %v adding %v removing %v leader %d; want %v %v %v %v %d",
			got.Replicas, got.ISR, got.AddingReplicas, got.RemovingReplicas, got.Leader, replicas, isr, adding, removing, leader)
	}
}

// TestReassignMove: {1,2} -> {2,3}. The full set is the replicas while
// broker 3 catches up; its joining the ISR completes the move, drops
// broker 1 and moves leadership to broker 2 with a new leader epoch.
func TestReassignMove(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	reassignTopic(t, c, "m", 1, 2)
	before := part0(c, "m")
	reassign(t, c, "m", []int32{2, 3})
	p := part0(c, "m")
	wantPartition(t, p, []int32{2, 3, 1}, []int32{1, 2}, []int32{3}, []int32{1}, 1)
	if p.LeaderEpoch != before.LeaderEpoch || p.PartitionEpoch != before.PartitionEpoch+1 {
		t.Fatalf("epochs %d/%d after start, want %d/%d", p.LeaderEpoch, p.PartitionEpoch, before.LeaderEpoch, before.PartitionEpoch+1)
	}
	got := c.Snapshot().Reassignments(nil)
	if len(got) != 1 || got[0].Topic != "m" || !slices.Equal(got[0].AddingReplicas, []int32{3}) || !slices.Equal(got[0].RemovingReplicas, []int32{1}) ||
		!slices.Equal(got[0].Replicas, []int32{2, 3, 1}) {
		t.Fatalf("Reassignments = %+v", got)
	}
	if got := c.Snapshot().Reassignments(map[string][]int32{"m": {0, 0, 7}, "nope": {0}}); len(got) != 1 {
		t.Fatalf("filtered Reassignments = %+v", got)
	}
	// Starting the same reassignment again changes nothing.
	reassign(t, c, "m", []int32{2, 3})
	if q := part0(c, "m"); q.PartitionEpoch != p.PartitionEpoch {
		t.Fatalf("repeated reassignment bumped the partition epoch to %d", q.PartitionEpoch)
	}
	if rf := c.Snapshot().Topic("m").ReplicationFactor(); rf != 2 {
		t.Fatalf("replication factor %d during the move, want the target's 2", rf)
	}
	// The leader adds broker 3 to the ISR: that completes the move.
	done, err := c.AlterPartition(c.Snapshot().Topic("m").ID, 0, 1, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	wantPartition(t, done, []int32{2, 3}, []int32{2, 3}, nil, nil, 2)
	if done.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("leader epoch %d after completion, want %d", done.LeaderEpoch, p.LeaderEpoch+1)
	}
	if got := c.Snapshot().Reassignments(nil); len(got) != 0 {
		t.Fatalf("Reassignments after completion = %+v", got)
	}
}

// TestReassignImmediate: reassignments the ISR already satisfies (only
// removing, or reordering) complete in the same change.
func TestReassignImmediate(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	reassignTopic(t, c, "shrink", 1, 2, 3)
	e := part0(c, "shrink").LeaderEpoch
	reassign(t, c, "shrink", []int32{2, 3})
	p := part0(c, "shrink")
	wantPartition(t, p, []int32{2, 3}, []int32{2, 3}, nil, nil, 2)
	if p.LeaderEpoch != e+1 {
		t.Fatalf("leader epoch %d, want %d", p.LeaderEpoch, e+1)
	}
	reassignTopic(t, c, "order", 1, 2)
	e = part0(c, "order").LeaderEpoch
	reassign(t, c, "order", []int32{2, 1})
	p = part0(c, "order")
	wantPartition(t, p, []int32{2, 1}, []int32{1, 2}, nil, nil, 1)
	if p.LeaderEpoch != e {
		t.Fatalf("reordering bumped the leader epoch to %d", p.LeaderEpoch)
	}
}

// TestReassignCancel: a null replica list reverts to the original
// replicas, dropping the added ones from the replicas and the ISR.
func TestReassignCancel(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3, 4)
	reassignTopic(t, c, "c", 1, 2)
	reassign(t, c, "c", []int32{3, 4})
	p := part0(c, "c")
	wantPartition(t, p, []int32{3, 4, 1, 2}, []int32{1, 2}, []int32{3, 4}, []int32{1, 2}, 1)
	// Broker 3 caught up (joins the ISR), 4 has not: still in progress.
	p, err := c.AlterPartition(c.Snapshot().Topic("c").ID, 0, 1, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	wantPartition(t, p, []int32{3, 4, 1, 2}, []int32{1, 2, 3}, []int32{3, 4}, []int32{1, 2}, 1)
	res, err := c.AlterPartitionReassignments([]Reassignment{{Topic: "c", Partition: 0}}, true)
	if err != nil || res[0] != nil {
		t.Fatalf("cancel: %v / %v", err, res)
	}
	got := part0(c, "c")
	wantPartition(t, got, []int32{1, 2}, []int32{1, 2}, nil, nil, 1)
	if got.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("leader epoch %d after cancel, want %d (replicas were removed)", got.LeaderEpoch, p.LeaderEpoch+1)
	}
	res, err = c.AlterPartitionReassignments([]Reassignment{{Topic: "c", Partition: 0}}, true)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, res[0], ErrNoReassignmentInProgress, "c-0")
}

func TestReassignErrors(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	reassignTopic(t, c, "e", 1, 2)
	reqs := []Reassignment{
		{Topic: "nope", Partition: 0, Replicas: []int32{1}},
		{Topic: "e", Partition: 5, Replicas: []int32{1}},
		{Topic: "e", Partition: -1, Replicas: []int32{1}},
		{Topic: "e", Partition: 0, Replicas: []int32{}},
		{Topic: "e", Partition: 0, Replicas: []int32{2, 2}},
		{Topic: "e", Partition: 0, Replicas: []int32{2, 9}},
		{Topic: "e", Partition: 0, Replicas: []int32{-1}},
		{Topic: "e", Partition: 0},
		{Topic: "e", Partition: 0, Replicas: []int32{2, 3}}, // the one valid entry
	}
	want := []struct {
		err error
		sub string
	}{
		{ErrUnknownTopic, "nope-0"},
		{ErrUnknownTopic, "e-5"},
		{ErrUnknownTopic, "e--1"},
		{ErrInvalidReplicaAssignment, "empty replica list"},
		{ErrInvalidReplicaAssignment, "more than once"},
		{ErrInvalidReplicaAssignment, "broker 9, but no such broker is registered"},
		{ErrInvalidReplicaAssignment, "broker -1"},
		{ErrNoReassignmentInProgress, "not being reassigned"},
		{nil, ""},
	}
	res, err := c.AlterPartitionReassignments(reqs, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		wantErr(t, res[i], w.err, w.sub)
	}
	if p := part0(c, "e"); !p.Reassigning() {
		t.Fatalf("valid entry of a mixed batch not applied: %+v", p)
	}
	res, err = c.AlterPartitionReassignments([]Reassignment{{Topic: "e", Partition: 0, Replicas: []int32{1, 2, 3}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, res[0], ErrInvalidReplicationFactor, "from 2 to 3")
}

// TestReassignCancelUnclean: a cancellation that leaves no in-sync
// original replica needs an unclean election: refused unless the topic
// allows it.
func TestReassignCancelUnclean(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	for _, unclean := range []bool{false, true} {
		name := map[bool]string{false: "clean", true: "unclean"}[unclean]
		mustCreate(t, c, CreateTopic{Name: name, Assignments: map[int32][]int32{0: {1}},
			Configs: map[string]string{"unclean.leader.election.enable": map[bool]string{false: "false", true: "true"}[unclean]}})
		reassign(t, c, name, []int32{2, 3})
		p := part0(c, name)
		if _, err := c.AlterPartition(c.Snapshot().Topic(name).ID, 0, 1, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.BrokerHeartbeat(1, true); err != nil { // the only original replica leaves the ISR
		t.Fatal(err)
	}
	wantPartition(t, part0(c, "clean"), []int32{2, 3, 1}, []int32{2}, []int32{2, 3}, []int32{1}, 2)
	res, err := c.AlterPartitionReassignments([]Reassignment{{Topic: "clean", Partition: 0}, {Topic: "unclean", Partition: 0}}, true)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, res[0], ErrInvalidReplicaAssignment, "unclean leader election")
	wantErr(t, res[1], nil, "")
	wantPartition(t, part0(c, "clean"), []int32{2, 3, 1}, []int32{2}, []int32{2, 3}, []int32{1}, 2)
	wantPartition(t, part0(c, "unclean"), []int32{1}, []int32{1}, nil, nil, -1) // 1 is fenced: offline until it returns
}

// TestReassignPersisted: an in-progress reassignment survives a restart
// (bbolt) and a Raft snapshot round trip.
func TestReassignPersisted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir, 1, 2, 3)
	reassignTopic(t, c, "p", 1, 2)
	reassign(t, c, "p", []int32{2, 3})
	want := part0(c, "p")

	var buf bytes.Buffer
	if err := (fsmSnapshot{s: c.Snapshot(), applied: 7}).Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	other := openTest(t, "")
	if err := (fsm{c: other}).Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if got := part0(other, "p"); !partitionEqual(got, want) {
		t.Fatalf("after snapshot restore: %+v, want %+v", got, want)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{NodeID: 0, MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if got := part0(c2, "p"); !partitionEqual(got, want) {
		t.Fatalf("after restart: %+v, want %+v", got, want)
	}
}

type memSink struct{ *bytes.Buffer }

func (memSink) ID() string    { return "mem" }
func (memSink) Cancel() error { return nil }
func (memSink) Close() error  { return nil }

var _ raft.SnapshotSink = memSink{}

// TestReassignFenceCompletes: fencing a removing replica that held up
// nothing leaves the reassignment to the adding replicas; a fenced
// adding replica keeps it in progress.
func TestReassignFencedTarget(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	reassignTopic(t, c, "f", 1, 2)
	if _, err := c.BrokerHeartbeat(3, true); err != nil { // 3 is fenced but registered: allowed as a target
		t.Fatal(err)
	}
	reassign(t, c, "f", []int32{1, 3})
	p := part0(c, "f")
	wantPartition(t, p, []int32{1, 3, 2}, []int32{1, 2}, []int32{3}, []int32{2}, 1)
	if _, err := c.AlterPartition(c.Snapshot().Topic("f").ID, 0, 1, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3}); err == nil {
		t.Fatal("a fenced adding replica joined the ISR")
	}
	// Fencing the removing replica 2 takes it out of the ISR; the
	// reassignment still waits for 3.
	if _, err := c.BrokerHeartbeat(2, true); err != nil {
		t.Fatal(err)
	}
	wantPartition(t, part0(c, "f"), []int32{1, 3, 2}, []int32{1}, []int32{3}, []int32{2}, 1)
}
