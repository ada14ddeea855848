package coordinator

// Online migration between classic and consumer groups (KIP-848; Kafka
// 4.0's group.consumer.migration.policy), after Kafka's
// GroupMetadataManager (validateOnlineUpgrade, convertToConsumerGroup,
// classicGroup{Join,Sync,Heartbeat,Leave}ToConsumerGroup,
// validateOnlineDowngradeWithFencedMember, convertToClassicGroup):
//
//   - upgrade: a ConsumerGroupHeartbeat joining a classic group with
//     members (protocol type "consumer", policy upgrade or bidirectional,
//     no more members than group.consumer.max.size) converts it: each
//     classic member becomes a consumer group member that keeps its
//     classic metadata (supported protocols, session timeout), with its
//     subscription from its ConsumerProtocolSubscription, its partitions
//     (current and target) from its ConsumerProtocolAssignment and the
//     generation as group, target and member epoch. The classic group
//     record gets a tombstone and the consumer group records are written
//     in the same batch;
//   - classic members inside a consumer group: JoinGroup reconciles the
//     member (its owned partitions from its subscription) and answers at
//     once with its member epoch as generation, no leader and no member
//     list; SyncGroup returns its current assignment as a
//     ConsumerProtocolAssignment; Heartbeat answers REBALANCE_IN_PROGRESS
//     while the group epoch is ahead of the member's, it must revoke, or
//     partitions it waits for are free; LeaveGroup removes it. A classic
//     member has no revocation timer but a join timer (it must rejoin
//     within its rebalance timeout once told to) and a sync timer (it must
//     sync within its rebalance timeout after a join); its session is its
//     classic session timeout;
//   - downgrade: when the last member of the consumer protocol is fenced
//     (leave, session or rebalance timeout) and only classic members
//     remain (policy downgrade or bidirectional, at most group.max.size),
//     the group becomes a classic group at generation = group epoch, its
//     members' assignments the encoded target assignment, and rebalances.
//     The consumer group records get tombstones and the classic group
//     record is written in the same batch.
//
// A classic static member replacing the last static member of the
// consumer protocol also downgrades the group (without a rebalance: the
// member takes the replaced one's place and partitions), as Kafka's
// validateOnlineDowngradeWithReplacedMemberId.

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Migration policies (group.consumer.migration.policy).
const (
	MigrationDisabled      = "disabled"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationBidirectional = "bidirectional"
)

func upgradeAllowed(policy string) bool {
	p := strings.ToLower(policy)
	return p == "" || p == MigrationBidirectional || p == MigrationUpgrade
}

func downgradeAllowed(policy string) bool {
	p := strings.ToLower(policy)
	return p == "" || p == MigrationBidirectional || p == MigrationDowngrade
}

// classicMeta is what a consumer group keeps of a member that speaks the
// classic protocol (Kafka's ClassicMemberMetadata).
type classicMeta struct {
	sessionTimeout time.Duration
	protocols      []kmsg.JoinGroupRequestProtocol
}

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)}
	}
	return out
}

// assignmentVersion is the ConsumerProtocolAssignment version answering a
// subscription: the subscription's version, at most 3.
func assignmentVersion(subscription []byte) int16 {
	if len(subscription) < 2 {
		return 0
	}
	return min(max(int16(binary.BigEndian.Uint16(subscription)), 0), 3)
}

// encodeAssignment encodes partitions as a ConsumerProtocolAssignment.
func encodeAssignment(parts map[string][]int32, version int16) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = version
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{}
	for _, t := range sortedKeys(parts) {
		if len(parts[t]) == 0 {
			continue
		}
		a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: t, Partitions: slices.Clone(parts[t])})
	}
	return a.AppendTo(nil)
}

// notConsumer is the answer to a ConsumerGroupHeartbeat for a classic
// group that cannot be upgraded.
func (g *group) notConsumer(why string) (int16, string) {
	g.sh.c.log.Info().Str("group", g.id).Str("reason", why).Msg("classic group not upgraded to consumer group")
	return kerr.GroupIDNotFound.Code, "Group " + g.id + " is not a consumer group."
}

