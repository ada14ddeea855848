package coordinator

// JoinGroup, SyncGroup, Heartbeat and LeaveGroup on the shard goroutine.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came from.
type Client struct {
	ID   string
	Host string
}

func joinErr(req *kmsg.JoinGroupRequest, code int16, memberID string) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.MemberID = memberID
	resp.Generation = -1
	return resp
}

// join handles a JoinGroup; the answer goes to ch, now or when the
// rebalance completes.
func (sh *shard) join(req *kmsg.JoinGroupRequest, cl Client, ch chan *kmsg.JoinGroupResponse) {
	cfg := sh.c.cfg
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		rebalance = session
	}
	switch {
	case req.Group == "":
		ch <- joinErr(req, kerr.InvalidGroupID.Code, req.MemberID)
		return
	case session < cfg.MinSessionTimeout || session > cfg.MaxSessionTimeout:
		ch <- joinErr(req, kerr.InvalidSessionTimeout.Code, req.MemberID)
		return
	case req.InstanceID != nil && *req.InstanceID == "":
		ch <- joinErr(req, kerr.InvalidGroupID.Code, req.MemberID)
		return
	}
	g := sh.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			ch <- joinErr(req, kerr.UnknownMemberID.Code, req.MemberID)
			return
		}
		g = newGroup(sh, req.Group)
	}
	if g.cg != nil {
		if len(g.cg.members) > 0 {
			// A classic member of a consumer group (consumer_migrate.go).
			g.classicJoinConsumer(req, cl, session, rebalance, ch)
			return
		}
		// An empty consumer group becomes a classic group (its offsets stay).
		if err := sh.write(consumerTombstones(g.id)); err != nil {
			ch <- joinErr(req, kerr.NotCoordinator.Code, req.MemberID)
			return
		}
		g.stopAll()
		g.cg = nil
		g.protocolType = ""
	}
	var self *member
	if req.MemberID != "" {
		self = g.members[req.MemberID]
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, self) {
		ch <- joinErr(req, kerr.InconsistentGroupProtocol.Code, req.MemberID)
		return
	}
	sh.groups[req.Group] = g // a new group exists from its first member on
	if req.MemberID == "" {
		g.joinNew(req, cl, session, rebalance, ch)
	} else {
		g.joinKnown(req, cl, session, rebalance, ch)
	}
	if len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.generation == 0 && g.state == stateEmpty {
		delete(sh.groups, g.id)
	}
}

func (g *group) joinNew(req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	if req.InstanceID != nil {
		if old := g.members[g.statics[*req.InstanceID]]; old != nil {
			g.replaceStatic(old, req, cl, session, rebalance, ch)
			return
		}
	}
	if len(g.members)+len(g.pending) >= g.sh.c.cfg.MaxGroupSize {
		ch <- joinErr(req, kerr.GroupMaxSizeReached.Code, "")
		return
	}
	prefix := cl.ID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	id := newMemberID(prefix)
	if req.InstanceID == nil && req.Version >= 4 {
		// KIP-394: hand out the id; the member joins again with it. If
		// it never does, forget it after the session timeout.
		g.pending[id] = g.sh.after(session, func() {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
				g.maybeCompleteJoin()
			}
		})
		ch <- joinErr(req, kerr.MemberIDRequired.Code, id)
		return
	}
	g.addAndRebalance(&member{
		id: id, instanceID: req.InstanceID, clientID: cl.ID, clientHost: cl.Host,
		sessionTimeout: session, rebalanceTimeout: rebalance,
		protocolType: req.ProtocolType, protocols: req.Protocols,
	}, req, ch)
}

func (g *group) addAndRebalance(m *member, req *kmsg.JoinGroupRequest, ch chan *kmsg.JoinGroupResponse) {
	if g.state == stateEmpty {
		g.protocolType = req.ProtocolType
	}
	g.addMember(m)
	m.joinReq, m.joinCh = req, ch
	g.touch(m)
	if g.state != statePreparingRebalance {
		g.prepareRebalance()
	}
	g.maybeCompleteJoin()
}

