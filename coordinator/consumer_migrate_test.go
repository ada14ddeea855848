package coordinator

import (
	"encoding/binary"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicClient is a test client of the classic protocol with the
// consumer embedded protocol (a cooperative consumer: its subscription
// says what it owns).
type classicClient struct {
	h      *cgHarness
	group  string
	id     string
	gen    int32
	topics []string
	owned  map[string][]int32
	proto  string
	inst   *string
}

func (h *cgHarness) classic(group string, topics ...string) *classicClient {
	return &classicClient{h: h, group: group, topics: topics, owned: map[string][]int32{}, proto: "cooperative-sticky"}
}

func (c *classicClient) joinRequest() *kmsg.JoinGroupRequest {
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version = 1
	sub.Topics = c.topics
	for _, t := range sortedKeys(c.owned) {
		sub.OwnedPartitions = append(sub.OwnedPartitions, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: t, Partitions: slices.Clone(c.owned[t])})
	}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.InstanceID = c.group, c.id, c.inst
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 30_000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: c.proto, Metadata: sub.AppendTo(nil)}}
	return req
}

// joinAsync sends a JoinGroup and returns once it is answered or parked.
func (c *classicClient) joinAsync() <-chan joinResult {
	h := c.h
	req := c.joinRequest()
	ch := make(chan joinResult, 1)
	go func() {
		resp, err := h.c.JoinGroup(ctxT(h.t), req, Client{ID: "classic", Host: "/127.0.0.1"})
		ch <- joinResult{resp, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for c.id != "" && len(ch) == 0 && !h.parked(c.group, c.id) {
		if time.Now().After(deadline) {
			h.t.Fatalf("JoinGroup of %s neither answered nor parked", c.id)
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

// took applies a JoinGroup answer.
func (c *classicClient) took(r *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	c.h.t.Helper()
	if r.ErrorCode != 0 {
		c.h.t.Fatalf("join of %s: %v", c.id, kerr.ErrorForCode(r.ErrorCode))
	}
	c.id, c.gen = r.MemberID, r.Generation
	return r
}

// join does a whole JoinGroup to a group that answers at once (a consumer
// group), with the KIP-394 member id step for a new member.
func (c *classicClient) join() *kmsg.JoinGroupResponse {
	c.h.t.Helper()
	r := c.h.wait(c.joinAsync())
	if r.ErrorCode == kerr.MemberIDRequired.Code {
		c.id = r.MemberID
		r = c.h.wait(c.joinAsync())
	}
	return c.took(r)
}

func (c *classicClient) syncRequest(assign map[string]map[string][]int32) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = c.group, c.id, c.gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr(c.proto)
	for _, m := range sortedKeys(assign) {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: encodeAssignment(assign[m], 1)})
	}
	return req
}

// applySync takes a SyncGroup answer's assignment.
func (c *classicClient) applySync(r *kmsg.SyncGroupResponse) {
	c.h.t.Helper()
	if r.ErrorCode != 0 {
		c.h.t.Fatalf("sync of %s: %v", c.id, kerr.ErrorForCode(r.ErrorCode))
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(r.MemberAssignment); err != nil {
		c.h.t.Fatalf("assignment of %s: %v", c.id, err)
	}
	c.owned = map[string][]int32{}
	for _, t := range a.Topics {
		c.owned[t.Topic] = slices.Clone(t.Partitions)
	}
}

// sync sends a SyncGroup answered at once and takes its assignment.
func (c *classicClient) sync() {
	c.h.t.Helper()
	resp, err := c.h.c.SyncGroup(ctxT(c.h.t), c.syncRequest(nil))
	if err != nil {
		c.h.t.Fatal(err)
	}
	c.applySync(resp)
}

func (c *classicClient) heartbeat() int16 {
	c.h.t.Helper()
	return c.h.heartbeat(c.group, c.id, c.gen)
}

// settle heartbeats, rejoining and syncing while told to rebalance.
func (c *classicClient) settle() {
	c.h.t.Helper()
	for range 5 {
		switch code := c.heartbeat(); code {
		case 0:
			return
		case kerr.RebalanceInProgress.Code:
			c.join()
			c.sync()
		default:
			c.h.t.Fatalf("%s heartbeat: %v", c.id, kerr.ErrorForCode(code))
		}
	}
	c.h.t.Fatalf("%s did not settle", c.id)
}

// classicPair builds a Stable classic group of two cooperative members
// subscribed to t (6 partitions) at generation 2: a owns t 0-2, b 3-5.
func classicPair(t *testing.T, h *cgHarness, group string) (a, b *classicClient) {
	t.Helper()
	h.topics.set("t", 6)
	a, b = h.classic(group, "t"), h.classic(group, "t")
	r := h.wait(a.joinAsync())
	a.id = r.MemberID
	a.took(h.wait(a.joinAsync())) // alone: generation 1
	a.applySync(h.syncNow(a.syncRequest(map[string]map[string][]int32{a.id: {"t": {0, 1, 2, 3, 4, 5}}})))
	r = h.wait(b.joinAsync())
	b.id = r.MemberID
	bj := b.joinAsync()
	if code := a.heartbeat(); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("a heartbeat: %v", kerr.ErrorForCode(code))
	}
	aj := a.joinAsync()
	a.took(h.wait(aj))
	b.took(h.wait(bj))
	if a.gen != 2 || b.gen != 2 {
		t.Fatalf("generations %d %d", a.gen, b.gen)
	}
	bs := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		resp, err := h.c.SyncGroup(ctxT(t), b.syncRequest(nil))
		if err != nil {
			t.Error(err)
		}
		bs <- resp
	}()
	a.applySync(h.syncNow(a.syncRequest(map[string]map[string][]int32{a.id: {"t": {0, 1, 2}}, b.id: {"t": {3, 4, 5}}})))
	b.applySync(<-bs)
	return a, b
}

// syncNow sends a SyncGroup that is answered at once (a leader's).
func (h *cgHarness) syncNow(req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	h.t.Helper()
	resp, err := h.c.SyncGroup(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func memberOf(d kmsg.ConsumerGroupDescribeResponseGroup, id string) *kmsg.ConsumerGroupDescribeResponseGroupMember {
	for i := range d.Members {
		if d.Members[i].MemberID == id {
			return &d.Members[i]
		}
	}
	return nil
}

func partsOf(a kmsg.Assignment) []int32 {
	var out []int32
	for _, tp := range a.TopicPartitions {
		out = append(out, tp.Partitions...)
	}
	slices.Sort(out)
	return out
}

// TestMigrateUpgrade: a ConsumerGroupHeartbeat joining a Stable classic
// group converts it (members keep their partitions, generation as
// epochs, offsets kept); the classic members then rejoin through the
// consumer group, revoke first, and the partitions end up shared; the
// converted group survives a reload.
func TestMigrateUpgrade(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a, b := classicPair(t, h, "g")
	if r := commit(h.harness, "g", a.id, 2, map[int32]int64{0: 42}); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("classic commit: %+v", r)
	}

	n := h.member("g", "n", "t")
	n.mustBeat()
	d := h.describeCG("g")
	if d.ErrorCode != 0 || d.Epoch != 3 || d.AssignmentEpoch != 3 || len(d.Members) != 3 {
		t.Fatalf("after upgrade: %v %+v", kerr.ErrorForCode(d.ErrorCode), d)
	}
	for _, c := range []*classicClient{a, b} {
		dm := memberOf(d, c.id)
		if dm == nil || dm.MemberType != 0 || dm.MemberEpoch != 2 || !slices.Equal(partsOf(dm.Assignment), c.owned["t"]) || !slices.Equal(dm.SubscribedTopics, []string{"t"}) {
			t.Fatalf("classic member %s after upgrade: %+v", c.id, dm)
		}
	}
	if dm := memberOf(d, "n"); dm.MemberType != 1 || n.epoch != 3 || n.count() != 0 {
		t.Fatalf("new member: %+v epoch %d owned %v", dm, n.epoch, n.owned)
	}
	if got := fetched(h.harness, "g"); got[0] != 42 {
		t.Fatalf("offsets after upgrade: %v", got)
	}
	// One batch: the classic group's tombstone, then the consumer group's
	// records (member metadata with the classic metadata, epoch, targets,
	// current assignments).
	if got := upgradeBatch(t, h, "g"); !slices.Equal(got, []string{"2-", "5", "5", "3", "7", "7", "6", "8", "8"}) {
		t.Fatalf("upgrade batch records: %v", got)
	}
	if dg := h.describe("g"); dg.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of the upgraded group: %+v", dg)
	}

	// Each classic member is told to rejoin, revokes what n gets, then
	// takes the new epoch.
	for _, c := range []*classicClient{a, b} {
		if code := c.heartbeat(); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("%s heartbeat after upgrade: %v", c.id, kerr.ErrorForCode(code))
		}
		jr := c.join()
		if jr.Generation != 2 || *jr.Protocol != "cooperative-sticky" || jr.LeaderID != "" || len(jr.Members) != 0 {
			t.Fatalf("%s rejoin: %+v", c.id, jr)
		}
		c.sync()
		if len(c.owned["t"]) != 2 {
			t.Fatalf("%s must revoke one partition: %v", c.id, c.owned)
		}
		if code := c.heartbeat(); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("%s heartbeat while revoking: %v", c.id, kerr.ErrorForCode(code))
		}
		if jr := c.join(); jr.Generation != 3 {
			t.Fatalf("%s rejoin after revoking: generation %d", c.id, jr.Generation)
		}
		c.sync()
		if code := c.heartbeat(); code != 0 {
			t.Fatalf("%s heartbeat at the new epoch: %v", c.id, kerr.ErrorForCode(code))
		}
	}
	n.mustBeat()
	if n.count() != 2 || a.gen != 3 || b.gen != 3 {
		t.Fatalf("n owns %v", n.owned)
	}
	all := slices.Concat(a.owned["t"], b.owned["t"], n.owned["t"])
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("partitions: a %v b %v n %v", a.owned, b.owned, n.owned)
	}
	// Commits of classic members: generation = member epoch.
	if r := commit(h.harness, "g", a.id, 3, map[int32]int64{0: 43}); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("classic commit in consumer group: %+v", r)
	}
	if r := commit(h.harness, "g", a.id, 2, map[int32]int64{0: 44}); r.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale classic commit: %+v", r)
	}
	// Protocol mix-ups.
	if r := n.send(func() *kmsg.ConsumerGroupHeartbeatRequest { r := n.request(); r.MemberID = a.id; return r }()); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("ConsumerGroupHeartbeat with a classic member id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if code := h.heartbeat("g", "n", 3); code != kerr.UnknownMemberID.Code {
		t.Fatalf("Heartbeat of a consumer-protocol member: %v", kerr.ErrorForCode(code))
	}
	if code := h.heartbeat("g", a.id, 2); code != kerr.IllegalGeneration.Code {
		t.Fatalf("stale Heartbeat: %v", kerr.ErrorForCode(code))
	}
	other := h.classic("g", "t")
	other.proto = "range"
	if r := h.wait(other.joinAsync()); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("join with an unshared protocol: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// A reload rebuilds the same group from the records.
	before := h.describeCG("g")
	h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics } })
	after := h.describeCG("g")
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || len(after.Members) != 3 {
		t.Fatalf("after reload: %+v, before %+v", after, before)
	}
	for _, bm := range before.Members {
		am := memberOf(after, bm.MemberID)
		if am == nil || am.MemberType != bm.MemberType || am.MemberEpoch != bm.MemberEpoch || !slices.Equal(partsOf(am.Assignment), partsOf(bm.Assignment)) {
			t.Fatalf("member %s after reload: %+v, before %+v", bm.MemberID, am, bm)
		}
	}
	if got := fetched(h.harness, "g"); got[0] != 43 {
		t.Fatalf("offsets after reload: %v", got)
	}
	if code := a.heartbeat(); code != 0 {
		t.Fatalf("classic heartbeat after reload: %v", kerr.ErrorForCode(code))
	}
	// The classic session timeout (10 s), not the consumer one (45 s),
	// holds for classic members.
	for range 3 {
		h.advance(4 * time.Second)
		n.mustBeat()
		b.heartbeat()
	}
	if d := h.describeCG("g"); len(d.Members) != 2 || memberOf(d, a.id) != nil {
		t.Fatalf("a's session did not expire: %+v", d)
	}
}

