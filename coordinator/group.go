package coordinator

// The classic group state machine (Kafka's ClassicGroup and the classic
// paths of GroupMetadataManager):
//
//	Empty ──join──► PreparingRebalance ──all joined / rebalance timeout──► CompletingRebalance
//	  ▲                 ▲   │ (no member left)                                   │ leader's SyncGroup
//	  └─────────────────┼───┘                                                    ▼
//	                    └──── member joins, leaves, changes protocols or dies ── Stable
//
// Every method here runs on the shard goroutine.

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64 // join order: the first member becomes leader

	// A parked JoinGroup or SyncGroup waiting for the rebalance.
	joinReq *kmsg.JoinGroupRequest
	joinCh  chan *kmsg.JoinGroupResponse
	syncReq *kmsg.SyncGroupRequest
	syncCh  chan *kmsg.SyncGroupResponse

	hb    Timer
	hbSeq uint64
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(protocol string) bool {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return true
		}
	}
	return false
}

type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	// logOffset is the __consumer_offsets offset of the record that
	// committed it: a transaction's offset replaces a group's offset only
	// if its record is the later one (Kafka's rule).
	logOffset int64
}

type group struct {
	sh           *shard
	id           string
	state        groupState
	stateSince   time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string

	members map[string]*member
	pending map[string]Timer  // member ids handed out with MEMBER_ID_REQUIRED
	statics map[string]string // group.instance.id -> member id
	nextSeq uint64

	// The current rebalance: its timer, a sequence number that makes stale
	// timer callbacks no-ops, and the initial-delay state (KIP-134).
	rebalanceTimer Timer
	rebalanceSeq   uint64
	initialDelay   bool
	newMemberAdded bool
	syncTimer      Timer

	offsets map[string]map[int32]offsetEntry

	// cg is set when the group is a KIP-848 consumer group
	// (consumer_group.go); then the classic fields above are unused.
	cg *consumerState
}

func newGroup(sh *shard, id string) *group {
	return &group{
		sh: sh, id: id, state: stateEmpty, stateSince: sh.now(),
		members: map[string]*member{}, pending: map[string]Timer{}, statics: map[string]string{},
		offsets: map[string]map[int32]offsetEntry{},
	}
}

func (g *group) setState(s groupState) {
	g.state = s
	g.stateSince = g.sh.now()
}

