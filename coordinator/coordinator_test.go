package coordinator

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		hash int32
	}{
		{"", 0},
		{"a", 97},
		{"group", 98629247},
		{"héllo", 103094734},             // non-ASCII: UTF-16 code units
		{"😀", int32(0xd83d)*31 + 0xde00}, // a surrogate pair
	} {
		if got := JavaStringHash(tc.id); got != tc.hash {
			t.Errorf("hash(%q) = %d, want %d", tc.id, got, tc.hash)
		}
	}
	// "polygenelubricants" hashes to MinInt32 in Java: abs is taken as 0.
	if JavaStringHash("polygenelubricants") != math.MinInt32 || PartitionFor("polygenelubricants", 50) != 0 {
		t.Error("MinInt32 hash")
	}
	if PartitionFor("group", 50) != 98629247%50 {
		t.Error("partition of group")
	}
}

// stableGroup brings up group g with members m1 (leader) and m2 at
// generation 1, assigned "a1" and "a2".
func stableGroup(h *harness, g string) (m1, m2 string) {
	h.t.Helper()
	m1, j1 := h.joinMember(g)
	r1 := h.wait(j1)
	s1 := h.waitSync(h.syncAsync(g, m1, r1.Generation, map[string]string{m1: "solo"}))
	if s1.ErrorCode != 0 {
		h.t.Fatalf("sync: %d", s1.ErrorCode)
	}
	m2, j2 := h.joinMember(g)
	h.pendingJoin(j2)
	if code := h.heartbeat(g, m1, r1.Generation); code != kerr.RebalanceInProgress.Code {
		h.t.Fatalf("heartbeat during rebalance: %d", code)
	}
	j1 = h.joinAsync(g, m1, nil, 5, "m")
	r1, r2 := h.wait(j1), h.wait(j2)
	if r1.Generation != 2 || r2.Generation != 2 || r1.LeaderID != m1 || len(r1.Members) != 2 || len(r2.Members) != 0 {
		h.t.Fatalf("join answers: %+v %+v", r1, r2)
	}
	sc2 := h.syncAsync(g, m2, 2, nil)
	h.sync()
	sc1 := h.syncAsync(g, m1, 2, map[string]string{m1: "a1", m2: "a2"})
	if s := h.waitSync(sc1); s.ErrorCode != 0 || string(s.MemberAssignment) != "a1" || *s.Protocol != "range" {
		h.t.Fatalf("leader sync: %+v", s)
	}
	if s := h.waitSync(sc2); s.ErrorCode != 0 || string(s.MemberAssignment) != "a2" {
		h.t.Fatalf("follower sync: %+v", s)
	}
	return m1, m2
}

func TestJoinSyncHeartbeat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	m1, m2 := stableGroup(h, "g")
	if code := h.heartbeat("g", m1, 2); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}
	if code := h.heartbeat("g", m2, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation: %d", code)
	}
	if code := h.heartbeat("g", "nobody", 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", code)
	}
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "range" {
		t.Fatalf("describe: %+v", d)
	}
	// A follower rejoining with the same metadata gets the current
	// generation without a rebalance.
	r := h.wait(h.joinAsync("g", m2, nil, 5, "m"))
	if r.ErrorCode != 0 || r.Generation != 2 || len(r.Members) != 0 {
		t.Fatalf("follower rejoin: %+v", r)
	}
	// The leader leaves: m2 must rejoin and becomes leader.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 3, "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: m1}, {MemberID: "ghost"}}
	lr, err := h.c.LeaveGroup(ctxT(t), leave)
	if err != nil || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %v %+v", err, lr)
	}
	if code := h.heartbeat("g", m2, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after leave: %d", code)
	}
	r = h.wait(h.joinAsync("g", m2, nil, 5, "m"))
	if r.Generation != 3 || r.LeaderID != m2 || len(r.Members) != 1 {
		t.Fatalf("rejoin after leave: %+v", r)
	}
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	m1, m2 := stableGroup(h, "g")
	// m1 heartbeats, m2 falls silent.
	for range 4 {
		h.advance(3 * time.Second)
		code := h.heartbeat("g", m1, 2)
		if code == kerr.RebalanceInProgress.Code {
			break
		}
	}
	if d := h.describe("g"); d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("after m2's session: %+v", d)
	}
	r := h.wait(h.joinAsync("g", m1, nil, 5, "m"))
	if r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
	if code := h.heartbeat("g", m2, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
}