// TestMigrateUpgradeRefused: policies and groups that do not upgrade.
func TestMigrateUpgradeRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		code int16
	}{
		{"disabled", func(c *Config) { c.ConsumerMigrationPolicy = MigrationDisabled }, kerr.GroupIDNotFound.Code},
		{"downgrade only", func(c *Config) { c.ConsumerMigrationPolicy = MigrationDowngrade }, kerr.GroupIDNotFound.Code},
		{"too large", func(c *Config) { c.ConsumerMaxSize = 1 }, kerr.GroupIDNotFound.Code},
		{"full once converted", func(c *Config) { c.ConsumerMaxSize = 2 }, kerr.GroupMaxSizeReached.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newCGHarness(t)
			h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics }; tc.mod(c) })
			classicPair(t, h, "g")
			if code := h.member("g", "n", "t").beat(); code != tc.code {
				t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
			}
			if d := h.describe("g"); d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 2 {
				t.Fatalf("classic group changed: %+v", d)
			}
		})
	}
	// A classic group of another protocol type.
	h := newCGHarness(t)
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.InstanceID = 5, "connect", kmsg.StringPtr("w1")
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 30_000
	req.ProtocolType = "connect"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "sessioned", Metadata: []byte{0, 1}}}
	if r, err := h.c.JoinGroup(ctxT(t), req, Client{}); err != nil || r.ErrorCode != 0 {
		t.Fatal(err, r)
	}
	if code := h.member("connect", "n", "t").beat(); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat to a connect group: %v", kerr.ErrorForCode(code))
	}
	// A heartbeat (not a join) never upgrades.
	classicPair(t, h, "g")
	n := h.member("g", "n", "t")
	n.epoch = 1
	if code := n.beat(); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat with epoch 1: %v", kerr.ErrorForCode(code))
	}
}

