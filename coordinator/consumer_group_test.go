package coordinator

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeTopics is a mutable topic view for consumer group tests.
type fakeTopics struct {
	mu     sync.Mutex
	topics map[string]TopicInfo
}

func (f *fakeTopics) Topic(name string) (TopicInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.topics[name]
	return t, ok
}

func (f *fakeTopics) TopicName(id [16]byte) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, t := range f.topics {
		if t.ID == id {
			return n, true
		}
	}
	return "", false
}

func (f *fakeTopics) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.topics {
		out = append(out, n)
	}
	return out
}

func (f *fakeTopics) set(name string, partitions int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := [16]byte{byte(len(name)), name[0], 1}
	if t, ok := f.topics[name]; ok {
		id = t.ID
	}
	f.topics[name] = TopicInfo{ID: id, Partitions: partitions}
}

type cgHarness struct {
	*harness
	topics *fakeTopics
}

func newCGHarness(t *testing.T) *cgHarness {
	t.Helper()
	ft := &fakeTopics{topics: map[string]TopicInfo{}}
	ft.set("t", 4)
	ft.set("u", 2)
	h := newHarness(t, func(c *Config) { c.Topics = func() Topics { return ft } })
	return &cgHarness{harness: h, topics: ft}
}

// cgMember is a test client of a consumer group: it owns what the last
// response assigned.
type cgMember struct {
	h        *cgHarness
	group    string
	id       string
	instance *string
	epoch    int32
	owned    map[string][]int32
	topics   []string
	regex    *string
}

func (h *cgHarness) member(group, id string, topics ...string) *cgMember {
	return &cgMember{h: h, group: group, id: id, topics: topics, owned: map[string][]int32{}}
}

func (m *cgMember) request() *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = m.group, m.id, m.epoch, m.instance
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = m.topics
	req.SubscribedTopicRegex = m.regex
	if m.regex != nil {
		req.SubscribedTopicNames = nil
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, t := range sortedKeys(m.owned) {
		ti, _ := m.h.topics.Topic(t)
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: ti.ID, Partitions: slices.Clone(m.owned[t])})
	}
	return req
}

func (m *cgMember) send(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	m.h.t.Helper()
	resp, err := m.h.c.ConsumerGroupHeartbeat(ctxT(m.h.t), req, Client{ID: "c", Host: "/127.0.0.1"})
	if err != nil {
		m.h.t.Fatal(err)
	}
	return resp
}

// beat heartbeats and applies the response; it returns the error code.
func (m *cgMember) beat() int16 {
	m.h.t.Helper()
	resp := m.send(m.request())
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	m.epoch = resp.MemberEpoch
	if resp.MemberID != nil {
		m.id = *resp.MemberID
	}
	if resp.Assignment != nil {
		m.owned = map[string][]int32{}
		for _, t := range resp.Assignment.Topics {
			name, _ := m.h.topics.TopicName(t.TopicID)
			m.owned[name] = slices.Clone(t.Partitions)
		}
	}
	return 0
}

func (m *cgMember) mustBeat() {
	m.h.t.Helper()
	if code := m.beat(); code != 0 {
		m.h.t.Fatalf("member %s heartbeat: %v", m.id, kerr.ErrorForCode(code))
	}
}

func (m *cgMember) count() int {
	n := 0
	for _, ps := range m.owned {
		n += len(ps)
	}
	return n
}