// upgradeToConsumer converts a classic group with members into a consumer
// group (Kafka's validateOnlineUpgrade and convertToConsumerGroup); it
// returns the error for the joining ConsumerGroupHeartbeat if it cannot.
func (g *group) upgradeToConsumer() (int16, string) {
	cfg := &g.sh.c.cfg
	switch {
	case !upgradeAllowed(cfg.ConsumerMigrationPolicy):
		return g.notConsumer("online upgrade disabled")
	case g.protocolType != "consumer":
		return g.notConsumer("protocol type is not consumer")
	case cfg.ConsumerMaxSize > 0 && len(g.members) > cfg.ConsumerMaxSize:
		return g.notConsumer("group larger than group.consumer.max.size")
	case cfg.ConsumerMaxSize > 0 && len(g.members) == cfg.ConsumerMaxSize:
		// Converted, the group would refuse the joining member: Kafka
		// discards the conversion with the join.
		return kerr.GroupMaxSizeReached.Code, ""
	}
	topics := g.sh.c.topics()
	cg := newConsumerState()
	cg.epoch, cg.targetEpoch = g.generation, g.generation
	malformed := func() (int16, string) {
		g.sh.c.log.Info().Str("group", g.id).Msg("classic group not upgraded: malformed consumer protocol")
		return kerr.GroupIDNotFound.Code, "Cannot upgrade the classic group " + g.id + " to consumer group because the embedded consumer protocol is malformed."
	}
	for _, om := range g.sortedMembers() {
		meta := om.metadataFor(g.protocol)
		if g.protocol == "" && len(om.protocols) > 0 {
			meta = om.protocols[0].Metadata // no generation completed yet
		}
		var sub kmsg.ConsumerMemberMetadata
		if err := sub.ReadFrom(meta); err != nil {
			return malformed()
		}
		assigned := map[string][]int32{}
		if len(om.assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(om.assignment); err != nil {
				return malformed()
			}
			for _, at := range a.Topics {
				ti, ok := topics.Topic(at.Topic)
				if !ok {
					continue
				}
				for _, p := range at.Partitions {
					k := partKey{at.Topic, p}
					if _, taken := cg.owners[k]; taken || p < 0 || p >= ti.Partitions {
						continue
					}
					cg.owners[k] = om.id
					assigned[at.Topic] = append(assigned[at.Topic], p)
				}
				slices.Sort(assigned[at.Topic])
			}
		}
		ts := slices.Clone(sub.Topics)
		slices.Sort(ts)
		m := &cmember{
			id: om.id, instanceID: om.instanceID, clientID: om.clientID, clientHost: om.clientHost,
			rebalanceTimeout: om.rebalanceTimeout, topics: slices.Compact(ts),
			epoch: g.generation, prevEpoch: g.generation, state: memberStable,
			assigned: assigned, revoking: map[string][]int32{},
			classic: &classicMeta{sessionTimeout: om.sessionTimeout, protocols: cloneProtocols(om.protocols)},
		}
		if sub.Rack != nil && *sub.Rack != "" {
			m.rackID = sub.Rack
		}
		cg.members[m.id] = m
		if m.instanceID != nil {
			cg.statics[*m.instanceID] = m.id
		}
		target := map[string][]int32{}
		for t, ps := range assigned {
			target[t] = slices.Clone(ps)
		}
		cg.target[m.id] = target
	}
	cg.targetDirty = true
	g.cg = cg
	cg.metaHash = g.subscriptionHash()
	recs, commit := g.consumerRecords(topics)
	recs = append([]kv{{groupMetadataKey(g.id), nil}}, recs...)
	if err := g.sh.write(recs); err != nil {
		g.cg = nil
		return kerr.NotCoordinator.Code, ""
	}
	commit()
	// The classic side is over: parked requests rejoin the consumer group.
	for _, om := range g.members {
		g.replyJoinErr(om, kerr.RebalanceInProgress.Code)
		g.replySyncErr(om, kerr.RebalanceInProgress.Code)
	}
	g.cg = nil
	g.stopAll()
	g.cg = cg
	g.members, g.pending, g.statics = map[string]*member{}, map[string]Timer{}, map[string]string{}
	g.rebalanceSeq++
	g.rebalanceTimer, g.syncTimer = nil, nil
	g.protocolType, g.protocol, g.leader, g.generation = "consumer", "", "", 0
	g.setState(stateStable)
	if len(cg.members) == 0 {
		g.setState(stateEmpty)
	}
	for _, m := range cg.members {
		g.touchConsumer(m)
	}
	g.sh.c.log.Info().Str("group", g.id).Int32("epoch", cg.epoch).Int("members", len(cg.members)).Msg("classic group upgraded to consumer group")
	return 0, ""
}

// fenceConsumerMember removes m from the group (it left, or a timeout
// fenced it), downgrading the group to a classic group if only classic
// members remain; false if the records could not be written.
func (g *group) fenceConsumerMember(m *cmember, why string) bool {
	if g.canDowngrade(m) && g.downgradeToClassic(m, true) {
		return true
	}
	g.removeConsumerMember(m, why)
	return g.flushConsumer()
}