func TestRebalanceTimeoutDropsLaggard(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	m1, m2 := stableGroup(h, "g")
	m3, j3 := h.joinMember("g")
	j1 := h.joinAsync("g", m1, nil, 5, "m")
	h.pendingJoin(j1)
	// m2 keeps heartbeating but never rejoins: after the rebalance
	// timeout (30s) the group goes on without it.
	for range 9 {
		h.advance(3 * time.Second)
		h.heartbeat("g", m2, 2)
	}
	h.pendingJoin(j1)
	h.advance(4 * time.Second)
	r1, r3 := h.wait(j1), h.wait(j3)
	if r1.Generation != 3 || len(r1.Members) != 2 || r3.MemberID != m3 {
		t.Fatalf("after rebalance timeout: %+v %+v", r1, r3)
	}
	if code := h.heartbeat("g", m2, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("laggard: %d", code)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	_, j1 := h.joinMember("g")
	h.advance(2 * time.Second)
	_, j2 := h.joinMember("g")
	h.advance(1 * time.Second) // first delay ends, but a member arrived: extend
	h.pendingJoin(j1)
	h.advance(3 * time.Second)
	r1, r2 := h.wait(j1), h.wait(j2)
	if r1.Generation != 1 || r2.Generation != 1 {
		t.Fatalf("%+v %+v", r1, r2)
	}
}

func TestJoinValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxGroupSize = 1 })
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.SessionTimeoutMillis = 5, "g", 1000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if r, _ := h.c.JoinGroup(ctxT(t), req, Client{}); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %d", r.ErrorCode)
	}
	_, j1 := h.joinMember("g")
	h.wait(j1)
	if r := h.wait(h.joinAsync("g", "", nil, 5, "m")); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("full group: %d", r.ErrorCode)
	}
	req.SessionTimeoutMillis, req.ProtocolType = 10000, "other"
	if r, _ := h.c.JoinGroup(ctxT(t), req, Client{}); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("protocol type: %d", r.ErrorCode)
	}
	if r, _ := h.c.JoinGroup(ctxT(t), func() *kmsg.JoinGroupRequest { r := *req; r.MemberID = "x"; r.ProtocolType = "consumer"; return &r }(), Client{}); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member id: %d", r.ErrorCode)
	}
}

func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a, b := "a", "b"
	ja, jb := h.joinAsync("g", "", &a, 5, "m"), h.joinAsync("g", "", &b, 5, "m")
	for deadline := time.Now().Add(5 * time.Second); len(h.describe("g").Members) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("static members did not join")
		}
		time.Sleep(time.Millisecond) // the joins run in their own goroutines
	}
	h.advance(6 * time.Second) // the delay is extended once: b arrived during it
	ra, rb := h.wait(ja), h.wait(jb)
	if ra.Generation != rb.Generation || ra.Generation == 0 {
		t.Fatalf("%+v %+v", ra, rb)
	}
	leader, follower := ra, rb
	if rb.LeaderID == rb.MemberID {
		leader, follower = rb, ra
	}
	gen := leader.Generation
	sf := h.syncAsync("g", follower.MemberID, gen, nil)
	h.sync()
	h.waitSync(h.syncAsync("g", leader.MemberID, gen, map[string]string{leader.MemberID: "L", follower.MemberID: "F"}))
	if s := h.waitSync(sf); string(s.MemberAssignment) != "F" {
		t.Fatalf("follower: %+v", s)
	}
	// The follower restarts: a new member id, same instance id, and its
	// assignment back at the same generation.
	inst := a
	if follower == rb {
		inst = b
	}
	r := h.wait(h.joinAsync("g", "", &inst, 5, "other-metadata"))
	if r.ErrorCode != 0 || r.Generation != gen || r.MemberID == follower.MemberID {
		t.Fatalf("static rejoin: %+v", r)
	}
	if s := h.waitSync(h.syncAsync("g", r.MemberID, gen, nil)); s.ErrorCode != 0 || string(s.MemberAssignment) != "F" {
		t.Fatalf("static sync: %+v", s)
	}
	if d := h.describe("g"); d.State != "Stable" {
		t.Fatalf("state %s", d.State)
	}
	// The old incarnation is fenced.
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation, req.InstanceID = 4, "g", follower.MemberID, gen, &inst
	if resp, _ := h.c.Heartbeat(ctxT(t), req); resp.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old incarnation: %d", resp.ErrorCode)
	}
	// Survives a coordinator restart too.
	h.restart(nil)
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("after reload: %+v", d)
	}
	if code := h.heartbeat("g", r.MemberID, gen); code != 0 {
		t.Fatalf("heartbeat after reload: %d", code)
	}
}