func (h *cgHarness) describeCG(group string) kmsg.ConsumerGroupDescribeResponseGroup {
	h.t.Helper()
	d, err := h.c.ConsumerGroupDescribe(ctxT(h.t), group, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// disjoint fails if two members own the same partition.
func disjoint(t *testing.T, ms ...*cgMember) {
	t.Helper()
	seen := map[partKey]string{}
	for _, m := range ms {
		for tp, ps := range m.owned {
			for _, p := range ps {
				if o, ok := seen[partKey{tp, p}]; ok {
					t.Fatalf("%s-%d owned by %s and %s", tp, p, o, m.id)
				}
				seen[partKey{tp, p}] = m.id
			}
		}
	}
}

func TestConsumerGroupJoin(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t", "u")
	a.mustBeat()
	if a.epoch != 1 || a.count() != 6 {
		t.Fatalf("after join: epoch %d, %d partitions %v", a.epoch, a.count(), a.owned)
	}
	d := h.describeCG("g")
	if d.ErrorCode != 0 || d.State != "Stable" || d.Epoch != 1 || d.AssignmentEpoch != 1 || d.AssignorName != "uniform" || len(d.Members) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	// v0 lets the server pick the member id.
	b := h.member("g2", "", "t")
	req := b.request()
	req.Version = 0
	resp := b.send(req)
	if resp.ErrorCode != 0 || resp.MemberID == nil || *resp.MemberID == "" || resp.MemberEpoch != 1 {
		t.Fatalf("v0 join: %+v", resp)
	}
	if resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("heartbeat interval %d", resp.HeartbeatIntervalMillis)
	}
}

func TestConsumerGroupErrors(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t")
	a.mustBeat()
	for _, tc := range []struct {
		name string
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		code int16
	}{
		{"v1 empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest.Code},
		{"epoch -3", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor.Code},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "zz" }, kerr.UnknownMemberID.Code},
		{"future epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7 }, kerr.FencedMemberEpoch.Code},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "nope" }, kerr.GroupIDNotFound.Code},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression.Code},
		{"join with owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.MemberEpoch = "new", 0
		}, kerr.InvalidRequest.Code},
	} {
		req := a.request()
		tc.mod(req)
		if got := a.send(req).ErrorCode; got != tc.code {
			t.Errorf("%s: got %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.code))
		}
	}
	// A classic group with members whose subscription is no consumer
	// protocol cannot be upgraded: it is not a consumer group.
	jr := h.wait(h.joinAsync("classic", "", nil, 5, "m"))
	if jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	h.wait(h.joinAsync("classic", jr.MemberID, nil, 5, "m"))
	c := h.member("classic", "c", "t")
	if code := c.beat(); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat to classic group: %v", kerr.ErrorForCode(code))
	}
	// JoinGroup to a consumer group with members: a member id first, then
	// a subscription that is no consumer protocol is refused.
	jr = h.wait(h.joinAsync("g", "", nil, 5, "m"))
	if jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join of consumer group: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	if jr := h.wait(h.joinAsync("g", jr.MemberID, nil, 5, "m")); jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of consumer group: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
}