// canDowngrade is Kafka's validateOnlineDowngradeWithFencedMember.
func (g *group) canDowngrade(leaving *cmember) bool {
	cg := g.cg
	if leaving.classic != nil || len(cg.members) <= 1 || cg.members[leaving.id] != leaving {
		return false
	}
	for _, o := range cg.members {
		if o != leaving && o.classic == nil {
			return false
		}
	}
	cfg := &g.sh.c.cfg
	if !downgradeAllowed(cfg.ConsumerMigrationPolicy) {
		g.sh.c.log.Info().Str("group", g.id).Msg("consumer group not downgraded: online downgrade disabled")
		return false
	}
	if len(cg.members)-1 > cfg.MaxGroupSize {
		g.sh.c.log.Info().Str("group", g.id).Msg("consumer group not downgraded: larger than group.max.size")
		return false
	}
	return true
}

// canDowngradeReplaced is Kafka's validateOnlineDowngradeWithReplacedMemberId,
// checked once a classic static member has replaced (joined in place of)
// a static member of the consumer protocol: every member is classic now.
func (g *group) canDowngradeReplaced() bool {
	cg := g.cg
	for _, o := range cg.members {
		if o.classic == nil {
			return false
		}
	}
	cfg := &g.sh.c.cfg
	return downgradeAllowed(cfg.ConsumerMigrationPolicy) && len(cg.members) <= cfg.MaxGroupSize
}

// downgradeToClassic converts the consumer group, without leaving (nil:
// none), into a classic group, which rebalances if rebalance is set
// (Kafka's convertToClassicGroup).
func (g *group) downgradeToClassic(leaving *cmember, rebalance bool) bool {
	cg := g.cg
	topics := g.sh.c.topics()
	var recs []kv
	for _, id := range append(slices.Clone(cg.removed), sortedKeys(cg.members)...) {
		recs = append(recs,
			kv{cgKey(cgRecordCurrent, g.id, id), nil},
			kv{cgKey(cgRecordTargetMember, g.id, id), nil},
			kv{cgKey(cgRecordMember, g.id, id), nil})
	}
	recs = append(recs,
		kv{cgKey(cgRecordTargetMetadata, g.id), nil},
		kv{cgKey(cgRecordPartitionMeta, g.id), nil},
		kv{cgKey(cgRecordMetadata, g.id), nil})

	state, since := g.state, g.stateSince
	g.members, g.statics, g.leader, g.nextSeq = map[string]*member{}, map[string]string{}, "", 0
	g.protocolType, g.generation = "consumer", cg.epoch
	for _, id := range sortedKeys(cg.members) {
		o := cg.members[id]
		if o == leaving {
			continue
		}
		g.addMember(&member{
			id: o.id, instanceID: o.instanceID, clientID: o.clientID, clientHost: o.clientHost,
			rebalanceTimeout: o.rebalanceTimeout, sessionTimeout: o.classic.sessionTimeout,
			protocolType: "consumer", protocols: cloneProtocols(o.classic.protocols),
		})
	}
	g.protocol = g.selectProtocol()
	for _, m := range g.members {
		target := map[string][]int32{}
		for t, ps := range cg.target[m.id] {
			if _, ok := topics.Topic(t); ok {
				target[t] = ps
			}
		}
		m.assignment = encodeAssignment(target, assignmentVersion(m.metadataFor(g.protocol)))
	}
	g.setState(stateStable)
	recs = append(recs, kv{groupMetadataKey(g.id), g.metadataValue()})
	if err := g.sh.write(recs); err != nil {
		g.members, g.statics, g.leader, g.protocol, g.generation = map[string]*member{}, map[string]string{}, "", "", 0
		g.state, g.stateSince = state, since
		return false
	}
	for _, o := range cg.members {
		g.stopConsumerTimers(o)
	}
	g.cg = nil
	ev := g.sh.c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members))
	if leaving != nil {
		ev = ev.Str("member", leaving.id)
	}
	ev.Msg("consumer group downgraded to classic group")
	for _, m := range g.members {
		g.touch(m)
	}
	if rebalance {
		g.prepareRebalance()
	}
	return true
}

// ---- classic members inside a consumer group ----