// TestMigrateDowngrade: when the last consumer-protocol member leaves a
// group of classic members, it becomes a classic group at generation =
// group epoch, with the target assignment, and rebalances; a reload reads
// it as a classic group. With the upgrade-only policy it stays a consumer
// group.
func TestMigrateDowngrade(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{MigrationBidirectional, MigrationUpgrade} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			h := newCGHarness(t)
			h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics }; c.ConsumerMigrationPolicy = policy })
			h.topics.set("t", 6)
			n := h.member("g", "n", "t")
			n.mustBeat() // epoch 1, all of t
			c := h.classic("g", "t")
			if jr := c.join(); jr.Generation != 2 {
				t.Fatalf("classic join of consumer group: %+v", jr)
			}
			c.sync()
			if len(c.owned["t"]) != 0 {
				t.Fatalf("c got partitions n still owns: %v", c.owned)
			}
			n.mustBeat() // revokes 3
			n.mustBeat()
			if n.count() != 3 || n.epoch != 2 {
				t.Fatalf("n: epoch %d %v", n.epoch, n.owned)
			}
			// n released: c's partitions are free, it is told to rejoin.
			if code := c.heartbeat(); code != kerr.RebalanceInProgress.Code {
				t.Fatalf("c heartbeat: %v", kerr.ErrorForCode(code))
			}
			c.join()
			c.sync()
			if len(c.owned["t"]) != 3 || c.gen != 2 {
				t.Fatalf("c: gen %d %v", c.gen, c.owned)
			}
			if code := c.heartbeat(); code != 0 {
				t.Fatalf("c heartbeat: %v", kerr.ErrorForCode(code))
			}
			if r := n.send(func() *kmsg.ConsumerGroupHeartbeatRequest { r := n.request(); r.MemberEpoch = -1; return r }()); r.ErrorCode != 0 {
				t.Fatalf("leave: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			if policy == MigrationUpgrade {
				if d := h.describeCG("g"); d.ErrorCode != 0 || len(d.Members) != 1 {
					t.Fatalf("upgrade-only group after the leave: %+v", d)
				}
				return
			}
			d := h.describe("g")
			if d.ErrorCode != 0 || d.State != "PreparingRebalance" || d.ProtocolType != "consumer" || len(d.Members) != 1 || d.Members[0].MemberID != c.id {
				t.Fatalf("after downgrade: %v %+v", kerr.ErrorForCode(d.ErrorCode), d)
			}
			if cd := h.describeCG("g"); cd.ErrorCode != kerr.GroupIDNotFound.Code {
				t.Fatalf("ConsumerGroupDescribe after downgrade: %+v", cd)
			}
			// Reloaded now, the group is the classic group written.
			h.restart(func(cfg *Config) { cfg.Topics = func() Topics { return h.topics } })
			d = h.describe("g")
			if d.ErrorCode != 0 || d.State != "Stable" || d.Protocol != "cooperative-sticky" || len(d.Members) != 1 {
				t.Fatalf("after reload: %+v", d)
			}
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(d.Members[0].MemberAssignment); err != nil || len(a.Topics) != 1 || !slices.Equal(a.Topics[0].Partitions, c.owned["t"]) {
				t.Fatalf("assignment after reload: %v %+v", err, a)
			}
			// The classic member goes on in the classic group: a heartbeat
			// at its generation, then a rebalance when it rejoins.
			if code := c.heartbeat(); code != 0 {
				t.Fatalf("heartbeat after reload: %v", kerr.ErrorForCode(code))
			}
			jr := c.took(h.wait(c.joinAsync()))
			if jr.Generation != 3 || jr.LeaderID != c.id {
				t.Fatalf("classic rejoin: %+v", jr)
			}
			c.applySync(h.syncNow(c.syncRequest(map[string]map[string][]int32{c.id: {"t": {0, 1, 2, 3, 4, 5}}})))
			if len(c.owned["t"]) != 6 {
				t.Fatalf("c after classic rebalance: %v", c.owned)
			}
			// And it upgrades again when a consumer-protocol member joins.
			n2 := h.member("g", "n2", "t")
			n2.mustBeat()
			if d := h.describeCG("g"); d.ErrorCode != 0 || d.Epoch != 4 || len(d.Members) != 2 {
				t.Fatalf("second upgrade: %+v", d)
			}
		})
	}
}