func TestConsumerGroupRebalanceRevokes(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t")
	a.mustBeat()
	if a.count() != 4 {
		t.Fatalf("a owns %v", a.owned)
	}
	b := h.member("g", "b", "t")
	b.mustBeat()
	// b's target is half of t, all still owned by a: b gets nothing yet,
	// but is at the new epoch.
	if b.epoch != 2 || b.count() != 0 {
		t.Fatalf("b: epoch %d owned %v", b.epoch, b.owned)
	}
	if d := h.describeCG("g"); d.State != "Reconciling" {
		t.Fatalf("state %s", d.State)
	}
	// a is told to revoke two partitions: it keeps its epoch.
	a.mustBeat()
	if a.epoch != 1 || a.count() != 2 {
		t.Fatalf("a after revoke notice: epoch %d owned %v", a.epoch, a.owned)
	}
	disjoint(t, a, b)
	// a acknowledges by heartbeating what it owns now: new epoch.
	a.mustBeat()
	if a.epoch != 2 {
		t.Fatalf("a epoch %d", a.epoch)
	}
	// b picks up the released partitions.
	b.mustBeat()
	if b.count() != 2 || a.count() != 2 {
		t.Fatalf("a %v b %v", a.owned, b.owned)
	}
	disjoint(t, a, b)
	if d := h.describeCG("g"); d.State != "Stable" || d.Epoch != 2 {
		t.Fatalf("state %s epoch %d", d.State, d.Epoch)
	}
	// A stale epoch is fenced; the previous epoch with only assigned
	// partitions is accepted.
	req := a.request()
	req.MemberEpoch = 1
	if resp := a.send(req); resp.ErrorCode != 0 || resp.MemberEpoch != 2 {
		t.Fatalf("previous epoch: %+v", resp)
	}
	req = b.request()
	req.MemberEpoch = 1
	req.Topics[0].Partitions = []int32{0, 1, 2, 3}
	if resp := b.send(req); resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Offsets: the member epoch is the generation.
	commit := func(m *cgMember, epoch int32) int16 {
		cr := kmsg.NewPtrOffsetCommitRequest()
		cr.Version, cr.Group, cr.MemberID, cr.Generation = 9, "g", m.id, epoch
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = "t"
		ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}
		cr.Topics = append(cr.Topics, ct)
		resp, err := h.c.CommitOffsets(ctxT(t), cr)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(a, 2); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if code := commit(a, 1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(code))
	}
	if code := commit(&cgMember{id: "x"}, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member commit: %v", kerr.ErrorForCode(code))
	}
	if code, _ := h.c.CheckOffsetFetchMember(ctxT(t), "g", a.id, 1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale fetch: %v", kerr.ErrorForCode(code))
	}
	// a leaves: b gets everything.
	req = a.request()
	req.MemberEpoch = -1
	if resp := a.send(req); resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", resp)
	}
	b.mustBeat()
	if b.count() != 4 || b.epoch != 3 {
		t.Fatalf("b after a left: epoch %d %v", b.epoch, b.owned)
	}
	// Offsets of a subscribed topic cannot be deleted.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if resp, _ := h.c.DeleteOffsets(ctxT(t), od); resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("OffsetDelete: %+v", resp)
	}
	// The group type shows in ListGroups; a non-empty group is not deleted.
	ls, _ := h.c.ListGroups(ctxT(t), nil)
	if len(ls) != 1 || ls[0].Type != GroupTypeConsumer || ls[0].State != "Stable" {
		t.Fatalf("list: %+v", ls)
	}
	if code, _ := h.c.DeleteGroup(ctxT(t), "g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	if d, _ := h.c.DescribeGroup(ctxT(t), "g", false); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %+v", d)
	}
}

func TestConsumerGroupRevocationTimeout(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t")
	a.mustBeat()
	b := h.member("g", "b", "t")
	b.mustBeat()
	a.mustBeat() // told to revoke; never acknowledges
	h.advance(31 * time.Second)
	if code := a.beat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("a after rebalance timeout: %v", kerr.ErrorForCode(code))
	}
	b.mustBeat()
	if b.count() != 4 {
		t.Fatalf("b owns %v", b.owned)
	}
}

func TestConsumerGroupSessionExpiry(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t")
	b := h.member("g", "b", "t")
	a.mustBeat()
	b.mustBeat()
	for i := 0; i < 4; i++ {
		h.advance(20 * time.Second)
		a.mustBeat()
		b.mustBeat()
	}
	disjoint(t, a, b)
	if a.count()+b.count() != 4 {
		t.Fatalf("a %v b %v", a.owned, b.owned)
	}
	// b stops heartbeating: after the session timeout a gets all.
	h.advance(30 * time.Second)
	a.mustBeat()
	h.advance(20 * time.Second)
	a.mustBeat()
	a.mustBeat()
	if a.count() != 4 {
		t.Fatalf("a owns %v", a.owned)
	}
	if code := b.beat(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %v", kerr.ErrorForCode(code))
	}
	// The last member's expiry empties the group.
	h.advance(50 * time.Second)
	if d := h.describeCG("g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe: %+v", d)
	}
	if code, _ := h.c.DeleteGroup(ctxT(t), "g"); code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
}

