package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/storage"
)

func TestSelectRackReplica(t *testing.T) {
	t.Parallel()
	b1 := readReplica{id: 2, rack: "b", leo: 10, sinceCaughtUp: time.Second}
	b2 := readReplica{id: 3, rack: "b", leo: 12, sinceCaughtUp: 5 * time.Second}
	b3 := readReplica{id: 4, rack: "b", leo: 12, sinceCaughtUp: time.Second}
	b4 := readReplica{id: 5, rack: "b", leo: 12, sinceCaughtUp: time.Second}
	c1 := readReplica{id: 6, rack: "c", leo: 20}
	for _, tc := range []struct {
		name       string
		rack       string
		leaderRack string
		followers  []readReplica
		want       int32
	}{
		{"no consumer rack", "", "a", []readReplica{b1}, -1},
		{"leader in the consumer's rack", "b", "b", []readReplica{b1}, -1},
		{"one follower in the rack", "b", "a", []readReplica{b1, c1}, 2},
		{"no replica in the rack", "z", "a", []readReplica{b1, c1}, -1},
		{"no followers", "b", "a", nil, -1},
		{"highest log end offset", "b", "a", []readReplica{b1, b2}, 3},
		{"then most recently caught up", "b", "a", []readReplica{b2, b3, b1}, 4},
		{"then lowest id", "b", "a", []readReplica{b4, b3}, 4},
		{"other racks ignored however caught up", "b", "", []readReplica{c1, b1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := selectRackReplica(tc.rack, tc.leaderRack, tc.followers); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCheckReplicaEpoch(t *testing.T) {
	t.Parallel()
	meta := &controller.Partition{Leader: 1, LeaderEpoch: 5, Replicas: []int32{1, 2, 3}}
	for _, tc := range []struct {
		self, epoch int32
		want        int16
	}{
		{2, -1, 0},
		{2, 5, 0},
		{3, 5, 0},
		{1, 5, 0}, // the leader is a replica too
		{2, 4, kerr.FencedLeaderEpoch.Code},
		{2, 6, kerr.UnknownLeaderEpoch.Code},
		{4, 5, kerr.NotLeaderForPartition.Code},
		{4, -1, kerr.NotLeaderForPartition.Code},
	} {
		if got := checkReplicaEpoch(tc.self, meta, tc.epoch); got != tc.want {
			t.Errorf("self %d epoch %d: got %d, want %d", tc.self, tc.epoch, got, tc.want)
		}
	}
}

// TestPreferredReadReplica: which follower a leader in rack a sends a
// consumer to, from its view of the followers' fetches and the metadata.
func TestPreferredReadReplica(t *testing.T) {
	t.Parallel()
	rack := func(s string) *string { return &s }
	clock := newFakeClock()
	now := clock.Now()
	eps := func(names ...string) []controller.Endpoint {
		var out []controller.Endpoint
		for _, n := range names {
			out = append(out, controller.Endpoint{Name: n, Host: "h", Port: 1})
		}
		return out
	}
	snap := &controller.Snapshot{Brokers: []controller.Broker{
		{NodeID: 1, Rack: rack("a"), Endpoints: eps("PLAINTEXT")},
		{NodeID: 2, Rack: rack("b"), Endpoints: eps("PLAINTEXT")},
		{NodeID: 3, Rack: rack("c"), Endpoints: eps("PLAINTEXT")},
		{NodeID: 4, Rack: rack("d"), Endpoints: eps("PLAINTEXT"), Fenced: true},
		{NodeID: 5, Rack: rack("e"), Endpoints: eps("OTHER")},
		{NodeID: 6, Rack: rack("f"), Endpoints: eps("PLAINTEXT")},
		{NodeID: 7, Rack: rack("g")}, // registered without endpoints: its one address serves every listener
		{NodeID: 8, Rack: rack("h"), Endpoints: eps("PLAINTEXT")},
	}}
	p := &partition{topic: "t"}
	p.rep.role, p.rep.leader = roleLeader, 1
	p.rep.isr = []int32{1, 2, 3, 4, 5, 7, 8}
	p.rep.followers = map[int32]*followerState{
		2: {leo: 100, logStart: 0, lastCaughtUp: now},
		3: {leo: 40, logStart: 0, lastCaughtUp: now},  // has offsets below 40 only
		4: {leo: 100, logStart: 0, lastCaughtUp: now}, // fenced
		5: {leo: 100, logStart: 0, lastCaughtUp: now}, // not on the consumer's listener
		6: {leo: 100, logStart: 0, lastCaughtUp: now}, // not in the ISR
		7: {leo: 100, logStart: 0, lastCaughtUp: now},
		8: {leo: 100, logStart: 60, lastCaughtUp: now}, // deleted below 60
	}
	cfg := Config{NodeID: 1}
	cfg.Cluster.Rack = rack("a")
	cfg.Replication.RackAwareReads = true
	s := &deps{cfg: &cfg, clock: clock}
	for _, tc := range []struct {
		rack   string
		offset int64
		want   int32
	}{
		{"b", 50, 2},
		{"b", 100, 2}, // at its log end: it waits there as the leader would
		{"b", 101, -1},
		{"c", 40, 3},
		{"c", 50, -1},
		{"d", 50, -1},
		{"e", 50, -1},
		{"f", 50, -1},
		{"g", 50, 7},
		{"h", 59, -1},
		{"h", 60, 8},
		{"a", 50, -1}, // the leader's own rack
		{"", 50, -1},
		{"zz", 50, -1},
	} {
		if got := s.preferredReadReplica(snap, p, tc.rack, "PLAINTEXT", tc.offset); got != tc.want {
			t.Errorf("rack %q offset %d: got %d, want %d", tc.rack, tc.offset, got, tc.want)
		}
	}

	// Without replica.selector.class every consumer stays on the leader.
	off := cfg
	off.Replication.RackAwareReads = false
	if got := (&deps{cfg: &off, clock: clock}).preferredReadReplica(snap, p, "b", "PLAINTEXT", 50); got != -1 {
		t.Errorf("selector off: got %d, want -1", got)
	}
	// A node that lost the leadership sends nobody anywhere.
	p.rep.role, p.rep.leader = roleFollower, 2
	if got := s.preferredReadReplica(snap, p, "b", "PLAINTEXT", 50); got != -1 {
		t.Errorf("as follower: got %d, want -1", got)
	}
}

// TestFetchSessionSendsPreferredReplica: an incremental fetch response
// keeps a partition redirected to a preferred read replica although
// nothing else about it changed.
func TestFetchSessionSendsPreferredReplica(t *testing.T) {
	t.Parallel()
	sp := &sessionPartition{hw: 10, lso: 10, logStart: 0}
	p := kmsg.NewFetchResponseTopicPartition()
	p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 10, 10, 0
	if sp.mustRespond(&p) {
		t.Fatal("an unchanged partition was sent")
	}
	p.PreferredReadReplica = 2
	if !sp.mustRespond(&p) {
		t.Fatal("a preferred read replica was not sent")
	}
}

// TestRackAwareSingleNode: with the selector on, a lone broker (no
// followers) keeps serving rack-aware consumers itself.
func TestRackAwareSingleNode(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "broker.rack=a", "replica.selector.class="+rackAwareReplicaSelector)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "solo"); err != nil {
		t.Fatal(err)
	}
	pr := b.client(kgo.DefaultProduceTopic("solo"))
	for i := range 5 {
		if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := b.client(kgo.Rack("b"), kgo.ConsumeTopics("solo"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 5 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if n := b.srv.deps.repl.readRedirects.Load(); n != 0 {
		t.Fatalf("%d redirects on a single node", n)
	}
	if n := b.srv.deps.repl.followerReads.Load(); n != 0 {
		t.Fatalf("%d follower reads on a single node", n)
	}
}

// TestFollowerFetchHighWatermarkNews: a leader tells a follower's fetch
// to answer at once exactly when the high watermark it answers with is
// higher than the one it last sent that follower.
func TestFollowerFetchHighWatermarkNews(t *testing.T) {
	t.Parallel()
	l, err := storage.Open(t.TempDir(), storage.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.SetAutoHighWatermark(false)
	p := &partition{topic: "t", log: l}
	now := time.Now()
	p.rep.role, p.rep.leader, p.rep.isr = roleLeader, 1, []int32{1, 2, 3}
	p.rep.followers = map[int32]*followerState{
		2: {leo: -1, lastCaughtUp: now, lastFetch: now, hwSent: -1},
		3: {leo: -1, lastCaughtUp: now, lastFetch: now, hwSent: -1},
	}
	rp := &replication{self: 1, clock: newFakeClock(), wg: new(sync.WaitGroup)}
	fetch := func(id int32, offset int64, wantHW int64, wantNews bool) {
		t.Helper()
		hw, news, ok := rp.recordFollowerFetch(p, id, offset, 0)
		if !ok || hw != wantHW || news != wantNews {
			t.Fatalf("follower %d at %d: hw %d news %v ok %v, want hw %d news %v", id, offset, hw, news, ok, wantHW, wantNews)
		}
	}
	fetch(2, 0, 0, true) // its first answer
	fetch(2, 0, 0, false)
	if _, err := l.Append(batch(-1, -1, -1, 3, []byte("x")), 0); err != nil {
		t.Fatal(err)
	}
	fetch(2, 0, 0, false) // records, but the high watermark waits for 3
	fetch(3, 0, 0, true)  // its first answer
	fetch(2, 3, 0, false)
	fetch(3, 3, 3, true) // the last ISR member has them: the high watermark moves
	fetch(2, 3, 3, true) // news to 2, which last got 0
	fetch(2, 3, 3, false)
	fetch(3, 3, 3, false)
	if _, _, ok := rp.recordFollowerFetch(p, 4, 0, 0); ok {
		t.Fatal("node 4 taken for a follower")
	}
}