// replaceStatic gives a restarted static member (KIP-345) the place of its
// previous incarnation under a new member id; in a Stable group with the
// same protocols it gets its assignment back without a rebalance.
func (g *group) replaceStatic(old *member, req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	g.replyJoinErr(old, kerr.FencedInstanceID.Code)
	g.replySyncErr(old, kerr.FencedInstanceID.Code)
	if old.hb != nil {
		old.hb.Stop()
	}
	delete(g.members, old.id)
	m := *old
	m.id = newMemberID(*req.InstanceID)
	m.hb, m.hbSeq = nil, 0
	m.clientID, m.clientHost = cl.ID, cl.Host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocols = req.Protocols
	nm := &m
	g.members[nm.id] = nm
	g.statics[*req.InstanceID] = nm.id
	wasLeader := g.leader == old.id
	if wasLeader {
		g.leader = nm.id
	}
	g.touch(nm)
	switch g.state {
	case stateStable:
		// As Kafka: rebalance only if the protocol the group would select
		// changes; new metadata alone (e.g. a cooperative member that
		// forgot what it owned) does not.
		if g.selectProtocol() != g.protocol {
			nm.joinReq, nm.joinCh = req, ch
			g.prepareRebalance()
			return
		}
		if err := g.persist(); err != nil {
			// Undo: the old incarnation stays the member.
			delete(g.members, nm.id)
			nm.hb.Stop()
			g.members[old.id] = old
			g.statics[*req.InstanceID] = old.id
			if wasLeader {
				g.leader = old.id
			}
			g.touch(old)
			ch <- joinErr(req, kerr.UnknownServerError.Code, "")
			return
		}
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.Generation = g.generation
		resp.ProtocolType = kmsg.StringPtr(g.protocolType)
		resp.Protocol = kmsg.StringPtr(g.protocol)
		resp.LeaderID = g.leader
		resp.MemberID = nm.id
		if wasLeader && req.Version >= 9 {
			// KIP-814: the leader learns it leads but must not assign.
			resp.SkipAssignment = true
			for _, o := range g.sortedMembers() {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID, jm.InstanceID = o.id, o.instanceID
				jm.ProtocolMetadata = o.metadataFor(g.protocol)
				resp.Members = append(resp.Members, jm)
			}
		}
		ch <- resp
	case stateCompletingRebalance:
		nm.joinReq, nm.joinCh = req, ch
		g.prepareRebalance()
	default: // PreparingRebalance
		nm.joinReq, nm.joinCh = req, ch
		g.maybeCompleteJoin()
	}
}

func (g *group) joinKnown(req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		g.addAndRebalance(&member{
			id: req.MemberID, clientID: cl.ID, clientHost: cl.Host, sessionTimeout: session, rebalanceTimeout: rebalance,
			protocolType: req.ProtocolType, protocols: req.Protocols,
		}, req, ch)
		return
	}
	m := g.members[req.MemberID]
	if req.InstanceID != nil {
		if cur, ok := g.statics[*req.InstanceID]; ok && cur != req.MemberID {
			ch <- joinErr(req, kerr.FencedInstanceID.Code, req.MemberID)
			return
		}
	}
	if m == nil {
		ch <- joinErr(req, kerr.UnknownMemberID.Code, req.MemberID)
		return
	}
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	switch g.state {
	case statePreparingRebalance:
		g.replyJoinErr(m, kerr.RebalanceInProgress.Code) // a retried join replaces the parked one
		m.protocols = req.Protocols
		m.joinReq, m.joinCh = req, ch
		g.touch(m)
		g.maybeCompleteJoin()
	case stateCompletingRebalance:
		if protocolsEqual(m.protocols, req.Protocols) {
			// It missed its JoinGroup answer: give it again.
			g.touch(m)
			ch <- g.joinResponse(m, req)
			return
		}
		m.protocols = req.Protocols
		m.joinReq, m.joinCh = req, ch
		g.touch(m)
		g.prepareRebalance()
		g.maybeCompleteJoin() // a group of one has everyone
	case stateStable:
		if m.id == g.leader || !protocolsEqual(m.protocols, req.Protocols) {
			// The leader rejoining asks for a rebalance (e.g. a metadata
			// change it noticed).
			m.protocols = req.Protocols
			m.joinReq, m.joinCh = req, ch
			g.touch(m)
			g.prepareRebalance()
			g.maybeCompleteJoin() // a group of one has everyone
			return
		}
		g.touch(m)
		ch <- g.joinResponse(m, req)
	default:
		ch <- joinErr(req, kerr.UnknownMemberID.Code, req.MemberID)
	}
}

