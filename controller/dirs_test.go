package controller

import (
	"testing"
)

// TestReplicasOffline: a broker's replicas in a failed log dir lose their
// leadership to another in-sync replica and leave the ISR (a partition
// whose last ISR member it is goes offline), the broker stays unfenced,
// an offline replica cannot rejoin the ISR, reports are idempotent and
// checked against the broker epoch, and a new registration clears them.
func TestReplicasOffline(t *testing.T) {
	t.Parallel()
	_, c := newLive(t)
	tt := mustCreate(t, c, CreateTopic{Name: "t", Assignments: map[int32][]int32{0: {3, 1, 2}, 1: {1, 3, 2}}})
	two := mustCreate(t, c, CreateTopic{Name: "two", Assignments: map[int32][]int32{0: {2, 1}}})
	solo := mustCreate(t, c, CreateTopic{Name: "solo", Assignments: map[int32][]int32{0: {3}}})
	br, _ := c.Snapshot().Broker(3)

	wantErr(t, c.ReplicasOffline(3, br.Epoch+1, []Replica{{tt.ID, 0}}), ErrStaleBrokerEpoch, "")
	wantErr(t, c.ReplicasOffline(9, -1, []Replica{{tt.ID, 0}}), ErrBrokerNotRegistered, "")
	reps := []Replica{{tt.ID, 0}, {tt.ID, 1}, {two.ID, 0}, {tt.ID, 7}, {solo.ID, 0}, {[16]byte{1}, 0}}
	wantErr(t, c.ReplicasOffline(3, br.Epoch, reps), nil, "")

	wantPart(t, part(t, c, "t", 0), 1, []int32{1, 2}, 1, 1)
	wantPart(t, part(t, c, "t", 1), 1, []int32{1, 2}, 0, 1)
	wantPart(t, part(t, c, "two", 0), 2, []int32{2, 1}, 0, 0) // no replica on 3: untouched
	wantPart(t, part(t, c, "solo", 0), -1, []int32{3}, 1, 1)
	br, _ = c.Snapshot().Broker(3)
	if br.Fenced || len(br.OfflineReplicas) != 3 || !br.ReplicaOffline(tt.ID, 0) || !br.ReplicaOffline(solo.ID, 0) || br.ReplicaOffline(two.ID, 0) {
		t.Fatalf("broker 3 after the report: %+v", br)
	}

	// Again: nothing changes.
	wantErr(t, c.ReplicasOffline(3, -1, reps), nil, "")
	wantPart(t, part(t, c, "t", 0), 1, []int32{1, 2}, 1, 1)

	// The leader cannot take the offline replica back into the ISR; a
	// heartbeat does not make it lead its offline partition.
	p1 := part(t, c, "t", 1)
	_, err := c.AlterPartition(tt.ID, 1, 1, p1.LeaderEpoch, p1.PartitionEpoch, []int32{1, 2, 3})
	wantErr(t, err, ErrIneligibleReplica, "")
	heartbeat(t, c, 3, false)
	wantPart(t, part(t, c, "solo", 0), -1, []int32{3}, 1, 1)
	res, err := c.ElectLeaders(false, map[string][]int32{"solo": {0}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, res[TopicPartition{"solo", 0}], ErrEligibleLeadersNotAvailable, "")

	// Fencing broker 1 now elects 2 for t-0, not the offline 3.
	heartbeat(t, c, 1, true)
	if l := part(t, c, "t", 0).Leader; l != 2 {
		t.Fatalf("t-0 leader after fencing 1: %d, want 2", l)
	}

	// A new registration (a restart) clears the set: it leads solo again.
	if err := c.RegisterBroker(Broker{NodeID: 3, Host: "localhost", Port: 9100}); err != nil {
		t.Fatal(err)
	}
	br, _ = c.Snapshot().Broker(3)
	if len(br.OfflineReplicas) != 0 {
		t.Fatalf("offline replicas after re-registration: %+v", br.OfflineReplicas)
	}
}