func commit(h *harness, group, member string, gen int32, offsets map[int32]int64) *kmsg.OffsetCommitResponse {
	h.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 9, group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, o, 3, kmsg.StringPtr("md")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := h.c.CommitOffsets(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func fetched(h *harness, group string) map[int32]int64 {
	h.t.Helper()
	ts, code, err := h.c.FetchOffsets(ctxT(h.t), group, nil)
	if err != nil || code != 0 {
		h.t.Fatal(err, code)
	}
	out := map[int32]int64{}
	for _, tp := range ts {
		for _, p := range tp.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

func TestOffsetsCommitFetchReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	// Simple consumer.
	if r := commit(h, "simple", "", -1, map[int32]int64{0: 10, 1: 20}); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("simple commit: %+v", r)
	}
	// Group members.
	m1, _ := stableGroup(h, "g")
	if r := commit(h, "g", m1, 1, map[int32]int64{0: 5}); r.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale generation: %+v", r)
	}
	if r := commit(h, "g", "", -1, map[int32]int64{0: 5}); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to live group: %+v", r)
	}
	if r := commit(h, "g", m1, 2, map[int32]int64{0: 5, 3: 7}); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("member commit: %+v", r)
	}
	// Missing partitions fetch as -1.
	ts, _, _ := h.c.FetchOffsets(ctxT(t), "g", []TopicPartitions{{Topic: "t", Partitions: []int32{0, 9}}})
	if ts[0].Partitions[0].Offset != 5 || ts[0].Partitions[0].LeaderEpoch != 3 || ts[0].Partitions[0].Metadata != "md" || ts[0].Partitions[1].Offset != -1 {
		t.Fatalf("fetch: %+v", ts)
	}
	// A failed append is not acknowledged and not applied.
	p := h.c.Partition("simple")
	h.logs[p].mu.Lock()
	h.logs[p].fail = ErrClosed
	h.logs[p].mu.Unlock()
	if r := commit(h, "simple", "", -1, map[int32]int64{0: 99}); r.Topics[0].Partitions[0].ErrorCode == 0 {
		t.Fatal("commit acknowledged without append")
	}
	h.logs[p].mu.Lock()
	h.logs[p].fail = nil
	h.logs[p].mu.Unlock()

	h.restart(nil)
	if got := fetched(h, "simple"); got[0] != 10 || got[1] != 20 {
		t.Fatalf("simple after reload: %v", got)
	}
	if got := fetched(h, "g"); got[0] != 5 || got[3] != 7 {
		t.Fatalf("g after reload: %v", got)
	}

	// Delete: offsets and the group go, also after another reload.
	code, _ := h.c.DeleteGroup(ctxT(t), "g")
	if code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete live group: %d", code)
	}
	code, _ = h.c.DeleteGroup(ctxT(t), "simple")
	if code != 0 {
		t.Fatalf("delete simple: %d", code)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 3}}}}
	if r, _ := h.c.DeleteOffsets(ctxT(t), od); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("offset delete, non-consumer-metadata live group: %+v", r)
	}
	h.restart(nil)
	if got := fetched(h, "simple"); len(got) != 0 {
		t.Fatalf("deleted group's offsets: %v", got)
	}
	if d := h.describe("simple"); d.State != "Dead" {
		t.Fatalf("deleted group: %+v", d)
	}
	ls, _ := h.c.ListGroups(ctxT(t), []string{"stable"})
	if len(ls) != 1 || ls[0].Group != "g" {
		t.Fatalf("list stable: %+v", ls)
	}
}

func TestOffsetsExpire(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour; c.RetentionCheckInterval = time.Minute })
	commit(h, "simple", "", -1, map[int32]int64{0: 1})
	h.advance(30 * time.Minute)
	if got := fetched(h, "simple"); got[0] != 1 {
		t.Fatalf("expired early: %v", got)
	}
	h.advance(31 * time.Minute)
	if got := fetched(h, "simple"); len(got) != 0 {
		t.Fatalf("not expired: %v", got)
	}
	h.advance(time.Minute) // the empty group goes too
	if d := h.describe("simple"); d.State != "Dead" {
		t.Fatalf("group: %+v", d)
	}
	h.restart(nil)
	if got := fetched(h, "simple"); len(got) != 0 {
		t.Fatalf("after reload: %v", got)
	}
}

func TestNotCoordinator(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.c.Unload(h.c.Partition("g"))
	if r := h.wait(h.joinAsync("g", "", nil, 5, "m")); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("join: %d", r.ErrorCode)
	}
	if code := h.heartbeat("g", "m", 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat: %d", code)
	}
}