func TestConsumerGroupStaticRejoin(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a1", "t")
	a.instance = kmsg.StringPtr("ia")
	b := h.member("g", "b", "t")
	a.mustBeat()
	b.mustBeat()
	a.mustBeat()
	a.mustBeat()
	b.mustBeat()
	epoch := h.describeCG("g").Epoch
	owned := a.owned
	// Another member cannot take the instance id while a is in.
	a2 := h.member("g", "a2", "t")
	a2.instance = a.instance
	if code := a2.beat(); code != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("instance in use: %v", kerr.ErrorForCode(code))
	}
	// a leaves temporarily (-2) and a new process with its instance id
	// takes its place and its partitions, without a new group epoch.
	req := a.request()
	req.MemberEpoch = -2
	if resp := a.send(req); resp.ErrorCode != 0 || resp.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", resp)
	}
	a2.mustBeat()
	if !assignmentEqual(a2.owned, owned) {
		t.Fatalf("a2 owns %v, a owned %v", a2.owned, owned)
	}
	if d := h.describeCG("g"); d.Epoch != epoch || len(d.Members) != 2 {
		t.Fatalf("epoch %d (was %d), %d members", d.Epoch, epoch, len(d.Members))
	}
	disjoint(t, a2, b)
}

func TestConsumerGroupMetadataAndRegex(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a")
	a.regex = kmsg.StringPtr("t|v.*")
	a.mustBeat()
	if a.count() != 4 {
		t.Fatalf("regex: owns %v", a.owned)
	}
	// A new matching topic and more partitions bump the group epoch.
	h.topics.set("v1", 3)
	a.mustBeat()
	if a.count() != 7 || a.epoch != 2 {
		t.Fatalf("after topic created: epoch %d %v", a.epoch, a.owned)
	}
	h.topics.set("t", 6)
	a.mustBeat()
	if a.count() != 9 || a.epoch != 3 {
		t.Fatalf("after partitions added: epoch %d %v", a.epoch, a.owned)
	}
	d := h.describeCG("g")
	if d.Members[0].SubscribedTopicRegex == nil || *d.Members[0].SubscribedTopicRegex != "t|v.*" {
		t.Fatalf("describe: %+v", d.Members[0])
	}
	// range assignor on request.
	r := h.member("gr", "r", "t")
	req := r.request()
	req.ServerAssignor = kmsg.StringPtr("range")
	if resp := r.send(req); resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	if d := h.describeCG("gr"); d.AssignorName != "range" {
		t.Fatalf("assignor %q", d.AssignorName)
	}
}

// TestConsumerGroupReload: a consumer group is rebuilt from its records
// after a restart, mid-revocation: epochs, assignments, the pending
// revocation and the target carry over, and the members go on.
func TestConsumerGroupReload(t *testing.T) {
	t.Parallel()
	h := newCGHarness(t)
	a := h.member("g", "a", "t")
	a.instance = kmsg.StringPtr("ia")
	a.mustBeat()
	b := h.member("g", "b", "t", "u")
	b.mustBeat()
	a.mustBeat() // told to revoke
	if a.count() >= 4 {
		t.Fatalf("a owns %v", a.owned)
	}
	before := h.describeCG("g")
	h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics } })
	after := h.describeCG("g")
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || after.State != before.State || len(after.Members) != 2 {
		t.Fatalf("before %+v\nafter %+v", before, after)
	}
	for i := range before.Members {
		bm, am := before.Members[i], after.Members[i]
		if bm.MemberID != am.MemberID || bm.MemberEpoch != am.MemberEpoch || !slices.Equal(bm.SubscribedTopics, am.SubscribedTopics) ||
			!equalAssignment(bm.Assignment, am.Assignment) || !equalAssignment(bm.TargetAssignment, am.TargetAssignment) {
			t.Fatalf("member before %+v\nafter %+v", bm, am)
		}
	}
	// The revocation completes after the restart.
	a.mustBeat()
	b.mustBeat()
	disjoint(t, a, b)
	if a.count()+b.count() != 6 || a.epoch != b.epoch {
		t.Fatalf("a %d %v b %d %v", a.epoch, a.owned, b.epoch, b.owned)
	}
	// Leave, restart: the member is gone; the static instance id is free.
	req := a.request()
	req.MemberEpoch = -1
	if resp := a.send(req); resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics } })
	if d := h.describeCG("g"); len(d.Members) != 1 || d.Members[0].MemberID != "b" {
		t.Fatalf("after leave and restart: %+v", d)
	}
	a2 := h.member("g", "a2", "t")
	a2.instance = kmsg.StringPtr("ia")
	a2.mustBeat()
	// Empty and deleted: nothing left after a restart.
	for _, m := range []*cgMember{a2, b} {
		req := m.request()
		req.MemberEpoch = -1
		m.send(req)
	}
	if code, _ := h.c.DeleteGroup(ctxT(t), "g"); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	h.restart(func(c *Config) { c.Topics = func() Topics { return h.topics } })
	if d := h.describeCG("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after restart: %+v", d)
	}
}