// stopAll stops every timer of the group (shard shutdown).
func (g *group) stopAll() {
	for _, m := range g.members {
		if m.hb != nil {
			m.hb.Stop()
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	if g.cg != nil {
		for _, m := range g.cg.members {
			g.stopConsumerTimers(m)
		}
	}
}

func newMemberID(prefix string) string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// sortedMembers returns the members in join order.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return int(a.seq) - int(b.seq) })
	return ms
}

// ---- heartbeats ----

// touch restarts m's session timer.
func (g *group) touch(m *member) {
	if m.hb != nil {
		m.hb.Stop()
	}
	m.hbSeq++
	seq := m.hbSeq
	m.hb = g.sh.after(m.sessionTimeout, func() { g.sessionExpired(m, seq) })
}

func (g *group) sessionExpired(m *member, seq uint64) {
	if g.members[m.id] != m || m.hbSeq != seq {
		return
	}
	if m.joinCh != nil || m.syncCh != nil {
		// Waiting on the group, not on the client: the rebalance (or
		// sync) timeout decides its fate.
		g.touch(m)
		return
	}
	g.sh.c.log.Info().Str("group", g.id).Str("member", m.id).Msg("member session expired")
	g.removeMember(m, kerr.UnknownMemberID.Code)
}

// ---- membership changes ----

func (g *group) addMember(m *member) {
	g.nextSeq++
	m.seq = g.nextSeq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.statics[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	if g.state == statePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
}

// removeMember drops m; parked requests of m get code; the group
// rebalances.
func (g *group) removeMember(m *member, code int16) {
	g.dropMember(m, code)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// dropMember removes m without triggering anything.
func (g *group) dropMember(m *member, code int16) {
	delete(g.members, m.id)
	if m.instanceID != nil && g.statics[*m.instanceID] == m.id {
		delete(g.statics, *m.instanceID)
	}
	if m.hb != nil {
		m.hb.Stop()
	}
	m.hbSeq++
	g.replyJoinErr(m, code)
	g.replySyncErr(m, code)
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

func (g *group) replyJoinErr(m *member, code int16) {
	if m.joinCh == nil {
		return
	}
	resp := m.joinReq.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.MemberID = m.id
	resp.Generation = -1
	m.joinCh <- resp
	m.joinCh, m.joinReq = nil, nil
}

func (g *group) replySyncErr(m *member, code int16) {
	if m.syncCh == nil {
		return
	}
	resp := m.syncReq.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code
	m.syncCh <- resp
	m.syncCh, m.syncReq = nil, nil
}

// ---- rebalancing ----

// prepareRebalance starts a rebalance: every member must rejoin.
func (g *group) prepareRebalance() {
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			g.replySyncErr(m, kerr.RebalanceInProgress.Code)
		}
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	wasEmpty := g.state == stateEmpty
	g.setState(statePreparingRebalance)
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	timeout := g.rebalanceTimeout()
	if delay := g.sh.c.cfg.InitialRebalanceDelay; wasEmpty && delay > 0 {
		// KIP-134: wait a little for more members before the first
		// generation, extending while members keep arriving, up to the
		// rebalance timeout.
		g.initialDelay = true
		g.newMemberAdded = false
		g.scheduleInitialDelay(seq, delay, timeout-delay)
		return
	}
	g.initialDelay = false
	g.rebalanceTimer = g.sh.after(timeout, func() {
		if g.rebalanceSeq == seq && g.state == statePreparingRebalance {
			g.completeJoin()
		}
	})
}

func (g *group) scheduleInitialDelay(seq uint64, delay, remaining time.Duration) {
	g.rebalanceTimer = g.sh.after(delay, func() {
		if g.rebalanceSeq != seq || g.state != statePreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			next := min(delay, remaining)
			g.scheduleInitialDelay(seq, next, remaining-next)
			return
		}
		g.initialDelay = false
		g.completeJoin()
	})
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// maybeCompleteJoin ends the join phase once every member has rejoined.
func (g *group) maybeCompleteJoin() {
	if g.state != statePreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, a new generation starts, and every parked JoinGroup is
// answered (the leader with the member list).
func (g *group) completeJoin() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	g.rebalanceSeq++
	for _, m := range g.sortedMembers() {
		if m.joinCh == nil {
			g.sh.c.log.Info().Str("group", g.id).Str("member", m.id).Msg("member did not rejoin in time")
			g.dropMember(m, kerr.UnknownMemberID.Code)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.setState(stateEmpty)
		g.persist() // an empty group: its offsets start to age
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.sortedMembers()[0].id
	}
	g.setState(stateCompletingRebalance)
	for _, m := range g.members {
		resp := g.joinResponse(m, m.joinReq)
		m.joinCh <- resp
		m.joinCh, m.joinReq = nil, nil
		g.touch(m)
	}
	// A leader that never syncs must not wedge the group.
	seq, gen := g.rebalanceSeq, g.generation
	g.syncTimer = g.sh.after(g.rebalanceTimeout(), func() {
		if g.rebalanceSeq != seq || g.generation != gen || g.state != stateCompletingRebalance {
			return
		}
		for _, m := range g.sortedMembers() {
			if m.syncCh == nil {
				g.dropMember(m, kerr.UnknownMemberID.Code)
			}
		}
		if len(g.members) == 0 {
			g.prepareRebalance()
			g.completeJoin()
			return
		}
		g.prepareRebalance()
	})
}

// joinResponse is m's JoinGroup answer for the current generation.
func (g *group) joinResponse(m *member, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

// selectProtocol picks the protocol every member supports that most
// members prefer (Kafka's vote).
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	var candidates []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			all = all && m.supports(p.Name)
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// supportsProtocols reports whether a member with these protocols may
// join (Kafka's ClassicGroup.supportsProtocols).
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self *member) bool {
	others := 0
	for _, m := range g.members {
		if m != self {
			others++
		}
	}
	if others == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if m != self && !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func protocolsEqual(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// ---- persistence ----

// metadataValue is the group's GroupMetadataValue record.
func (g *group) metadataValue() []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// persist writes the group's metadata record.
func (g *group) persist() error {
	return g.sh.write([]kv{{groupMetadataKey(g.id), g.metadataValue()}})
}

// restore applies a replayed GroupMetadataValue: the group comes back
// Stable with its members (or Empty), as Kafka loads it.
func (g *group) restore(v *kmsg.GroupMetadataValue) {
	g.cg = nil // a classic group record after consumer group records: it was converted back
	for _, m := range g.members {
		if m.hb != nil {
			m.hb.Stop()
		}
	}
	g.members, g.statics = map[string]*member{}, map[string]string{}
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.nextSeq++
		m.seq = g.nextSeq
		g.members[m.id] = m
		if m.instanceID != nil {
			g.statics[*m.instanceID] = m.id
		}
	}
	if g.members[g.leader] == nil {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	g.state = stateEmpty
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	if v.CurrentStateTimestamp <= 0 {
		g.stateSince = g.sh.now()
	}
}

// loaded runs after the replay: restored members must heartbeat within
// their session timeout.
func (g *group) loaded() {
	for _, m := range g.members {
		g.touch(m)
	}
}