// validateMember is the member/instance/generation check shared by
// SyncGroup, Heartbeat and OffsetCommit.
func (g *group) validateMember(memberID string, instanceID *string, generation int32) (*member, int16) {
	if instanceID != nil {
		if cur, ok := g.statics[*instanceID]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration.Code
	}
	return m, 0
}

func (sh *shard) sync(req *kmsg.SyncGroupRequest, ch chan *kmsg.SyncGroupResponse) {
	reply := func(code int16, assignment []byte) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		resp.MemberAssignment = assignment
		ch <- resp
	}
	g := sh.groups[req.Group]
	if g == nil {
		reply(kerr.UnknownMemberID.Code, nil)
		return
	}
	if g.cg != nil {
		ch <- g.classicSyncConsumer(req)
		return
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		reply(code, nil)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		reply(kerr.InconsistentGroupProtocol.Code, nil)
		return
	}
	switch g.state {
	case stateEmpty:
		reply(kerr.UnknownMemberID.Code, nil)
	case statePreparingRebalance:
		reply(kerr.RebalanceInProgress.Code, nil)
	case stateStable:
		g.touch(m)
		g.syncResponse(req, ch, m)
	case stateCompletingRebalance:
		g.replySyncErr(m, kerr.RebalanceInProgress.Code)
		m.syncReq, m.syncCh = req, ch
		g.touch(m)
		if m.id != g.leader {
			return
		}
		for _, o := range g.members {
			o.assignment = []byte{}
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		if err := g.persist(); err != nil {
			for _, o := range g.members {
				o.assignment = nil
				g.replySyncErr(o, kerr.CoordinatorNotAvailable.Code)
			}
			g.prepareRebalance()
			return
		}
		if g.syncTimer != nil {
			g.syncTimer.Stop()
			g.syncTimer = nil
		}
		g.setState(stateStable)
		for _, o := range g.members {
			if o.syncCh != nil {
				g.syncResponse(o.syncReq, o.syncCh, o)
				o.syncCh, o.syncReq = nil, nil
			}
		}
	}
}

func (g *group) syncResponse(req *kmsg.SyncGroupRequest, ch chan *kmsg.SyncGroupResponse, m *member) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	ch <- resp
}

func (sh *shard) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	g := sh.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.cg != nil {
		return g.classicHeartbeatConsumer(req)
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		return code
	}
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		g.touch(m)
		return kerr.RebalanceInProgress.Code
	default:
		g.touch(m)
		return 0
	}
}

// leave removes members; v3+ names them (with instance ids), older
// versions send one member id.
func (sh *shard) leave(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	g := sh.groups[req.Group]
	for _, lm := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = g.leaveOne(lm)
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (g *group) leaveOne(lm kmsg.LeaveGroupRequestMember) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.cg != nil {
		return g.classicLeaveConsumer(lm)
	}
	id := lm.MemberID
	if lm.InstanceID != nil {
		cur, ok := g.statics[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if id != "" && id != cur {
			return kerr.FencedInstanceID.Code
		}
		id = cur
	}
	if t, ok := g.pending[id]; ok {
		t.Stop()
		delete(g.pending, id)
		g.maybeCompleteJoin()
		return 0
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.sh.c.log.Info().Str("group", g.id).Str("member", id).Msg("member left")
	g.removeMember(m, kerr.UnknownMemberID.Code)
	return 0
}