func equalAssignment(a, b kmsg.Assignment) bool {
	if len(a.TopicPartitions) != len(b.TopicPartitions) {
		return false
	}
	for i := range a.TopicPartitions {
		x, y := a.TopicPartitions[i], b.TopicPartitions[i]
		if x.TopicID != y.TopicID || x.Topic != y.Topic || !slices.Equal(x.Partitions, y.Partitions) {
			return false
		}
	}
	return true
}

// TestConsumerRecordsRoundTrip: each record type decodes to what was
// encoded.
func TestConsumerRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	id := [16]byte{1, 2, 3}
	parts := map[[16]byte][]int32{id: {0, 2}}
	meta := &cgMemberMeta{instanceID: kmsg.StringPtr("i"), clientID: "c", clientHost: "/h", topics: []string{"a", "b"},
		regex: kmsg.StringPtr("x.*"), rebalanceTimeoutMs: 1234, assignor: kmsg.StringPtr("range")}
	for _, tc := range []struct {
		name  string
		key   []byte
		value []byte
		check func(*cgRecord) bool
	}{
		{"group", cgKey(cgRecordMetadata, "g"), cgGroupValue(7, -99), func(r *cgRecord) bool { return r.epoch == 7 && r.metadataHash == -99 }},
		{"member", cgKey(cgRecordMember, "g", "m"), cgMemberValue(meta), func(r *cgRecord) bool {
			m := r.meta
			return r.member == "m" && *m.instanceID == "i" && m.rackID == nil && m.clientID == "c" && m.clientHost == "/h" &&
				slices.Equal(m.topics, meta.topics) && *m.regex == "x.*" && m.rebalanceTimeoutMs == 1234 && *m.assignor == "range"
		}},
		{"target epoch", cgKey(cgRecordTargetMetadata, "g"), cgEpochValue(5), func(r *cgRecord) bool { return r.epoch == 5 }},
		{"target member", cgKey(cgRecordTargetMember, "g", "m"), cgTargetValue(parts), func(r *cgRecord) bool { return slices.Equal(r.parts[id], []int32{0, 2}) }},
		{"current", cgKey(cgRecordCurrent, "g", "m"), cgCurrentValue(4, 3, 2, parts, map[[16]byte][]int32{id: {1}}), func(r *cgRecord) bool {
			return r.epoch == 4 && r.prevEpoch == 3 && r.state == 2 && slices.Equal(r.parts[id], []int32{0, 2}) && slices.Equal(r.revoking[id], []int32{1})
		}},
		{"tombstone", cgKey(cgRecordCurrent, "g", "m"), nil, func(r *cgRecord) bool { return r.tombstone && r.member == "m" }},
	} {
		rec, err := decodeRecord(tc.key, tc.value)
		if err != nil || rec.cg == nil || rec.cg.group != "g" || !tc.check(rec.cg) {
			t.Errorf("%s: %v %+v", tc.name, err, rec.cg)
		}
		if tc.value != nil {
			if _, err := decodeRecord(tc.key, tc.value[:len(tc.value)-1]); err == nil {
				t.Errorf("%s: truncated value decoded", tc.name)
			}
		}
	}
}