// TestMigrateDowngradeRebalances: right after a downgrade the classic
// member is told to rejoin and the group completes a classic rebalance.
func TestMigrateDowngradeRebalances(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a, b := classicPair(t, h, "g")
	n := h.member("g", "n", "t")
	n.mustBeat()
	// n's session expires (45 s) while the classic members heartbeat and
	// rejoin when told to.
	for range 11 {
		h.advance(4 * time.Second)
		a.settle()
		b.settle()
	}
	h.advance(2 * time.Second)
	d := h.describe("g")
	if d.ErrorCode != 0 || len(d.Members) != 2 {
		t.Fatalf("after n expired: %v %+v", kerr.ErrorForCode(d.ErrorCode), d)
	}
	if d.State != "PreparingRebalance" {
		t.Fatalf("state %s", d.State)
	}
	aj, bj := a.joinAsync(), b.joinAsync()
	ra, rb := a.took(h.wait(aj)), b.took(h.wait(bj))
	if ra.Generation != 4 || rb.Generation != 4 || (ra.LeaderID != a.id && ra.LeaderID != b.id) {
		t.Fatalf("classic rebalance after downgrade: %+v %+v", ra, rb)
	}
}

// TestMigrateClassicTimers: a classic member of a consumer group that does
// not sync, or does not rejoin when told to, within its rebalance timeout
// is removed.
func TestMigrateClassicTimers(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	n := h.member("g", "n", "t")
	n.mustBeat()
	c := h.classic("g", "t")
	c.join()
	// No SyncGroup: fenced after the rebalance timeout (30 s).
	for range 8 {
		h.advance(4 * time.Second)
		c.heartbeat()
		n.mustBeat()
	}
	if d := h.describeCG("g"); len(d.Members) != 1 {
		t.Fatalf("unsynced member stayed: %+v", d)
	}
	if code := c.heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the fenced member: %v", kerr.ErrorForCode(code))
	}
	// Told to rejoin, never does.
	c = h.classic("g", "t")
	c.join()
	c.sync()
	h.member("g", "n3", "t").mustBeat() // a new epoch
	if code := c.heartbeat(); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
	}
	for range 8 {
		h.advance(4 * time.Second)
		c.heartbeat()
	}
	if d := h.describeCG("g"); memberOf(d, c.id) != nil {
		t.Fatalf("member that did not rejoin stayed: %+v", d)
	}
	// LeaveGroup of a classic member.
	c = h.classic("g", "t")
	c.join()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = 3, "g"
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: c.id}, {MemberID: "n"}}
	resp, err := h.c.LeaveGroup(ctxT(t), req)
	if err != nil || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %v %+v", err, resp)
	}
	if d := h.describeCG("g"); memberOf(d, c.id) != nil {
		t.Fatalf("left member stayed: %+v", d)
	}
}