// supportsClassicProtocols is Kafka's ConsumerGroup.supportsClassicProtocols:
// the member must speak the consumer protocol type and share a protocol
// with every other classic member.
func (cg *consumerState) supportsClassicProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self *cmember) bool {
	if protocolType != "consumer" || len(protocols) == 0 {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, o := range cg.members {
			if o == self || o.classic == nil {
				continue
			}
			if !slices.ContainsFunc(o.classic.protocols, func(q kmsg.JoinGroupRequestProtocol) bool { return q.Name == p.Name }) {
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

// classicJoinConsumer serves a JoinGroup to a consumer group with members
// (Kafka's classicGroupJoinToConsumerGroup): answered at once.
func (g *group) classicJoinConsumer(req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	cg := g.cg
	id := req.MemberID
	unknown := id == ""
	if unknown {
		id = newConsumerMemberID()
	}
	m := cg.members[id]
	switch {
	case m == nil && cg.maxSizeReached(g.sh.c.cfg.ConsumerMaxSize):
		ch <- joinErr(req, kerr.GroupMaxSizeReached.Code, req.MemberID)
		return
	case !cg.supportsClassicProtocols(req.ProtocolType, req.Protocols, m):
		ch <- joinErr(req, kerr.InconsistentGroupProtocol.Code, req.MemberID)
		return
	case unknown && req.InstanceID == nil && req.Version >= 4:
		// KIP-394: the member joins again with this id.
		ch <- joinErr(req, kerr.MemberIDRequired.Code, id)
		return
	case m != nil && m.classic == nil:
		// The id is a member of the consumer protocol.
		ch <- joinErr(req, kerr.UnknownMemberID.Code, req.MemberID)
		return
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(req.Protocols[0].Metadata); err != nil {
		ch <- joinErr(req, kerr.InconsistentGroupProtocol.Code, req.MemberID)
		return
	}
	bump, replacedConsumer := false, false
	if req.InstanceID != nil {
		if oldID, ok := cg.statics[*req.InstanceID]; ok && oldID != id {
			if !unknown {
				ch <- joinErr(req, kerr.FencedInstanceID.Code, req.MemberID)
				return
			}
			// A restarted static member takes its place and partitions.
			old := cg.members[oldID]
			replacedConsumer = old.classic == nil
			m = g.replaceConsumerStatic(old, id, req.InstanceID)
		}
	}
	if m == nil {
		m = &cmember{id: id, instanceID: req.InstanceID, assigned: map[string][]int32{}, revoking: map[string][]int32{}}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.statics[*m.instanceID] = id
		}
		g.setState(stateStable)
		bump = true
		g.sh.c.log.Info().Str("group", g.id).Str("member", id).Msg("classic member joins consumer group")
	}
	m.clientID, m.clientHost = cl.ID, cl.Host
	if sub.Rack != nil && *sub.Rack != "" {
		m.rackID = sub.Rack
	}
	m.rebalanceTimeout = rebalance
	m.assignor = ""
	m.classic = &classicMeta{sessionTimeout: session, protocols: cloneProtocols(req.Protocols)}
	ts := slices.Clone(sub.Topics)
	slices.Sort(ts)
	if ts = slices.Compact(ts); !slices.Equal(ts, m.topics) || m.regex != "" {
		m.topics, m.regex, bump = ts, "", true
	}
	if h := g.subscriptionHash(); h != cg.metaHash {
		cg.metaHash, bump = h, true
	}
	if bump {
		cg.epoch++
	}
	if cg.epoch > cg.targetEpoch {
		g.computeTarget()
	}
	owned := map[string][]int32{}
	for _, op := range sub.OwnedPartitions {
		owned[op.Topic] = append(owned[op.Topic], op.Partitions...)
	}
	g.reconcile(m, owned, true)
	if replacedConsumer && g.canDowngradeReplaced() && g.downgradeToClassic(nil, false) {
		// The last member of the consumer protocol was replaced: the group
		// is a classic group again, Stable, the member in its place.
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.MemberID, resp.Generation = m.id, m.epoch
		resp.ProtocolType = kmsg.StringPtr("consumer")
		resp.Protocol = kmsg.StringPtr(m.classic.protocols[0].Name)
		ch <- resp
		return
	}
	if !g.flushConsumer() {
		ch <- joinErr(req, kerr.NotCoordinator.Code, req.MemberID)
		return
	}
	m.joinSeq++
	if m.joinTimer != nil {
		m.joinTimer.Stop()
		m.joinTimer = nil
	}
	g.touchConsumer(m)
	g.startSyncTimer(m)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID, resp.Generation = m.id, m.epoch
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(m.classic.protocols[0].Name)
	ch <- resp
}

// classicMember finds the classic member a SyncGroup, Heartbeat or
// LeaveGroup names (Kafka's validateConsumerGroupMember and
// throwIfMemberDoesNotUseClassicProtocol).
func (g *group) classicMember(memberID string, instanceID *string) (*cmember, int16) {
	cg := g.cg
	if instanceID != nil {
		id, ok := cg.statics[*instanceID]
		if !ok {
			return nil, kerr.UnknownMemberID.Code
		}
		if memberID != id {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := cg.members[memberID]
	if m == nil || m.classic == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// classicSyncConsumer serves a SyncGroup of a classic member of a consumer
// group: its current assignment (Kafka's classicGroupSyncToConsumerGroup).
func (g *group) classicSyncConsumer(req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	m, code := g.classicMember(req.MemberID, req.InstanceID)
	if code == 0 && req.Generation != m.epoch {
		code = kerr.IllegalGeneration.Code
	}
	if code == 0 {
		name := m.classic.protocols[0].Name
		if (req.ProtocolType != nil && *req.ProtocolType != "consumer") || (req.Protocol != nil && *req.Protocol != name) {
			code = kerr.InconsistentGroupProtocol.Code
		}
	}
	if code == 0 && g.cg.epoch > m.epoch && m.state != memberUnrevoked {
		// A newer epoch: rejoin to catch up (a member revoking has
		// rejoined already and catches up once it revoked).
		g.startJoinTimer(m)
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	m.syncSeq++
	if m.syncTimer != nil {
		m.syncTimer.Stop()
		m.syncTimer = nil
	}
	g.touchConsumer(m)
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(m.classic.protocols[0].Name)
	resp.MemberAssignment = encodeAssignment(m.assigned, assignmentVersion(m.classic.protocols[0].Metadata))
	return resp
}

// classicHeartbeatConsumer serves a Heartbeat of a classic member of a
// consumer group (Kafka's classicGroupHeartbeatToConsumerGroup).
func (g *group) classicHeartbeatConsumer(req *kmsg.HeartbeatRequest) int16 {
	m, code := g.classicMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != m.epoch {
		return kerr.IllegalGeneration.Code
	}
	g.touchConsumer(m)
	if m.epoch < g.cg.epoch || m.state == memberUnrevoked || (m.state == memberUnreleased && !g.waitingOnUnreleased(m)) {
		g.startJoinTimer(m)
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// waitingOnUnreleased reports whether a partition of m's target that m
// does not have yet is still held by another member.
func (g *group) waitingOnUnreleased(m *cmember) bool {
	cg := g.cg
	for t, ps := range cg.target[m.id] {
		for _, p := range ps {
			if slices.Contains(m.assigned[t], p) {
				continue
			}
			if owner, held := cg.owners[partKey{t, p}]; held && owner != m.id {
				return true
			}
		}
	}
	return false
}

// classicLeaveConsumer removes a classic member of a consumer group
// (Kafka's classicGroupLeaveToConsumerGroup).
func (g *group) classicLeaveConsumer(lm kmsg.LeaveGroupRequestMember) int16 {
	cg := g.cg
	id := lm.MemberID
	if lm.InstanceID != nil {
		cur, ok := cg.statics[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if id != "" && id != cur {
			return kerr.FencedInstanceID.Code
		}
		id = cur
	}
	m := cg.members[id]
	if m == nil || m.classic == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeConsumerMember(m, "leave")
	if !g.flushConsumer() {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// startJoinTimer fences classic member m unless it rejoins within its
// rebalance timeout; an armed timer is left as it is.
func (g *group) startJoinTimer(m *cmember) {
	if m.joinTimer != nil {
		return
	}
	m.joinSeq++
	seq := m.joinSeq
	m.joinTimer = g.sh.after(m.rebalanceTimeout, func() {
		if g.cg != nil && g.cg.members[m.id] == m && m.joinSeq == seq {
			g.fenceConsumerMember(m, "did not rejoin in time")
		}
	})
}

// startSyncTimer fences classic member m unless it syncs within its
// rebalance timeout.
func (g *group) startSyncTimer(m *cmember) {
	if m.syncTimer != nil {
		m.syncTimer.Stop()
	}
	m.syncSeq++
	seq := m.syncSeq
	m.syncTimer = g.sh.after(m.rebalanceTimeout, func() {
		if g.cg != nil && g.cg.members[m.id] == m && m.syncSeq == seq {
			g.fenceConsumerMember(m, "did not sync in time")
		}
	})
}