// upgradeBatch returns the record types ("-": tombstone) of the batch of
// group's partition that holds its classic group tombstone.
func upgradeBatch(t *testing.T, h *cgHarness, group string) []string {
	t.Helper()
	l := h.logs[PartitionFor(group, 4)]
	l.mu.Lock()
	batches := slices.Clone(l.batches)
	l.mu.Unlock()
	for _, b := range batches {
		var types []string
		if err := forEachRecord(b, func(_ int64, key, value []byte) error {
			s := strconv.Itoa(int(binary.BigEndian.Uint16(key)))
			if value == nil {
				s += "-"
			}
			types = append(types, s)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(types) > 0 && types[0] == "2-" {
			return types
		}
	}
	return nil
}

// TestMigrateUpgradeDuringRebalance: a classic group upgraded while it
// prepares a rebalance answers the parked JoinGroup with
// REBALANCE_IN_PROGRESS; that member then joins the consumer group with
// its member id.
func TestMigrateUpgradeDuringRebalance(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	h.topics.set("t", 6)
	a, b := h.classic("g", "t"), h.classic("g", "t")
	a.id = h.wait(a.joinAsync()).MemberID
	a.took(h.wait(a.joinAsync()))
	a.applySync(h.syncNow(a.syncRequest(map[string]map[string][]int32{a.id: {"t": {0, 1, 2, 3, 4, 5}}})))
	b.id = h.wait(b.joinAsync()).MemberID
	parked := b.joinAsync()
	h.pendingJoin(parked)
	n := h.member("g", "n", "t")
	n.mustBeat()
	if r := h.wait(parked); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("parked join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	d := h.describeCG("g")
	if d.Epoch != 2 || len(d.Members) != 3 || len(partsOf(memberOf(d, b.id).Assignment)) != 0 || len(partsOf(memberOf(d, a.id).Assignment)) != 6 {
		t.Fatalf("after upgrade: %+v", d)
	}
	b.join()
	b.sync()
	a.settle()
	n.mustBeat()
	b.settle()
	n.mustBeat()
	if len(a.owned["t"]) != 2 || len(b.owned["t"]) != 2 || n.count() != 2 {
		t.Fatalf("a %v b %v n %v", a.owned, b.owned, n.owned)
	}
}

// TestMigrateStaticReplacement: static members switching protocols under
// their instance id take the place and partitions of the member they
// replace; a classic one replacing the last member of the consumer
// protocol downgrades the group, without a rebalance.
func TestMigrateStaticReplacement(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	h.topics.set("t", 6)
	n := h.member("g", "n", "t")
	n.instance = kmsg.StringPtr("i-n")
	n.mustBeat()
	c := h.classic("g", "t")
	c.inst = kmsg.StringPtr("i-c")
	c.join()
	c.sync()
	n.mustBeat()
	n.mustBeat()
	c.settle()
	if len(c.owned["t"]) != 3 || n.count() != 3 {
		t.Fatalf("c %v n %v", c.owned, n.owned)
	}
	// A consumer-protocol member takes over the live classic member's
	// instance id.
	n2 := h.member("g", "n2", "t")
	n2.instance = kmsg.StringPtr("i-c")
	n2.mustBeat()
	if n2.count() != 3 || !slices.Equal(n2.owned["t"], c.owned["t"]) {
		t.Fatalf("replacement owns %v, replaced owned %v", n2.owned, c.owned)
	}
	if code := c.heartbeat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("replaced classic member's heartbeat: %v", kerr.ErrorForCode(code))
	}
	if d := h.describeCG("g"); len(d.Members) != 2 || memberOf(d, "n2").MemberType != 1 {
		t.Fatalf("after replacement: %+v", d)
	}
	// A classic member takes over i-n2's place; n still speaks the
	// consumer protocol: still a consumer group.
	c2 := h.classic("g", "t")
	c2.inst = kmsg.StringPtr("i-c")
	c2.join()
	c2.sync()
	if d := h.describeCG("g"); d.ErrorCode != 0 || len(d.Members) != 2 || len(c2.owned["t"]) != 3 {
		t.Fatalf("classic replacement: %+v owned %v", d, c2.owned)
	}
	// The last consumer-protocol member replaced by a classic one: a
	// Stable classic group, no rebalance, the member in n's place.
	c3 := h.classic("g", "t")
	c3.inst = kmsg.StringPtr("i-n")
	jr := c3.join()
	d := h.describe("g")
	if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 2 || jr.Generation != n.epoch {
		t.Fatalf("after downgrade by replacement: %v %+v join %+v", kerr.ErrorForCode(d.ErrorCode), d, jr)
	}
	c3.applySync(h.syncNow(c3.syncRequest(nil)))
	if !slices.Equal(c3.owned["t"], n.owned["t"]) {
		t.Fatalf("c3 owns %v, n owned %v", c3.owned, n.owned)
	}
	if code := c2.heartbeat(); code != 0 {
		t.Fatalf("c2 heartbeat in the classic group: %v", kerr.ErrorForCode(code))
	}
}
